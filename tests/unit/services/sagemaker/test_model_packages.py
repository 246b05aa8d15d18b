"""The Model Registry's operations as service functions over a real SQLite metadata store: groups and their
policies, versioned and unversioned packages, approval, listings, batch describe, and CreateModel from a package."""

from __future__ import annotations

import copy
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelbay.errors import AwsError, ValidationError
from modelbay.services.base import Context
from modelbay.services.sagemaker import OPERATIONS

MODEL = botocore.session.get_session().get_service_model("sagemaker")
PREFIX = "arn:aws:sagemaker:eu-west-1:123456789012"
CONTAINER = {"Image": "modelbay/sklearn:1.2-1", "ModelDataUrl": "s3://b/model.tar.gz",
             "Environment": {"SAGEMAKER_PROGRAM": "train.py", "LEVEL": "1"}}
SPEC: dict[str, Any] = {"Containers": [CONTAINER], "SupportedContentTypes": ["text/csv"],
                        "SupportedResponseMIMETypes": ["application/json"]}
UNVERSIONED_SPEC = SPEC | {"SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
                           "SupportedTransformInstanceTypes": ["ml.m5.large"]}
ROLE = "arn:aws:iam::123456789012:role/r"


def _call(ctx: Context, operation: str, **params: Any) -> Any:
    """Call the operation's function and check its output against botocore's output shape (or none)."""
    output = OPERATIONS[operation](ctx, params)
    shape = MODEL.operation_model(operation).output_shape
    if shape is None:
        assert output == {}
        return output
    report = ParamValidator().validate(output, shape)
    assert not report.has_errors(), report.generate_report()
    return output


def _refused(ctx: Context, operation: str, code: str, fragment: str, **params: Any) -> None:
    with pytest.raises(AwsError) as refused:
        _call(ctx, operation, **params)
    assert refused.value.code == code and fragment in str(refused.value), str(refused.value)


def _register(ctx: Context, group: str = "Churn", **extra: Any) -> str:
    arn: str = _call(ctx, "CreateModelPackage", ModelPackageGroupName=group,
                     InferenceSpecification=copy.deepcopy(SPEC), **extra)["ModelPackageArn"]
    return arn


@pytest.fixture
def group(ctx: Context) -> str:
    arn: str = _call(ctx, "CreateModelPackageGroup", ModelPackageGroupName="Churn",
                     ModelPackageGroupDescription="churn models", Tags=[{"Key": "team", "Value": "a"}],
                     )["ModelPackageGroupArn"]
    return arn


