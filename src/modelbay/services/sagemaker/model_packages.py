"""SageMaker's model packages: CreateModelPackage, DescribeModelPackage, ListModelPackages, UpdateModelPackage,
DeleteModelPackage and BatchDescribeModelPackage.

A versioned package (ModelPackageGroupName given) is the group's next version, at
`model-package/<group>/<version>`, PendingManualApproval unless its request says otherwise; an unversioned one
(ModelPackageName given) stands alone. Creating a package and changing its approval status record a "SageMaker Model
Package State Change" event (store/metadata/events.py; `GET /_modelbay/v1/events`). A package is Completed at once:
SageMaker's validation of a ValidationSpecification (transform jobs run over the package) is not done by modelbay
yet, so a request with one is refused. CreateModel deploys a package's containers (models.py).
"""

from __future__ import annotations

from typing import Any

from modelbay.errors import ValidationError
from modelbay.services.base import Context, Handler
from modelbay.services.listing import list_page
from modelbay.services.sagemaker.model_package_groups import get_group, user_context
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.statuses import ModelApprovalStatus
from modelbay.store.metadata import RecordExists
from modelbay.store.metadata.lineage_records import record_model_package
from modelbay.store.metadata.model_packages import (
    Change,
    ModelPackage,
    ModelPackageFilter,
    ModelPackageGroupNotFound,
    ModelPackageNotFound,
)

# The CreateModelPackage members DescribeModelPackage gives back as they were sent.
ECHOED_MEMBERS = ("ModelPackageDescription", "ModelPackageRegistrationType", "InferenceSpecification",
                  "SourceAlgorithmSpecification", "CertifyForMarketplace", "MetadataProperties", "ModelMetrics",
                  "Domain", "Task", "SamplePayloadUrl", "DriftCheckBaselines", "AdditionalInferenceSpecifications",
                  "SkipModelValidation", "SourceUri", "SecurityConfig", "ModelCard", "ModelLifeCycle",
                  "ManagedStorageType")
# The UpdateModelPackage members that replace the stored ones.
REPLACED_MEMBERS = ("ModelPackageRegistrationType", "InferenceSpecification", "SourceUri", "ModelCard",
                    "ModelLifeCycle")
MAX_ADDITIONAL_INFERENCE_SPECIFICATIONS = 15
_TYPES = {"Versioned": True, "Unversioned": False, "Both": None}
_SUMMARY = ("ModelPackageName", "ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn",
            "ModelPackageDescription", "CreationTime", "ModelPackageStatus", "ModelApprovalStatus", "ModelLifeCycle",
            "ModelPackageRegistrationType")
_BATCH_SUMMARY = ("ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn", "ModelPackageDescription",
                  "CreationTime", "InferenceSpecification", "ModelPackageStatus", "ModelApprovalStatus",
                  "ModelPackageRegistrationType")


