"""The IAM action table: what each operation needs, row by row, and that every operation resolves."""

from __future__ import annotations

import re
from typing import Any

import botocore.session
import pytest
from botocore.model import ServiceModel, Shape

from modelbay.security.actions import Need, needs

REGION, ACCOUNT = "us-east-1", "123456789012"
SERVICES = ("sagemaker", "sagemaker-runtime", "sagemaker-metrics", "s3", "iam", "sts", "kms", "cloudtrail", "logs",
            "cloudwatch", "application-autoscaling", "ecr")
ROLE = "arn:aws:iam::123456789012:role/Train"
SM = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
# Members that hold ARNs without saying so in their names: S3's roles, the resources CloudTrail tags.
DOCUMENTED_AS_ARNS = {"Role", "InvocationRole", "ResourceId", "ResourceIdList"}


def _model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def _granted(found: tuple[Need, ...]) -> list[tuple[str, tuple[str, ...]]]:
    return [(need.action, need.resources) for need in found]


ROWS: list[tuple[str, str, dict[str, Any], list[tuple[str, tuple[str, ...]]]]] = [
    ("sagemaker", "CreateTrainingJob",
     {"TrainingJobName": "Churn-XGB", "RoleArn": ROLE, "AlgorithmSpecification": {"TrainingInputMode": "File"},
      "OutputDataConfig": {"S3OutputPath": "s3://b/out"}, "StoppingCondition": {"MaxRuntimeInSeconds": 60},
      "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5}},
     [("sagemaker:CreateTrainingJob", (f"{SM}:training-job/churn-xgb",)), ("iam:PassRole", (ROLE,))]),
    ("sagemaker", "CreateEndpoint", {"EndpointName": "Ep", "EndpointConfigName": "Cfg"},
     [("sagemaker:CreateEndpoint", (f"{SM}:endpoint/ep", f"{SM}:endpoint-config/cfg"))]),
    ("sagemaker", "CreateModel", {"ModelName": "m", "ExecutionRoleArn": ROLE},
     [("sagemaker:CreateModel", (f"{SM}:model/m",)), ("iam:PassRole", (ROLE,))]),
    ("sagemaker", "CreateTransformJob", {"TransformJobName": "T", "ModelName": "m"},
     [("sagemaker:CreateTransformJob", (f"{SM}:transform-job/t",))]),
    ("sagemaker", "CreateDataQualityJobDefinition", {"JobDefinitionName": "Dq", "RoleArn": ROLE},
     [("sagemaker:CreateDataQualityJobDefinition", (f"{SM}:data-quality-job-definition/dq",)),
      ("iam:PassRole", (ROLE,))]),
    ("sagemaker", "DescribeModelPackage", {"ModelPackageName": f"{SM}:model-package/Grp/3"},
     [("sagemaker:DescribeModelPackage", (f"{SM}:model-package/Grp/3",))]),
    ("sagemaker", "DescribeModelPackage", {"ModelPackageName": "Grp/3"},
     [("sagemaker:DescribeModelPackage", (f"{SM}:model-package/grp/3",))]),
    ("sagemaker", "CreateModelPackage", {"ModelPackageGroupName": "Grp"},
     [("sagemaker:CreateModelPackage", (f"{SM}:model-package-group/grp",))]),
    ("sagemaker", "AddTags", {"ResourceArn": f"{SM}:endpoint/ep", "Tags": [{"Key": "team", "Value": "ml"}]},
     [("sagemaker:AddTags", (f"{SM}:endpoint/ep",))]),
    ("sagemaker", "ListTrainingJobs", {"NameContains": "x"}, [("sagemaker:ListTrainingJobs", ("*",))]),
    ("sagemaker", "ListMonitoringSchedules", {"EndpointName": "ep"}, [("sagemaker:ListMonitoringSchedules", ("*",))]),
    ("sagemaker", "Search", {"Resource": "TrainingJob"}, [("sagemaker:Search", ("*",))]),
    ("sagemaker", "CreateApp", {"DomainId": "d-1", "SpaceName": "S", "AppType": "JupyterLab", "AppName": "default"},
     [("sagemaker:CreateApp", (f"{SM}:app/d-1/s/jupyterlab/default",))]),
    ("sagemaker-runtime", "InvokeEndpoint", {"EndpointName": "Ep", "Body": b"1"},
     [("sagemaker:InvokeEndpoint", (f"{SM}:endpoint/ep",))]),
    ("sagemaker-runtime", "InvokeEndpointWithResponseStream", {"EndpointName": "Ep", "Body": b"1"},
     [("sagemaker:InvokeEndpoint", (f"{SM}:endpoint/ep",))]),
    ("sagemaker-runtime", "InvokeEndpointAsync", {"EndpointName": "Ep", "InputLocation": "s3://b/k"},
     [("sagemaker:InvokeEndpointAsync", (f"{SM}:endpoint/ep",))]),
    ("s3", "GetObject", {"Bucket": "b", "Key": "a/b.csv"}, [("s3:GetObject", ("arn:aws:s3:::b/a/b.csv",))]),
    ("s3", "HeadObject", {"Bucket": "b", "Key": "k", "VersionId": "v1"},
     [("s3:GetObjectVersion", ("arn:aws:s3:::b/k",))]),
    ("s3", "PutObject", {"Bucket": "b", "Key": "k"}, [("s3:PutObject", ("arn:aws:s3:::b/k",))]),
    ("s3", "UploadPart", {"Bucket": "b", "Key": "k", "UploadId": "u", "PartNumber": 1},
     [("s3:PutObject", ("arn:aws:s3:::b/k",))]),
    ("s3", "CopyObject", {"Bucket": "dst", "Key": "new", "CopySource": "src/old%20name.csv"},
     [("s3:PutObject", ("arn:aws:s3:::dst/new",)), ("s3:GetObject", ("arn:aws:s3:::src/old name.csv",))]),
    ("s3", "CopyObject", {"Bucket": "dst", "Key": "new", "CopySource": "/src/old?versionId=v7"},
     [("s3:PutObject", ("arn:aws:s3:::dst/new",)), ("s3:GetObjectVersion", ("arn:aws:s3:::src/old",))]),
    ("s3", "DeleteObjects", {"Bucket": "b", "Delete": {"Objects": [{"Key": "x"}, {"Key": "y"},
                                                                   {"Key": "z", "VersionId": "1"}]}},
     [("s3:DeleteObject", ("arn:aws:s3:::b/x", "arn:aws:s3:::b/y")),
      ("s3:DeleteObjectVersion", ("arn:aws:s3:::b/z",))]),
    ("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "p/"}, [("s3:ListBucket", ("arn:aws:s3:::b",))]),
    ("s3", "HeadBucket", {"Bucket": "b"}, [("s3:ListBucket", ("arn:aws:s3:::b",))]),
    ("s3", "ListBuckets", {}, [("s3:ListAllMyBuckets", ("*",))]),
    ("s3", "PutBucketEncryption", {"Bucket": "b", "ServerSideEncryptionConfiguration": {"Rules": []}},
     [("s3:PutEncryptionConfiguration", ("arn:aws:s3:::b",))]),
    ("s3", "GetBucketPolicy", {"Bucket": "b"}, [("s3:GetBucketPolicy", ("arn:aws:s3:::b",))]),
    ("iam", "CreateUser", {"UserName": "bob", "Path": "/eng/"},
     [("iam:CreateUser", ("arn:aws:iam::123456789012:user/eng/bob",))]),
    ("iam", "GetUser", {"UserName": "bob"}, [("iam:GetUser", ("arn:aws:iam::123456789012:user/bob",))]),
    ("iam", "AttachUserPolicy", {"UserName": "bob", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
     [("iam:AttachUserPolicy", ("arn:aws:iam::123456789012:user/bob",))]),
    ("iam", "CreatePolicy", {"PolicyName": "p", "PolicyDocument": "{}"},
     [("iam:CreatePolicy", ("arn:aws:iam::123456789012:policy/p",))]),
    ("iam", "EnableMFADevice", {"UserName": "bob", "SerialNumber": "arn:aws:iam::123456789012:mfa/bob",
                                "AuthenticationCode1": "1", "AuthenticationCode2": "2"},
     [("iam:EnableMFADevice", ("arn:aws:iam::123456789012:user/bob",))]),
    ("iam", "CreateVirtualMFADevice", {"VirtualMFADeviceName": "bob"},
     [("iam:CreateVirtualMFADevice", ("arn:aws:iam::123456789012:mfa/bob",))]),
    ("sts", "AssumeRole", {"RoleArn": ROLE, "RoleSessionName": "s"}, [("sts:AssumeRole", (ROLE,))]),
    ("sts", "GetCallerIdentity", {}, []),
    ("sts", "GetSessionToken", {}, [("sts:GetSessionToken", ("*",))]),
    ("kms", "Encrypt", {"KeyId": "alias/data", "Plaintext": b"x"},
     [("kms:Encrypt", ("arn:aws:kms:us-east-1:123456789012:alias/data",))]),
    ("kms", "Decrypt", {"KeyId": "1234abcd-12ab", "CiphertextBlob": b"x"},
     [("kms:Decrypt", ("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab",))]),
    ("kms", "DescribeKey", {"KeyId": "arn:aws:kms:us-east-1:123456789012:alias/data"},
     [("kms:DescribeKey", ("arn:aws:kms:us-east-1:123456789012:alias/data",))]),
    ("kms", "CreateAlias", {"AliasName": "alias/data", "TargetKeyId": "k1"},
     [("kms:CreateAlias", ("arn:aws:kms:us-east-1:123456789012:alias/data",
                           "arn:aws:kms:us-east-1:123456789012:key/k1"))]),
    ("kms", "ReEncrypt", {"CiphertextBlob": b"x", "SourceKeyId": "a", "DestinationKeyId": "b"},
     [("kms:ReEncryptFrom", ("arn:aws:kms:us-east-1:123456789012:key/a",)),
      ("kms:ReEncryptTo", ("arn:aws:kms:us-east-1:123456789012:key/b",))]),
    ("kms", "CreateKey", {}, [("kms:CreateKey", ("*",))]),
    ("logs", "PutLogEvents", {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamName": "j/algo-1",
                              "logEvents": []},
     [("logs:PutLogEvents", ("arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/TrainingJobs"
                             ":log-stream:j/algo-1",))]),
    ("logs", "FilterLogEvents", {"logGroupName": "g"},
     [("logs:FilterLogEvents", ("arn:aws:logs:us-east-1:123456789012:log-group:g",))]),
    ("ecr", "InitiateLayerUpload", {"repositoryName": "team/img"},
     [("ecr:InitiateLayerUpload", ("arn:aws:ecr:us-east-1:123456789012:repository/team/img",))]),
    ("ecr", "GetAuthorizationToken", {}, [("ecr:GetAuthorizationToken", ("*",))]),
    ("cloudwatch", "DeleteAlarms", {"AlarmNames": ["a", "b"]},
     [("cloudwatch:DeleteAlarms", ("arn:aws:cloudwatch:us-east-1:123456789012:alarm:a",
                                   "arn:aws:cloudwatch:us-east-1:123456789012:alarm:b"))]),
    ("cloudwatch", "PutMetricData", {"Namespace": "n"}, [("cloudwatch:PutMetricData", ("*",))]),
    ("cloudtrail", "GetTrail", {"Name": "t"},
     [("cloudtrail:GetTrail", ("arn:aws:cloudtrail:us-east-1:123456789012:trail/t",))]),
    ("application-autoscaling", "RegisterScalableTarget",
     {"ServiceNamespace": "sagemaker", "ResourceId": "endpoint/ep/variant/v", "RoleARN": ROLE,
      "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"},
     [("application-autoscaling:RegisterScalableTarget", ("*",)), ("iam:PassRole", (ROLE,))]),
]


@pytest.mark.parametrize(("service", "operation", "params", "expected"), ROWS,
                         ids=[f"{row[0]}:{row[1]}:{index}" for index, row in enumerate(ROWS)])
def test_each_row_gives_the_actions_and_resources_aws_checks(service: str, operation: str, params: dict[str, Any],
                                                             expected: list[tuple[str, tuple[str, ...]]]) -> None:
    assert _granted(needs(service, operation, params, REGION, ACCOUNT)) == expected


def test_a_training_job_passes_its_role_to_sagemaker_and_names_its_condition_keys() -> None:
    params = {"TrainingJobName": "j", "RoleArn": ROLE, "EnableNetworkIsolation": True,
              "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
              "OutputDataConfig": {"S3OutputPath": "s3://b/o", "KmsKeyId": "out-key"},
              "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5,
                                 "VolumeKmsKeyId": "vol-key"},
              "VpcConfig": {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
              "Tags": [{"Key": "team", "Value": "ml"}]}
    create, passed = needs("sagemaker", "CreateTrainingJob", params, REGION, ACCOUNT)
    assert dict(create.context) == {
        "sagemaker:InstanceTypes": ("ml.m5.xlarge",), "sagemaker:NetworkIsolation": True,
        "sagemaker:MaxRuntimeInSeconds": 3600, "sagemaker:OutputKmsKey": "out-key", "sagemaker:VolumeKmsKey": "vol-key",
        "sagemaker:VpcSubnets": ("subnet-1",), "sagemaker:VpcSecurityGroupIds": ("sg-1",),
        "aws:RequestTag/team": "ml", "aws:TagKeys": ("team",)}
    assert passed == Need("iam:PassRole", (ROLE,), {"iam:PassedToService": "sagemaker.amazonaws.com"})


def test_a_tuning_job_counts_every_definition() -> None:
    other = "arn:aws:iam::123456789012:role/Other"
    definitions = [{"RoleArn": ROLE, "EnableNetworkIsolation": True,
                    "ResourceConfig": {"InstanceType": "ml.m5.xlarge"}},
                   {"RoleArn": other, "EnableNetworkIsolation": False,
                    "HyperParameterTuningResourceConfig": {"InstanceConfigs": [{"InstanceType": "ml.g5.xlarge"}]}}]
    create, passed = needs("sagemaker", "CreateHyperParameterTuningJob",
                           {"HyperParameterTuningJobName": "T", "TrainingJobDefinitions": definitions}, REGION, ACCOUNT)
    assert create.context["sagemaker:InstanceTypes"] == ("ml.m5.xlarge", "ml.g5.xlarge")
    assert create.context["sagemaker:NetworkIsolation"] == ("true", "false")  # differing: every value
    assert passed.resources == (ROLE, other)


@pytest.mark.parametrize(("service", "operation", "params", "tags"), [
    ("s3", "PutObject", {"Bucket": "b", "Key": "k", "Tagging": "a=1&b=two"}, {"a": "1", "b": "two"}),
    ("s3", "PutBucketTagging", {"Bucket": "b", "Tagging": {"TagSet": [{"Key": "a", "Value": "1"}]}}, {"a": "1"}),
    ("kms", "TagResource", {"KeyId": "k", "Tags": [{"TagKey": "a", "TagValue": "1"}]}, {"a": "1"}),
    ("logs", "CreateLogGroup", {"logGroupName": "g", "tags": {"a": "1"}}, {"a": "1"}),
    ("ecr", "CreateRepository", {"repositoryName": "r", "tags": [{"Key": "a", "Value": "1"}]}, {"a": "1"}),
])
def test_request_tags_become_condition_keys(service: str, operation: str, params: dict[str, Any],
                                            tags: dict[str, str]) -> None:
    context = needs(service, operation, params, REGION, ACCOUNT)[0].context
    assert {key: context[f"aws:RequestTag/{key}"] for key in tags} == tags
    assert context["aws:TagKeys"] == tuple(tags)


def test_an_untag_call_names_its_tag_keys() -> None:
    found = needs("sagemaker", "DeleteTags", {"ResourceArn": f"{SM}:model/m", "TagKeys": ["a", "b"]}, REGION, ACCOUNT)
    assert found[0].context == {"aws:TagKeys": ("a", "b")}


def test_unknown_operations_are_refused() -> None:
    with pytest.raises(ValueError, match="no operation"):
        needs("sagemaker", "LaunchRocket", {}, REGION, ACCOUNT)
    with pytest.raises(ValueError, match="service"):
        needs("ec2", "RunInstances", {}, REGION, ACCOUNT)


# -- every operation resolves ----------------------------------------------------------------------------------


def _placeholder(name: str, shape: Shape, above: frozenset[str] = frozenset()) -> Any:
    """A value of `shape` with its required members filled (a recursive shape is left empty below itself)."""
    kind = shape.type_name
    if kind == "structure":
        if shape.name in above:
            return {}
        return {member: _placeholder(member, shape.members[member], above | {shape.name})
                for member in shape.required_members}
    if kind == "list":
        return [_placeholder(name, shape.member, above)]
    if kind == "map":
        return {"k": _placeholder(name, shape.value, above)}
    if kind in ("integer", "long", "float", "double"):
        return 1
    if kind == "boolean":
        return True
    if kind == "blob":
        return b"x"
    if kind == "timestamp":
        return "2026-01-01T00:00:00Z"
    if shape.enum:
        return shape.enum[0]
    named_by_arn = (re.search(r"(Arn|ARN)s?(List)?$", name) or re.search(r"(Arn|ARN)$", shape.name)
                    or "arn:" in shape.metadata.get("pattern", "") or name in DOCUMENTED_AS_ARNS)
    return f"arn:aws:placeholder:{REGION}:{ACCOUNT}:{name.lower()}" if named_by_arn else "x1"


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_resolves_from_its_required_members(service: str) -> None:
    model = _model(service)
    for operation in model.operation_names:
        shape = model.operation_model(operation).input_shape
        params = _placeholder(operation, shape) if shape is not None else {}
        found = needs(service, operation, params, REGION, ACCOUNT)
        for need in found:
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", need.action), (operation, need.action)
            assert need.resources, (operation, need)
            assert all(arn == "*" or arn.startswith("arn:aws:") for arn in need.resources), (operation, need)
        if (service, operation) != ("sts", "GetCallerIdentity"):
            assert found, operation


def test_unlisted_operations_take_their_own_name_as_action() -> None:
    found = needs("sagemaker", "StopTrainingJob", {"TrainingJobName": "J"}, REGION, ACCOUNT)
    assert _granted(found) == [("sagemaker:StopTrainingJob", (f"{SM}:training-job/j",))]


# -- every role is passed ----------------------------------------------------------------------------------------


def _is_role_member(name: str, shape: Shape) -> bool:
    """What the brief calls a role member: *RoleArn*, *RoleARN*, or botocore's RoleArn shape."""
    target = shape.member if shape.type_name == "list" else shape
    return target.type_name == "string" and ("RoleArn" in name or "RoleARN" in name or target.name == "RoleArn")


def _with_every_member(shape: Shape, roles: list[str], above: frozenset[str] = frozenset()) -> Any:
    """A request holding every member at every depth (recursion stopped), each role member a distinct ARN."""
    if shape.type_name == "structure":
        if shape.name in above:
            return {}
        filled = {}
        for name, member in shape.members.items():
            if _is_role_member(name, member):
                roles.append(f"arn:aws:iam::{ACCOUNT}:role/r{len(roles)}")
                filled[name] = [roles[-1]] if member.type_name == "list" else roles[-1]
            else:
                filled[name] = _with_every_member(member, roles, above | {shape.name})
        return filled
    if shape.type_name == "list":
        return [_with_every_member(shape.member, roles, above)]
    if shape.type_name == "map":
        return {"k": _with_every_member(shape.value, roles, above)}
    return "x1"


def test_no_role_member_in_sagemaker_escapes_pass_role() -> None:
    model = _model("sagemaker")
    checked = 0
    for operation in model.operation_names:
        shape = model.operation_model(operation).input_shape
        roles: list[str] = []
        params = _with_every_member(shape, roles) if shape is not None else {}
        if not roles:
            continue
        found = needs("sagemaker", operation, params, REGION, ACCOUNT)
        passed = [need for need in found if need.action == "iam:PassRole"]
        assert len(passed) == 1, operation
        assert sorted(passed[0].resources) == sorted(roles), operation
        assert passed[0].context == {"iam:PassedToService": "sagemaker.amazonaws.com"}
        checked += 1
    assert checked > 40  # CreateTrainingJob, CreateModel, CreateDomain's user settings, ...


def test_roles_assumed_through_sts_are_not_passed() -> None:
    found = needs("sts", "AssumeRole", {"RoleArn": ROLE, "RoleSessionName": "s"}, REGION, ACCOUNT)
    assert [need.action for need in found] == ["sts:AssumeRole"]


def test_an_operation_worked_out_once_reads_each_call_afresh() -> None:
    first = needs("sagemaker", "DescribeEndpoint", {"EndpointName": "A"}, REGION, ACCOUNT)
    second = needs("sagemaker", "DescribeEndpoint", {"EndpointName": "B"}, REGION, "999999999999")
    assert first[0].resources == (f"{SM}:endpoint/a",)
    assert second[0].resources == (f"arn:aws:sagemaker:{REGION}:999999999999:endpoint/b",)