def test_a_group_is_described_listed_and_deleted_once_empty(ctx: Context, group: str) -> None:
    assert group == f"{PREFIX}:model-package-group/churn"
    described = _call(ctx, "DescribeModelPackageGroup", ModelPackageGroupName=group)
    assert described | {"CreationTime": None} == {
        "ModelPackageGroupName": "Churn", "ModelPackageGroupArn": group, "ModelPackageGroupDescription": "churn models",
        "ModelPackageGroupStatus": "Completed", "CreationTime": None,
        "CreatedBy": {"IamIdentity": {"Arn": "arn:aws:iam::123456789012:root", "PrincipalId": "123456789012"}}}
    assert _call(ctx, "ListTags", ResourceArn=group)["Tags"] == [{"Key": "team", "Value": "a"}]
    _refused(ctx, "CreateModelPackageGroup", "ValidationException", "already exists", ModelPackageGroupName="Churn")
    _call(ctx, "CreateModelPackageGroup", ModelPackageGroupName="Other")
    listed = _call(ctx, "ListModelPackageGroups", SortBy="Name", SortOrder="Ascending")["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in listed] == ["Churn", "Other"]
    assert [g["ModelPackageGroupName"] for g in _call(ctx, "ListModelPackageGroups", NameContains="OTH")[
        "ModelPackageGroupSummaryList"]] == ["Other"]
    version = _register(ctx)
    _refused(ctx, "DeleteModelPackageGroup", "ConflictException", "holds 1 model package",
             ModelPackageGroupName="Churn")
    _call(ctx, "DeleteModelPackage", ModelPackageName=version)
    _call(ctx, "DeleteModelPackageGroup", ModelPackageGroupName="Churn")
    _refused(ctx, "DescribeModelPackageGroup", "ValidationException", "ModelPackageGroup Churn does not exist",
             ModelPackageGroupName="Churn")


def test_a_group_policy_is_kept_parsed_and_removed(ctx: Context, group: str) -> None:
    policy = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*"}]}'
    _refused(ctx, "GetModelPackageGroupPolicy", "ValidationException", "no resource policy",
             ModelPackageGroupName="Churn")
    _refused(ctx, "PutModelPackageGroupPolicy", "ValidationException", "not valid JSON",
             ModelPackageGroupName="Churn", ResourcePolicy="{nope")
    _refused(ctx, "PutModelPackageGroupPolicy", "ValidationException", "with a Statement",
             ModelPackageGroupName="Churn", ResourcePolicy="[]")
    assert _call(ctx, "PutModelPackageGroupPolicy", ModelPackageGroupName="Churn", ResourcePolicy=policy) == {
        "ModelPackageGroupArn": group}
    assert _call(ctx, "GetModelPackageGroupPolicy", ModelPackageGroupName=group)["ResourcePolicy"] == policy
    _call(ctx, "DeleteModelPackageGroupPolicy", ModelPackageGroupName="Churn")
    _refused(ctx, "DeleteModelPackageGroupPolicy", "ValidationException", "no resource policy",
             ModelPackageGroupName="Churn")
    _refused(ctx, "PutModelPackageGroupPolicy", "ValidationException", "does not exist",
             ModelPackageGroupName="nope", ResourcePolicy=policy)


def test_versions_are_numbered_and_described_by_arn_or_group_and_version(ctx: Context, group: str) -> None:
    first = _register(ctx, ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                                         "S3Uri": "s3://b/stats.json"}}},
                      CustomerMetadataProperties={"auc": "0.9"}, CertifyForMarketplace=False,
                      ModelApprovalStatus="PendingManualApproval", SkipModelValidation="None")
    second = _register(ctx, group, ModelApprovalStatus="Approved")  # by the group's ARN
    assert (first, second) == (f"{PREFIX}:model-package/churn/1", f"{PREFIX}:model-package/churn/2")
    described = _call(ctx, "DescribeModelPackage", ModelPackageName="Churn/1")
    assert described == _call(ctx, "DescribeModelPackage", ModelPackageName=first)
    assert {key: described[key] for key in ("ModelPackageName", "ModelPackageGroupName", "ModelPackageVersion",
                                            "ModelPackageStatus", "ModelApprovalStatus", "CustomerMetadataProperties",
                                            "ModelPackageStatusDetails", "InferenceSpecification")} == {
        "ModelPackageName": "Churn", "ModelPackageGroupName": "Churn", "ModelPackageVersion": 1,
        "ModelPackageStatus": "Completed", "ModelApprovalStatus": "PendingManualApproval",
        "CustomerMetadataProperties": {"auc": "0.9"}, "InferenceSpecification": SPEC,
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []}}
    assert described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == "s3://b/stats.json"
    assert _call(ctx, "DescribeModelPackage", ModelPackageName=second)["ModelApprovalStatus"] == "Approved"
    _refused(ctx, "DescribeModelPackage", "ValidationException",
             f"ModelPackage {PREFIX}:model-package/churn/3 does not exist", ModelPackageName="Churn/3")


@pytest.mark.parametrize(("params", "fragment"), [
    ({"ModelPackageGroupName": "Churn", "ModelPackageName": "x"}, "not both"),
    ({}, "Specify either ModelPackageGroupName"),
    ({"ModelPackageGroupName": "Churn", "Tags": [{"Key": "k", "Value": "v"}]}, "Tags cannot be given"),
    ({"ModelPackageGroupName": "Churn", "ValidationSpecification": {
        "ValidationRole": ROLE, "ValidationProfiles": []}}, "ValidationSpecification is not supported"),
    ({"ModelPackageGroupName": "Churn", "InferenceSpecification": None}, "Specify an InferenceSpecification"),
    ({"ModelPackageGroupName": "Churn", "InferenceSpecification": {"Containers": [{"ModelDataUrl": "s3://b/m"}]}},
     "InferenceSpecification.Containers.1.Image is required"),
    ({"ModelPackageName": "solo"}, "SupportedRealtimeInferenceInstanceTypes is required for an unversioned"),
    ({"ModelPackageGroupName": "nope"}, "ModelPackageGroup nope does not exist"),
])
def test_create_model_package_refuses_what_sagemaker_refuses(ctx: Context, group: str, params: dict[str, Any],
                                                             fragment: str) -> None:
    request = {"InferenceSpecification": copy.deepcopy(SPEC)} | params
    _refused(ctx, "CreateModelPackage", "ValidationException", fragment,
             **{key: value for key, value in request.items() if value is not None})


