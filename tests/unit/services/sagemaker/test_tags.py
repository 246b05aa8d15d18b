"""AddTags, ListTags and DeleteTags as service functions over a real SQLite metadata store."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelbay.errors import ResourceLimitExceeded, ValidationError
from modelbay.security.principal import Principal
from modelbay.services.base import Context
from modelbay.services.sagemaker.tags import OPERATIONS, add_tags, delete_tags, list_tags

MODEL = botocore.session.get_session().get_service_model("sagemaker")
ARN = "arn:aws:sagemaker:us-east-1:000000000000:training-job/job-1"


@pytest.fixture
def region() -> str:
    return "us-east-1"


@pytest.fixture
def principal() -> Principal:
    return Principal(access_key_id="AKIDTEST", account_id="000000000000")


def _tags(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in pairs]


def _call(ctx: Context, operation: str, **params: Any) -> Any:
    """Call the operation's function and check its output against botocore's output shape."""
    output = OPERATIONS[operation](ctx, params)
    report = ParamValidator().validate(output, MODEL.operation_model(operation).output_shape)
    assert not report.has_errors(), report.generate_report()
    return output


def test_operations_are_the_models() -> None:
    assert set(MODEL.operation_names) >= set(OPERATIONS)
    assert dict(AddTags=add_tags, ListTags=list_tags, DeleteTags=delete_tags) == OPERATIONS


def test_add_answers_with_the_tags_given_and_list_shows_them(ctx: Context) -> None:
    assert _call(ctx, "AddTags", ResourceArn=ARN, Tags=_tags(("team", "ml"), ("env", "dev"))) == {
        "Tags": _tags(("team", "ml"), ("env", "dev"))}
    _call(ctx, "AddTags", ResourceArn=ARN, Tags=_tags(("env", "prod"), ("owner", "ana")))
    assert _call(ctx, "ListTags", ResourceArn=ARN) == {
        "Tags": _tags(("team", "ml"), ("env", "prod"), ("owner", "ana"))}


def test_list_of_an_untagged_resource_is_empty(ctx: Context) -> None:
    assert _call(ctx, "ListTags", ResourceArn=ARN) == {"Tags": []}


def test_list_gives_all_fifty_tags_in_one_default_page(ctx: Context) -> None:
    tags = _tags(*((f"k{i}", str(i)) for i in range(50)))
    _call(ctx, "AddTags", ResourceArn=ARN, Tags=tags)
    assert _call(ctx, "ListTags", ResourceArn=ARN) == {"Tags": tags}


def test_list_pages_with_next_token(ctx: Context) -> None:
    tags = _tags(*((f"k{i}", str(i)) for i in range(5)))
    _call(ctx, "AddTags", ResourceArn=ARN, Tags=tags)
    # The model's minimum MaxResults is 50, as is the tag limit, so only a smaller page (which the
    # function honours: the codec enforces the model) shows the paging.
    first = _call(ctx, "ListTags", ResourceArn=ARN, MaxResults=3)
    rest = _call(ctx, "ListTags", ResourceArn=ARN, MaxResults=3, NextToken=first["NextToken"])
    assert first["Tags"] + rest["Tags"] == tags
    assert "NextToken" not in rest


def test_list_refuses_a_bad_next_token(ctx: Context) -> None:
    with pytest.raises(ValidationError):
        list_tags(ctx, {"ResourceArn": ARN, "NextToken": "not-a-token"})


def test_an_empty_next_token_starts_from_the_beginning(ctx: Context) -> None:
    _call(ctx, "AddTags", ResourceArn=ARN, Tags=_tags(("a", "1")))
    assert _call(ctx, "ListTags", ResourceArn=ARN, NextToken="") == {"Tags": _tags(("a", "1"))}


def test_a_resource_has_at_most_fifty_tags(ctx: Context) -> None:
    _call(ctx, "AddTags", ResourceArn=ARN, Tags=_tags(*((f"old{i}", "v") for i in range(30))))
    with pytest.raises(ResourceLimitExceeded):
        add_tags(ctx, {"ResourceArn": ARN, "Tags": _tags(*((f"new{i}", "v") for i in range(21)))})
    assert ctx.metadata.tags.count(ARN) == 30
    _call(ctx, "AddTags", ResourceArn=ARN, Tags=_tags(*((f"new{i}", "v") for i in range(20))))
    _call(ctx, "AddTags", ResourceArn=ARN, Tags=_tags(("old0", "replaced")))  # no new key: allowed at 50
    assert ctx.metadata.tags.count(ARN) == 50


@pytest.mark.parametrize("key", ["aws:createdBy", "AWS:Owner", "Aws:x"])
def test_aws_prefixed_keys_are_reserved(ctx: Context, key: str) -> None:
    with pytest.raises(ValidationError, match="reserved"):
        add_tags(ctx, {"ResourceArn": ARN, "Tags": _tags(("fine", "1"), (key, "v"))})
    assert ctx.metadata.tags.count(ARN) == 0
    with pytest.raises(ValidationError, match="reserved"):
        delete_tags(ctx, {"ResourceArn": ARN, "TagKeys": [key]})


def test_keys_that_merely_contain_aws_are_fine(ctx: Context) -> None:
    _call(ctx, "AddTags", ResourceArn=ARN, Tags=_tags(("my-aws:key", "1"), ("aws", "2")))
    assert ctx.metadata.tags.count(ARN) == 2


def test_delete_removes_the_keys_and_ignores_unknown_ones(ctx: Context) -> None:
    _call(ctx, "AddTags", ResourceArn=ARN, Tags=_tags(("a", "1"), ("b", "2"), ("c", "3")))
    assert _call(ctx, "DeleteTags", ResourceArn=ARN, TagKeys=["a", "c", "zzz"]) == {}
    assert _call(ctx, "ListTags", ResourceArn=ARN) == {"Tags": _tags(("b", "2"))}


@pytest.mark.parametrize("arn", [
    "arn:aws:sagemaker:us-east-1:000000000000:model-package/group/3",
    "arn:aws:sagemaker:eu-central-2:123456789012:endpoint-config/cfg",
    "arn:aws:sagemaker:local:000000000000:endpoint/My-Endpoint",
])
def test_sagemaker_arns_of_any_resource_type_are_accepted(ctx: Context, arn: str) -> None:
    _call(ctx, "AddTags", ResourceArn=arn, Tags=_tags(("a", "1")))
    assert _call(ctx, "ListTags", ResourceArn=arn) == {"Tags": _tags(("a", "1"))}


@pytest.mark.parametrize("arn", [
    "arn:aws:sagemaker:us-east-1:00000000000:training-job/short-account",
    "arn:aws:sagemaker:us-east-1:000000000000:training-job",
    "arn:aws:sagemaker:us-east-1:000000000000:training-job/",
    "arn:aws:sagemaker::000000000000:training-job/no-region",
    "arn:aws:s3:us-east-1:000000000000:bucket/not-sagemaker",
    "arn:aws-cn:sagemaker:cn-north-1:000000000000:training-job/other-partition",
    "arn:aws:sagemaker:us-east-1:000000000000:/no-type",
])
@pytest.mark.parametrize("operation", ["AddTags", "ListTags", "DeleteTags"])
def test_other_arns_are_refused_naming_the_arn(ctx: Context, operation: str, arn: str) -> None:
    params = {"ResourceArn": arn, "Tags": _tags(("a", "1")), "TagKeys": ["a"]}
    with pytest.raises(ValidationError) as info:
        OPERATIONS[operation](ctx, params)
    assert arn in str(info.value)
