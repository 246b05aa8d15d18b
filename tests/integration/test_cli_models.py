"""`modelbay models` against a real server, run as a user runs it: a subprocess with no AWS credentials."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import ServerProcess
from tests.integration.models import ROLE, SKLEARN
from tests.integration.test_cli import modelbay

WIDE = {"COLUMNS": "200"}  # the image URI on one line


def create(sagemaker: Any, name: str) -> None:
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": SKLEARN, "ModelDataUrl": f"s3://{name}/model.tar.gz", "Environment": {"WORKERS": "1"}})


def test_list_describe_and_delete_a_model(sagemaker: Any, server: ServerProcess, unique: str) -> None:
    for suffix in ("a", "b"):
        create(sagemaker, f"{unique}-{suffix}")
    listed = modelbay("models", "list", "--name-contains", unique, "--json", url=server.url)
    assert listed.returncode == 0, listed.stderr
    assert [model["ModelName"] for model in json.loads(listed.stdout)] == [f"{unique}-b", f"{unique}-a"]
    newest = json.loads(modelbay("models", "list", "--name-contains", unique, "--max", "1", "--json",
                                 url=server.url).stdout)
    assert [model["ModelName"] for model in newest] == [f"{unique}-b"]
    table = modelbay("models", "list", "--name-contains", unique, url=server.url).stdout
    assert "Name" in table and f"{unique}-a" in table and f"{unique}-b" in table

    described = json.loads(modelbay("models", "describe", f"{unique}-a", "--json", url=server.url).stdout)
    assert (described["ModelName"], described["PrimaryContainer"]["Image"]) == (f"{unique}-a", SKLEARN)
    assert "ResponseMetadata" not in described
    readable = modelbay("models", "describe", f"{unique}-a", url=server.url, env=WIDE).stdout
    assert all(fact in readable for fact in (ROLE, SKLEARN, f"s3://{unique}-a/model.tar.gz", "WORKERS=1"))

    deleted = modelbay("models", "delete", f"{unique}-a", url=server.url)
    assert (deleted.returncode, deleted.stdout) == (0, f"deleted {unique}-a\n"), deleted.stderr
    gone = modelbay("models", "describe", f"{unique}-a", url=server.url)
    assert gone.returncode == 1 and "Traceback" not in gone.stderr
    assert gone.stderr.startswith("error: ValidationException: Could not find model") and gone.stderr.count("\n") == 1
    sagemaker.delete_model(ModelName=f"{unique}-b")