def test_an_unversioned_package_has_its_name_and_tags(ctx: Context) -> None:
    arn = _call(ctx, "CreateModelPackage", ModelPackageName="Solo", InferenceSpecification=UNVERSIONED_SPEC,
                Tags=[{"Key": "k", "Value": "v"}])["ModelPackageArn"]
    assert arn == f"{PREFIX}:model-package/solo"
    described = _call(ctx, "DescribeModelPackage", ModelPackageName="Solo")
    assert (described["ModelPackageName"], described["ModelPackageArn"]) == ("Solo", arn)
    assert "ModelPackageVersion" not in described and "ModelApprovalStatus" not in described
    assert _call(ctx, "ListTags", ResourceArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    _refused(ctx, "CreateModelPackage", "ValidationException", "already exists", ModelPackageName="solo",
             InferenceSpecification=UNVERSIONED_SPEC)


def test_list_model_packages_filters_sorts_and_pages(ctx: Context, group: str) -> None:
    versions = [_register(ctx, ModelApprovalStatus=status) for status in ("Approved", "Rejected", "Approved")]
    solo = _call(ctx, "CreateModelPackage", ModelPackageName="solo",
                 InferenceSpecification=UNVERSIONED_SPEC)["ModelPackageArn"]

    def arns(**params: Any) -> list[str]:
        return [s["ModelPackageArn"] for s in _call(ctx, "ListModelPackages", **params)["ModelPackageSummaryList"]]

    assert arns() == [solo]
    assert arns(ModelPackageGroupName="Churn") == versions  # a group's versions, oldest first
    assert arns(ModelPackageGroupName=group, ModelApprovalStatus="Approved", SortOrder="Descending") == [
        versions[2], versions[0]]
    assert arns(ModelPackageType="Both", SortBy="Name") == [*versions, solo]
    page = _call(ctx, "ListModelPackages", ModelPackageGroupName="Churn", MaxResults=2)
    assert len(page["ModelPackageSummaryList"]) == 2
    assert arns(ModelPackageGroupName="Churn", NextToken=page["NextToken"]) == versions[2:]
    [summary] = _call(ctx, "ListModelPackages", ModelPackageGroupName="Churn", MaxResults=1)["ModelPackageSummaryList"]
    assert set(summary) == {"ModelPackageName", "ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn",
                            "CreationTime", "ModelPackageStatus", "ModelApprovalStatus"}


def test_update_approves_with_a_description_and_changes_metadata(ctx: Context, group: str) -> None:
    arn = _register(ctx, CustomerMetadataProperties={"a": "1", "b": "2"})
    assert _call(ctx, "UpdateModelPackage", ModelPackageArn=arn, ModelApprovalStatus="Approved",
                 ApprovalDescription="passed review", CustomerMetadataProperties={"c": "3"},
                 CustomerMetadataPropertiesToRemove=["a"]) == {"ModelPackageArn": arn}
    described = _call(ctx, "DescribeModelPackage", ModelPackageName=arn)
    assert (described["ModelApprovalStatus"], described["ApprovalDescription"],
            described["CustomerMetadataProperties"]) == ("Approved", "passed review", {"b": "2", "c": "3"})
    assert described["LastModifiedBy"]["IamIdentity"]["PrincipalId"] == "123456789012"
    assert described["LastModifiedTime"] > described["CreationTime"]
    extra = {"Name": "gpu", "Containers": [{"Image": "modelbay/sklearn:1.2-1"}]}
    _call(ctx, "UpdateModelPackage", ModelPackageArn=arn, AdditionalInferenceSpecificationsToAdd=[extra])
    assert _call(ctx, "DescribeModelPackage", ModelPackageName=arn)["AdditionalInferenceSpecifications"] == [extra]
    _refused(ctx, "UpdateModelPackage", "ValidationException", "at most 15",
             ModelPackageArn=arn, AdditionalInferenceSpecificationsToAdd=[extra] * 15)
    _refused(ctx, "UpdateModelPackage", "ValidationException", "does not exist",
             ModelPackageArn=f"{PREFIX}:model-package/churn/7", ModelApprovalStatus="Approved")
    detail_types = [e.detail["ModelApprovalStatus"] for e in ctx.metadata.events.after(0)]
    assert detail_types == ["PendingManualApproval", "Approved"]  # created, then approved


def test_batch_describe_answers_each_known_version_and_maps_the_rest_to_errors(ctx: Context, group: str) -> None:
    arn = _register(ctx)
    solo = _call(ctx, "CreateModelPackage", ModelPackageName="solo",
                 InferenceSpecification=UNVERSIONED_SPEC)["ModelPackageArn"]
    missing = f"{PREFIX}:model-package/churn/5"
    answer = _call(ctx, "BatchDescribeModelPackage", ModelPackageArnList=[arn, missing, solo])
    assert list(answer["ModelPackageSummaries"]) == [arn]
    assert answer["ModelPackageSummaries"][arn]["InferenceSpecification"] == SPEC
    assert set(answer["BatchDescribeModelPackageErrorMap"]) == {missing, solo}
    assert "does not exist" in answer["BatchDescribeModelPackageErrorMap"][missing]["ErrorResponse"]


def test_create_model_from_an_approved_version_takes_its_containers(ctx: Context, group: str) -> None:
    arn = _register(ctx, ModelApprovalStatus="Approved")
    _call(ctx, "CreateModel", ModelName="m", ExecutionRoleArn=ROLE,
          Containers=[{"ModelPackageName": arn, "Environment": {"LEVEL": "2"}}])
    [container] = _call(ctx, "DescribeModel", ModelName="m")["Containers"]
    assert container == {"Image": CONTAINER["Image"], "ModelDataUrl": CONTAINER["ModelDataUrl"],
                         "ModelPackageName": arn, "Environment": {"SAGEMAKER_PROGRAM": "train.py", "LEVEL": "2"}}


def test_create_model_from_a_package_of_several_containers_is_an_inference_pipeline(ctx: Context) -> None:
    spec = UNVERSIONED_SPEC | {"Containers": [CONTAINER, {"Image": "modelbay/python"}]}
    _call(ctx, "CreateModelPackage", ModelPackageName="pipe", InferenceSpecification=spec)
    _call(ctx, "CreateModel", ModelName="m", ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": "pipe"})
    described = _call(ctx, "DescribeModel", ModelName="m")
    assert [c["Image"] for c in described["Containers"]] == ["modelbay/sklearn:1.2-1", "modelbay/python"]
    assert "PrimaryContainer" not in described


def test_create_model_refuses_an_unknown_or_unapproved_package(ctx: Context, group: str) -> None:
    arn = _register(ctx)
    with pytest.raises(ValidationError, match="must be Approved to be deployed"):
        _call(ctx, "CreateModel", ModelName="m", ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": arn})
    with pytest.raises(ValidationError, match="model-package/churn/9 does not exist"):
        _call(ctx, "CreateModel", ModelName="m", ExecutionRoleArn=ROLE,
              PrimaryContainer={"ModelPackageName": "Churn/9"})


def test_a_new_version_records_its_lineage_from_its_model_to_its_group(ctx: Context, group: str) -> None:
    arn = _register(ctx)
    into_package = _call(ctx, "ListAssociations", DestinationArn=_call(
        ctx, "ListArtifacts", SourceUri=arn)["ArtifactSummaries"][0]["ArtifactArn"])["AssociationSummaries"]
    assert {edge["SourceType"] for edge in into_package} == {"Model", "Image"}
    assert all(edge["AssociationType"] == "ContributedTo" for edge in into_package)