def create_model_package(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record a versioned package (the group's next version) or an unversioned one, Completed."""
    _check(params)
    request = {key: value for key, value in params.items() if key in ECHOED_MEMBERS}
    metadata = params.get("CustomerMetadataProperties", {})
    if "ModelPackageGroupName" in params:
        group = get_group(ctx, params["ModelPackageGroupName"])
        approval = ModelApprovalStatus(params.get("ModelApprovalStatus", ModelApprovalStatus.PENDING_MANUAL_APPROVAL))
        try:
            package = ctx.metadata.model_packages.create_version(group.name, group.arn, request, approval, metadata,
                                                                 user_context(ctx))
        except ModelPackageGroupNotFound as err:  # deleted meanwhile
            raise ValidationError(f"ModelPackageGroup {group.name} does not exist.") from err
        _record_lineage(ctx, package.arn, group.arn, params)
        return {"ModelPackageArn": package.arn}
    name: str = params["ModelPackageName"]
    arn = ctx.arn("sagemaker", f"model-package/{name.lower()}")
    tags = creation_tags(params)
    given = params.get("ModelApprovalStatus")
    try:
        ctx.metadata.model_packages.create_unversioned(name, arn, request, given and ModelApprovalStatus(given),
                                                       metadata, user_context(ctx))
    except RecordExists as err:
        raise ValidationError(f"Model Package already exists: {err.arn}") from err
    store_tags(ctx, arn, tags)
    _record_lineage(ctx, arn, None, params)
    return {"ModelPackageArn": arn}


def _record_lineage(ctx: Context, arn: str, group_arn: str | None, params: dict[str, Any]) -> None:
    """What SageMaker's lineage records of a new package: its containers' models and images contributed to it."""
    record_model_package(ctx.metadata.lineage, arn, group_arn, params.get("InferenceSpecification", {}).get(
        "Containers", []))


def _check(params: dict[str, Any]) -> None:
    """What CreateModelPackage refuses beyond botocore's model, in SageMaker's terms."""
    versioned, unversioned = "ModelPackageGroupName" in params, "ModelPackageName" in params
    if versioned == unversioned:
        raise ValidationError("Specify either ModelPackageGroupName (a versioned model package) or ModelPackageName "
                              "(an unversioned one)." if not versioned else
                              "Both ModelPackageName and ModelPackageGroupName are given: a model package is either "
                              "versioned (in a group) or unversioned, not both.")
    if versioned and params.get("Tags"):
        raise ValidationError("Tags cannot be given for a versioned model package: it has its model package group's.")
    if "ValidationSpecification" in params:
        raise ValidationError("ValidationSpecification is not supported by modelbay yet: it does not run the "
                              "validation transform jobs. Register the package without it.")
    specification = params.get("InferenceSpecification")
    if specification is None and "SourceAlgorithmSpecification" not in params and "SourceUri" not in params:
        raise ValidationError("Specify an InferenceSpecification (the containers that serve the model).")
    for number, container in enumerate((specification or {}).get("Containers", []), start=1):
        if "Image" not in container:
            raise ValidationError(f"InferenceSpecification.Containers.{number}.Image is required.")
    if unversioned and specification is not None:
        for member in ("SupportedRealtimeInferenceInstanceTypes", "SupportedTransformInstanceTypes"):
            if member not in specification:
                raise ValidationError(f"InferenceSpecification.{member} is required for an unversioned model "
                                      "package.")


def package_arn(ctx: Context, name: str) -> str:
    """The ARN a ModelPackageName member means: an ARN as it is, `group/version` a version, else a package name."""
    if name.startswith("arn:"):
        return name
    return ctx.arn("sagemaker", f"model-package/{name.lower()}")


def get_package(ctx: Context, name: str) -> ModelPackage:
    """The package `name` means (package_arn); ValidationException (SageMaker's "does not exist") if none."""
    arn = package_arn(ctx, name)
    found = ctx.metadata.model_packages.get(arn)
    if found is None:
        raise _not_found(arn)
    return found


def _not_found(arn: str) -> ValidationError:
    return ValidationError(f"ModelPackage {arn} does not exist.")


def describe_model_package(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return get_package(ctx, params["ModelPackageName"]).members()


def list_model_packages(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of package summaries, oldest first unless asked otherwise. Without ModelPackageType, a group's
    versions when ModelPackageGroupName is given, else the unversioned packages."""
    group_name = params.get("ModelPackageGroupName")
    if group_name is not None:
        group = ctx.metadata.model_package_groups.get(group_name)
        group_name = group_name if group is None else group.name
    kind = params.get("ModelPackageType", "Versioned" if group_name is not None else "Unversioned")
    filters = ModelPackageFilter(
        name_contains=params.get("NameContains"), created_after=params.get("CreationTimeAfter"),
        created_before=params.get("CreationTimeBefore"), approval_status=params.get("ModelApprovalStatus"),
        group_name=group_name, versioned=_TYPES[kind])
    return list_page({"SortOrder": "Ascending"} | params, ctx.metadata.model_packages.list,
                     "ModelPackageSummaryList", lambda package: _members(package, _SUMMARY), filters)


def _members(package: ModelPackage, names: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in package.members().items() if key in names}


def update_model_package(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Change a package's approval status (with ApprovalDescription), its CustomerMetadataProperties, and the members
    UpdateModelPackage may replace; LastModifiedTime and LastModifiedBy record it."""
    package = get_package(ctx, params["ModelPackageArn"])
    additional = params.get("AdditionalInferenceSpecificationsToAdd", [])
    request = {key: value for key, value in params.items() if key in REPLACED_MEMBERS}
    if additional:
        added = package.request.get("AdditionalInferenceSpecifications", []) + additional
        if len(added) > MAX_ADDITIONAL_INFERENCE_SPECIFICATIONS:
            raise ValidationError(f"A model package can have at most {MAX_ADDITIONAL_INFERENCE_SPECIFICATIONS} "
                                  f"AdditionalInferenceSpecifications; this update would give it {len(added)}.")
        request["AdditionalInferenceSpecifications"] = added
    approval = params.get("ModelApprovalStatus")
    change = Change(approval_status=approval and ModelApprovalStatus(approval),
                    approval_description=params.get("ApprovalDescription"),
                    customer_metadata=params.get("CustomerMetadataProperties", {}),
                    metadata_to_remove=tuple(params.get("CustomerMetadataPropertiesToRemove", [])), request=request)
    try:
        ctx.metadata.model_packages.update(package.arn, change, user_context(ctx))
    except ModelPackageNotFound as err:  # deleted meanwhile
        raise _not_found(package.arn) from err
    return {"ModelPackageArn": package.arn}


def delete_model_package(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete a package and its tags; models made from it keep their copy of its containers."""
    arn = package_arn(ctx, params["ModelPackageName"])
    try:
        ctx.metadata.model_packages.delete(arn)
    except ModelPackageNotFound as err:
        raise _not_found(arn) from err
    return {}


def batch_describe_model_package(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Each versioned package's summary by ARN; an unknown ARN (or an unversioned package's) in the error map."""
    summaries: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for arn in params["ModelPackageArnList"]:
        package = ctx.metadata.model_packages.get(arn)
        if package is None or package.version is None:
            errors[arn] = {"ErrorCode": "ValidationException", "ErrorResponse": str(
                _not_found(arn) if package is None else f"{arn} is an unversioned model package.")}
        else:
            summaries[arn] = {"InferenceSpecification": {"Containers": []}} | _members(package, _BATCH_SUMMARY)
    return {"ModelPackageSummaries": summaries, "BatchDescribeModelPackageErrorMap": errors}


OPERATIONS: dict[str, Handler] = {
    "CreateModelPackage": create_model_package,
    "DescribeModelPackage": describe_model_package,
    "ListModelPackages": list_model_packages,
    "UpdateModelPackage": update_model_package,
    "DeleteModelPackage": delete_model_package,
    "BatchDescribeModelPackage": batch_describe_model_package}
