"""`modelbay lineage`: the upstream and downstream trees drawn from QueryLineage's answers, an endpoint's ARN
resolved to its context, and --json, over answers stubbed with botocore's Stubber (which checks the requests and
the answers against botocore's model of SageMaker)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from modelbay.cli import lineage, output
from modelbay.cli.main import app

ARN = "arn:aws:sagemaker:us-east-1:000000000000"
CONTEXT, ACTION = f"{ARN}:context/ep-aws-endpoint", f"{ARN}:action/ep-aws-model-deployment"
MODEL, DATA = f"{ARN}:artifact/m0de1", f"{ARN}:artifact/da7a"
JOB = f"{ARN}:experiment-trial-component/job-1-aws-training-job"
UPSTREAM = {  # DataSet → job → Model → ModelDeployment → Endpoint, and the job reached twice (a diamond)
    "Vertices": [{"Arn": CONTEXT, "LineageType": "Context", "Type": "Endpoint"},
                 {"Arn": ACTION, "LineageType": "Action", "Type": "ModelDeployment"},
                 {"Arn": MODEL, "LineageType": "Artifact", "Type": "Model"},
                 {"Arn": JOB, "LineageType": "TrialComponent", "Type": "TrainingJob"},
                 {"Arn": DATA, "LineageType": "Artifact", "Type": "DataSet"}],
    "Edges": [{"SourceArn": ACTION, "DestinationArn": CONTEXT, "AssociationType": "AssociatedWith"},
              {"SourceArn": MODEL, "DestinationArn": ACTION, "AssociationType": "ContributedTo"},
              {"SourceArn": JOB, "DestinationArn": MODEL, "AssociationType": "Produced"},
              {"SourceArn": JOB, "DestinationArn": ACTION, "AssociationType": "ContributedTo"},
              {"SourceArn": DATA, "DestinationArn": JOB, "AssociationType": "ContributedTo"}]}
NOTHING: dict[str, Any] = {"Vertices": [{"Arn": CONTEXT, "LineageType": "Context", "Type": "Endpoint"}], "Edges": []}


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """The SageMaker client the command makes, answering what the test adds; every answer must have been asked."""
    sagemaker = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="s")
    monkeypatch.setattr(lineage, "aws_client", lambda ctx, service: sagemaker)
    monkeypatch.setattr(output.console, "width", 200)
    with Stubber(sagemaker) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _walks(stubbed: Stubber, depth: int = 10) -> None:
    for direction, answer in (("Ascendants", UPSTREAM), ("Descendants", NOTHING)):
        stubbed.add_response("query_lineage", answer, {"StartArns": [CONTEXT], "Direction": direction,
                                                       "IncludeEdges": True, "MaxDepth": depth})


def _described(stubbed: Stubber, arn: str, uri: str, artifact_type: str) -> None:
    stubbed.add_response("describe_artifact", {"ArtifactArn": arn, "Source": {"SourceUri": uri},
                                               "ArtifactType": artifact_type}, {"ArtifactArn": arn})


def _run(*arguments: str) -> str:
    done = CliRunner().invoke(app, ["lineage", *arguments])
    assert done.exit_code == 0, done.output
    return done.output


def test_an_endpoint_is_drawn_back_to_its_training_data(stubbed: Stubber) -> None:
    endpoint = f"{ARN}:endpoint/ep"
    stubbed.add_response("list_contexts", {"ContextSummaries": [{"ContextArn": CONTEXT, "ContextName": "ep"}]},
                         {"SourceUri": endpoint, "SortOrder": "Ascending"})
    _walks(stubbed, depth=4)
    _described(stubbed, MODEL, "s3://b/model.tar.gz", "Model")
    _described(stubbed, DATA, "s3://b/train", "DataSet")
    lines = [line.rstrip() for line in _run(endpoint, "--depth", "4").splitlines()]
    assert lines == [
        "Endpoint context ep-aws-endpoint",
        "├── upstream",
        "│   └── AssociatedWith ModelDeployment action ep-aws-model-deployment",
        "│       ├── ContributedTo Model artifact s3://b/model.tar.gz",
        "│       │   └── Produced TrainingJob trial component job-1-aws-training-job",
        "│       │       └── ContributedTo DataSet artifact s3://b/train",
        "│       └── ContributedTo TrainingJob trial component job-1-aws-training-job (shown above)",
        "└── downstream",
        "    └── (nothing)"]


def test_json_gives_both_walks(stubbed: Stubber) -> None:
    _walks(stubbed)
    answer = json.loads(_run(CONTEXT, "--json"))
    assert answer == {"StartArn": CONTEXT, "Upstream": UPSTREAM, "Downstream": NOTHING}


def test_a_source_no_entity_has_is_a_usage_error(stubbed: Stubber) -> None:
    stubbed.add_response("list_contexts", {"ContextSummaries": []}, {"SourceUri": "s3://b/x", "SortOrder": "Ascending"})
    stubbed.add_response("list_artifacts", {"ArtifactSummaries": []},
                         {"SourceUri": "s3://b/x", "SortOrder": "Ascending"})
    done = CliRunner().invoke(app, ["lineage", "s3://b/x"])
    assert done.exit_code == 2 and "no lineage entity has the source 's3://b/x'" in done.output


def test_pages_of_a_walk_are_read_to_the_end(stubbed: Stubber) -> None:
    first = {"Vertices": UPSTREAM["Vertices"][:2], "Edges": UPSTREAM["Edges"][:1], "NextToken": "t"}
    rest = {"Vertices": UPSTREAM["Vertices"][2:], "Edges": UPSTREAM["Edges"]}
    request = {"StartArns": [CONTEXT], "Direction": "Ascendants", "IncludeEdges": True, "MaxDepth": 10}
    stubbed.add_response("query_lineage", first, request)
    stubbed.add_response("query_lineage", rest, request | {"NextToken": "t"})
    stubbed.add_response("query_lineage", NOTHING, request | {"Direction": "Descendants"})
    answer = json.loads(_run(CONTEXT, "--json"))
    assert answer["Upstream"] == UPSTREAM

