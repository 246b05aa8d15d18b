"""Search through boto3 and `modelbay search` on a real server: models (no controller runs them) found by name,
tag and time, paged, sorted, and Search's errors as botocore raises them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers import ServerProcess
from tests.integration.models import ROLE, SKLEARN
from tests.integration.test_cli import modelbay


def _models(sagemaker: Any, unique: str) -> list[str]:
    names = [f"{unique}-{stage}-{number}" for number, stage in enumerate(["dev", "prod", "prod", "dev", "prod"])]
    for name in names:
        sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": SKLEARN},
                               Tags=[{"Key": "stage", "Value": name.split("-")[-2]}, {"Key": "run", "Value": unique}])
    return names


def test_search_models_by_tag_and_name_page_by_page(sagemaker: Any, unique: str) -> None:
    names = _models(sagemaker, unique)
    expression = {"Filters": [{"Name": "Tags.run", "Operator": "Equals", "Value": unique},
                              {"Name": "Tags.stage", "Operator": "In", "Value": "prod, qa"}]}
    pages = sagemaker.get_paginator("search").paginate(
        Resource="Model", SearchExpression=expression, SortBy="Model.ModelName", SortOrder="Ascending",
        PaginationConfig={"PageSize": 2})
    found = [result["Model"]["Model"] for page in pages for result in page["Results"]]
    assert [model["ModelName"] for model in found] == [name for name in names if "-prod-" in name]
    assert {"Key": "stage", "Value": "prod"} in found[0]["Tags"]
    assert found[0]["PrimaryContainer"]["Image"] == SKLEARN
    first = sagemaker.search(Resource="Model", SearchExpression=expression, MaxResults=1)
    assert first["TotalHits"] == {"Value": 3, "Relation": "EqualTo"} and "NextToken" in first


def test_search_errors_are_validation_exceptions(sagemaker: Any) -> None:
    with pytest.raises(ClientError) as caught:
        sagemaker.search(Resource="TrainingJob", SearchExpression={"Filters": [
            {"Name": "Metrics.accuracy", "Operator": "GreaterThan", "Value": "high"}]})
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "must be an integer or floating-point decimal" in caught.value.response["Error"]["Message"]


def test_modelbay_search_compiles_its_query(sagemaker: Any, server: ServerProcess, unique: str) -> None:
    names = _models(sagemaker, unique)
    query = f"Tags.run = {unique} and (Tags.stage = dev or Model.ModelName contains '-4')"
    answer = modelbay("search", query, "--resource", "Model", "--sort", "Model.ModelName", "--ascending", "--json",
                      url=server.url)
    assert answer.returncode == 0, answer.stderr
    assert [record["Model"]["Model"]["ModelName"] for record in json.loads(answer.stdout)] == [
        names[0], names[3], names[4]]
    wrong = modelbay("search", "Tags.run = ", url=server.url)
    assert wrong.returncode == 2 and "^" in wrong.stderr
