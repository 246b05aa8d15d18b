"""The policy simulator: a user's, group's or role's policies (and those given) evaluated per action and resource,
with the statements that decided, a permissions boundary, and the request's context keys."""

from __future__ import annotations

import json

from modelbay.services.base import Context
from tests.unit.services.iam.iam_calls import TRUST, allow, call, error

ACCOUNT = "arn:aws:iam::000000000000"
READ_ONLY = "arn:aws:iam::aws:policy/AmazonSageMakerReadOnly"


def _decisions(answer: dict[str, object]) -> list[tuple[str, str, str]]:
    results = answer["EvaluationResults"]
    assert isinstance(results, list)
    return [(result["EvalActionName"], result["EvalResourceName"], result["EvalDecision"]) for result in results]


def test_a_users_own_and_its_groups_policies(ctx: Context) -> None:
    call(ctx, "CreateUser", UserName="u", Path="/p/")
    call(ctx, "CreateGroup", GroupName="g")
    call(ctx, "AddUserToGroup", GroupName="g", UserName="u")
    call(ctx, "AttachGroupPolicy", GroupName="g", PolicyArn=READ_ONLY)
    call(ctx, "PutUserPolicy", UserName="u", PolicyName="no-deletes",
         PolicyDocument=allow("sagemaker:Delete*", effect="Deny"))
    answer = call(ctx, "SimulatePrincipalPolicy", PolicySourceArn=f"{ACCOUNT}:user/p/u",
                  ActionNames=["sagemaker:ListTrainingJobs", "sagemaker:CreateTrainingJob", "sagemaker:DeleteModel"])
    assert _decisions(answer) == [("sagemaker:ListTrainingJobs", "*", "allowed"),
                                  ("sagemaker:CreateTrainingJob", "*", "implicitDeny"),
                                  ("sagemaker:DeleteModel", "*", "explicitDeny")]
    listed, created, deleted = answer["EvaluationResults"]
    assert {"SourcePolicyId": "AmazonSageMakerReadOnly", "SourcePolicyType": "aws-managed"} in \
        listed["MatchedStatements"]
    assert created["MatchedStatements"] == []
    assert deleted["MatchedStatements"] == [{"SourcePolicyId": "no-deletes", "SourcePolicyType": "user"}]
    excluded = call(ctx, "SimulatePrincipalPolicy", PolicySourceArn=f"{ACCOUNT}:user/p/u",
                    ActionNames=["sagemaker:ListTrainingJobs"], PolicyExclusionList=[READ_ONLY])
    assert _decisions(excluded) == [("sagemaker:ListTrainingJobs", "*", "implicitDeny")]


def test_a_role_with_resources_inputs_and_pages(ctx: Context) -> None:
    call(ctx, "CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST)
    call(ctx, "PutRolePolicy", RoleName="r", PolicyName="bucket", PolicyDocument=allow("s3:GetObject",
                                                                                       "arn:aws:s3:::data/*"))
    first = call(ctx, "SimulatePrincipalPolicy", PolicySourceArn=f"{ACCOUNT}:role/r", ActionNames=["s3:GetObject"],
                 ResourceArns=["arn:aws:s3:::data/a", "arn:aws:s3:::other/a"], MaxItems=1,
                 PolicyInputList=[allow("s3:PutObject")])
    assert _decisions(first) == [("s3:GetObject", "arn:aws:s3:::data/a", "allowed")] and first["IsTruncated"]
    rest = call(ctx, "SimulatePrincipalPolicy", PolicySourceArn=f"{ACCOUNT}:role/r", ActionNames=["s3:GetObject"],
                ResourceArns=["arn:aws:s3:::data/a", "arn:aws:s3:::other/a"], Marker=first["Marker"])
    assert _decisions(rest) == [("s3:GetObject", "arn:aws:s3:::other/a", "implicitDeny")]
    given = call(ctx, "SimulatePrincipalPolicy", PolicySourceArn=f"{ACCOUNT}:role/r", ActionNames=["s3:PutObject"],
                 PolicyInputList=[allow("s3:PutObject")])["EvaluationResults"][0]
    assert given["MatchedStatements"] == [{"SourcePolicyId": "PolicyInputList.1", "SourcePolicyType": "IAM Policy"}]


def test_unknown_sources(ctx: Context) -> None:
    assert error(ctx, "SimulatePrincipalPolicy", PolicySourceArn=f"{ACCOUNT}:user/none",
                 ActionNames=["s3:GetObject"]) == ("NoSuchEntity", 404, "The user with name none cannot be found.")
    assert error(ctx, "SimulatePrincipalPolicy", PolicySourceArn="arn:aws:s3:::bucket",
                 ActionNames=["s3:GetObject"])[0] == "InvalidInput"


def test_a_permissions_boundary_bounds(ctx: Context) -> None:
    call(ctx, "CreateUser", UserName="u", PermissionsBoundary=READ_ONLY)
    call(ctx, "PutUserPolicy", UserName="u", PolicyName="all", PolicyDocument=allow("sagemaker:*"))
    answer = call(ctx, "SimulatePrincipalPolicy", PolicySourceArn=f"{ACCOUNT}:user/u",
                  ActionNames=["sagemaker:ListModels", "sagemaker:CreateModel"])
    assert _decisions(answer) == [("sagemaker:ListModels", "*", "allowed"),
                                  ("sagemaker:CreateModel", "*", "implicitDeny")]
    assert answer["EvaluationResults"][1]["PermissionsBoundaryDecisionDetail"] == {
        "AllowedByPermissionsBoundary": False}


def test_custom_policies_with_context_entries(ctx: Context) -> None:
    mfa_only = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sagemaker:*", "Resource": "*",
        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]})
    entry = {"ContextKeyName": "aws:MultiFactorAuthPresent", "ContextKeyType": "boolean"}
    with_mfa = call(ctx, "SimulateCustomPolicy", PolicyInputList=[mfa_only], ActionNames=["sagemaker:ListModels"],
                    ContextEntries=[entry | {"ContextKeyValues": ["true"]}])
    without = call(ctx, "SimulateCustomPolicy", PolicyInputList=[mfa_only], ActionNames=["sagemaker:ListModels"],
                   ContextEntries=[entry | {"ContextKeyValues": ["false"]}])
    assert [_decisions(with_mfa)[0][2], _decisions(without)[0][2]] == ["allowed", "implicitDeny"]
    assert error(ctx, "SimulateCustomPolicy", PolicyInputList=["{"], ActionNames=["s3:GetObject"])[0] == \
        "MalformedPolicyDocument"
