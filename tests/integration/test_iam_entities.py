"""IAM users, groups, access keys and policies through boto3 and the AWS CLI, and a user's own key signing the calls
its policies allow (the server runs in `iam` mode)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.conftest import client
from tests.helpers import ServerProcess, error_response, user_shell
from tests.integration.test_aws_cli import ok

IAM_READ_ONLY = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"


@pytest.fixture(scope="module")
def iam(server: ServerProcess) -> Any:
    return client(server.url, "iam")


def test_a_users_key_signs_what_its_groups_policies_allow(server: ServerProcess, iam: Any, unique: str) -> None:
    iam.create_user(UserName=unique, Path="/people/")
    iam.create_group(GroupName=unique)
    iam.add_user_to_group(GroupName=unique, UserName=unique)
    key = iam.create_access_key(UserName=unique)["AccessKey"]
    signed = {"endpoint_url": server.url, "region_name": "us-east-1", "config": Config(retries={"max_attempts": 1}),
              "aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    users_iam = boto3.client("iam", **signed)
    assert error_response(users_iam.get_user)["Error"]["Code"] == "AccessDenied"  # no policy yet
    iam.attach_group_policy(GroupName=unique, PolicyArn=IAM_READ_ONLY)
    assert users_iam.get_user()["User"]["Arn"] == f"arn:aws:iam::000000000000:user/people/{unique}"
    assert [group["GroupName"] for group in users_iam.list_groups_for_user(UserName=unique)["Groups"]] == [unique]
    assert error_response(users_iam.create_user, UserName=f"{unique}x")["Error"]["Code"] == "AccessDenied"
    iam.update_access_key(UserName=unique, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert error_response(users_iam.get_user)["Error"]["Code"] == "InvalidClientTokenId"
    conflict = error_response(iam.delete_user, UserName=unique)
    assert (conflict["Error"]["Code"], conflict["ResponseMetadata"]["HTTPStatusCode"]) == ("DeleteConflict", 409)
    iam.delete_access_key(UserName=unique, AccessKeyId=key["AccessKeyId"])
    iam.remove_user_from_group(GroupName=unique, UserName=unique)
    iam.detach_group_policy(GroupName=unique, PolicyArn=IAM_READ_ONLY)
    iam.delete_group(GroupName=unique)
    iam.delete_user(UserName=unique)
    gone = error_response(iam.get_user, UserName=unique)
    assert (gone["Error"]["Code"], gone["Error"]["Message"]) == ("NoSuchEntity",
                                                                 f"The user with name {unique} cannot be found.")


def test_root_is_answered_by_get_user(iam: Any) -> None:
    assert iam.get_user()["User"]["Arn"] == "arn:aws:iam::000000000000:root"


def test_policies_with_the_aws_cli(server: ServerProcess, unique: str, tmp_path: Path) -> None:
    env = user_shell(server.url, tmp_path)
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sagemaker:List*", "Resource": "*"}]}
    policy = json.loads(ok(env, "iam", "create-policy", "--policy-name", unique,
                           "--policy-document", json.dumps(document)))["Policy"]
    ok(env, "iam", "create-user", "--user-name", unique)
    ok(env, "iam", "attach-user-policy", "--user-name", unique, "--policy-arn", policy["Arn"])
    version = json.loads(ok(env, "iam", "get-policy-version", "--policy-arn", policy["Arn"], "--version-id", "v1"))
    assert version["PolicyVersion"]["Document"] == document  # decoded by the CLI from IAM's URL-encoding
    simulated = json.loads(ok(env, "iam", "simulate-principal-policy", "--policy-source-arn",
                              f"arn:aws:iam::000000000000:user/{unique}", "--action-names",
                              "sagemaker:ListModels", "sagemaker:CreateModel"))
    assert [result["EvalDecision"] for result in simulated["EvaluationResults"]] == ["allowed", "implicitDeny"]
