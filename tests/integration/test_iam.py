"""IAM roles through boto3 and the AWS CLI, as the SageMaker SDK and people look them up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import client
from tests.helpers import ServerProcess, error_response, user_shell
from tests.integration.test_aws_cli import aws

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@pytest.fixture(scope="module")
def iam(server: ServerProcess) -> Any:
    return client(server.url, "iam")


def test_every_account_has_the_execution_role(iam: Any) -> None:
    role = iam.get_role(RoleName="SageMakerExecutionRole")["Role"]
    assert role["Arn"] == "arn:aws:iam::000000000000:role/SageMakerExecutionRole"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert role["RoleId"].startswith("AROA") and len(role["RoleId"]) == 21
    failure = error_response(iam.delete_role, RoleName="SageMakerExecutionRole")
    assert failure["Error"]["Code"] == "UnmodifiableEntity"


def test_create_get_list_delete(iam: Any, unique: str) -> None:
    created = iam.create_role(RoleName=unique, Path="/service-role/", AssumeRolePolicyDocument=TRUST,
                              Description="for a test")["Role"]
    assert created["Arn"] == f"arn:aws:iam::000000000000:role/service-role/{unique}"
    got = iam.get_role(RoleName=unique)["Role"]
    assert (got["RoleId"], got["Description"], got["MaxSessionDuration"]) == (created["RoleId"], "for a test", 3600)
    assert got["AssumeRolePolicyDocument"] == json.loads(TRUST)
    listed = iam.list_roles(PathPrefix="/service-role/")["Roles"]
    assert unique in [role["RoleName"] for role in listed]
    assert all(role["Path"].startswith("/service-role/") for role in listed)
    assert iam.delete_role(RoleName=unique)["ResponseMetadata"]["HTTPStatusCode"] == 200
    gone = error_response(iam.get_role, RoleName=unique)
    assert (gone["Error"]["Code"], gone["Error"]["Message"]) == ("NoSuchEntity",
                                                                 f"The role with name {unique} cannot be found.")
    assert gone["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_list_pages_in_name_order(iam: Any, unique: str) -> None:
    names = [f"{unique}-{n}" for n in (3, 1, 2)]
    for name in names:
        iam.create_role(RoleName=name, Path=f"/{unique}/", AssumeRolePolicyDocument=TRUST)
    first = iam.list_roles(PathPrefix=f"/{unique}/", MaxItems=2)
    assert [role["RoleName"] for role in first["Roles"]] == sorted(names)[:2] and first["IsTruncated"]
    rest = iam.list_roles(PathPrefix=f"/{unique}/", MaxItems=2, Marker=first["Marker"])
    assert [role["RoleName"] for role in rest["Roles"]] == sorted(names)[2:] and not rest["IsTruncated"]
    assert "Marker" not in rest


def test_errors_are_iams(iam: Any, unique: str) -> None:
    iam.create_role(RoleName=unique, AssumeRolePolicyDocument=TRUST)
    again = error_response(iam.create_role, RoleName=unique, AssumeRolePolicyDocument=TRUST)
    assert (again["Error"]["Code"], again["Error"]["Message"]) == ("EntityAlreadyExists",
                                                                   f"Role with name {unique} already exists.")
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 409
    malformed = error_response(iam.create_role, RoleName=f"{unique}x", AssumeRolePolicyDocument="{not json")
    assert malformed["Error"]["Code"] == "MalformedPolicyDocument"
    bad_name = error_response(iam.get_role, RoleName="has space")
    assert bad_name["Error"]["Code"] == "ValidationError" and "roleName" in bad_name["Error"]["Message"]
    assert error_response(iam.delete_role, RoleName=f"{unique}-none")["Error"]["Code"] == "NoSuchEntity"


def test_aws_cli_get_role(server: ServerProcess, tmp_path: Path) -> None:
    done = aws(user_shell(server.url, tmp_path), "iam", "get-role", "--role-name", "SageMakerExecutionRole")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Role"]["Arn"] == "arn:aws:iam::000000000000:role/SageMakerExecutionRole"
