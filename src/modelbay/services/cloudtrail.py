"""CloudTrail (botocore `cloudtrail`, AWS JSON 1.1) over the audit trail: LookupEvents, trails, public keys.

LookupEvents reads the audit events of the call's region, latest first, as CloudTrail's records. A trail delivers
the events to its S3 bucket as CloudTrail's log files, with signed digest files when EnableLogFileValidation is on
(controllers/trail_delivery.py); ListPublicKeys gives the key that signs them, for `modelbay audit verify` or
`aws cloudtrail validate-logs`. CloudTrail keeps every trail and event in the server's home region (its audit events
are every region's): it is served from there, and LookupEvents and DescribeTrails answer for the call's region.
Not done: SNS, CloudWatch Logs and KMS delivery (refused), event selectors, Insights, Lake, tags.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from modelbay.errors import aws_error
from modelbay.security.audit_signing import AuditSigner
from modelbay.services.base import Context, Handler, present
from modelbay.store.metadata.audit import AuditEvent, EventQuery, cloudtrail_record
from modelbay.store.metadata.paging import InvalidToken, decode_token, encode_token
from modelbay.store.metadata.records import RecordExists, RecordNotFound
from modelbay.store.metadata.trails import Trail
from modelbay.store.objects.base import NoSuchBucket

MAX_LOOKUP_RESULTS = 50
_TOKEN_SCOPE = "cloudtrail events"
# 3-128 letters, digits, periods, underscores and dashes; a letter or digit first and last; no two marks in a row
_TRAIL_NAME = re.compile(r"(?!.*[._-]{2})[A-Za-z0-9](?:[A-Za-z0-9._-]{1,126}[A-Za-z0-9])")
_UNSUPPORTED = ("SnsTopicName", "CloudWatchLogsLogGroupArn", "CloudWatchLogsRoleArn", "KmsKeyId")
_SETTINGS = {"S3BucketName": "bucket", "S3KeyPrefix": "key_prefix", "IsMultiRegionTrail": "is_multi_region",
             "IncludeGlobalServiceEvents": "include_global_events", "EnableLogFileValidation": "log_file_validation"}
_DEFAULTS = {"IsMultiRegionTrail": False, "IncludeGlobalServiceEvents": True, "EnableLogFileValidation": False}

TrailNotFound = aws_error("TrailNotFoundException")
TrailAlreadyExists = aws_error("TrailAlreadyExistsException")
InvalidTrailName = aws_error("InvalidTrailNameException")
S3BucketDoesNotExist = aws_error("S3BucketDoesNotExistException")
InvalidParameter = aws_error("InvalidParameterException")
InvalidLookupAttributes = aws_error("InvalidLookupAttributesException")
InvalidTimeRange = aws_error("InvalidTimeRangeException")
InvalidMaxResults = aws_error("InvalidMaxResultsException")
InvalidNextToken = aws_error("InvalidNextTokenException")


def lookup_events(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    attributes = params.get("LookupAttributes") or []
    if len(attributes) > 1:
        raise InvalidLookupAttributes("You cannot specify more than one lookup attribute.")
    since, until = params.get("StartTime"), params.get("EndTime")
    if since is not None and until is not None and since > until:
        raise InvalidTimeRange("The start time must not be after the end time.")
    limit = params.get("MaxResults", MAX_LOOKUP_RESULTS)
    if not 1 <= limit <= MAX_LOOKUP_RESULTS:
        raise InvalidMaxResults(f"MaxResults must be between 1 and {MAX_LOOKUP_RESULTS}.")
    if params.get("EventCategory") == "insight":
        return {"Events": []}  # no Insights events are recorded
    attribute = attributes[0] if attributes else {}
    query = EventQuery(ctx.region, since, None if until is None else _just_after(until),
                       attribute.get("AttributeKey"), attribute.get("AttributeValue"))
    with _reading_token():
        before = decode_token(_TOKEN_SCOPE, params["NextToken"]) if params.get("NextToken") else None
    events, next_before = ctx.metadata.audit.lookup(query, before, limit)
    token = None if next_before is None else encode_token(_TOKEN_SCOPE, next_before)
    return {"Events": [_lookup_event(event) for event in events]} | present(NextToken=token)


def create_trail(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["Name"]
    if not _TRAIL_NAME.fullmatch(name):
        raise InvalidTrailName(f"Trail name {name} is not valid: 3 to 128 letters, digits, periods, underscores and "
                               "dashes, starting and ending with a letter or digit, without two marks in a row.")
    settings = _settings(ctx, _DEFAULTS | params)
    try:
        trail = ctx.metadata.audit.trails.create(name, _trail_arn(ctx, name), ctx.region, params.get("TagsList", []),
                                                 **settings)
    except RecordExists:
        raise TrailAlreadyExists(f"Trail {name} already exists for customer: {ctx.settings.account_id}") from None
    return _trail_settings(trail)


def update_trail(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with _trail_named(params["Name"]):
        trail = ctx.metadata.audit.trails.update(params["Name"], **_settings(ctx, params))
    return _trail_settings(trail)


def get_trail(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return {"Trail": _trail_shape(_found(ctx, params["Name"]))}


def describe_trails(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The trails named (by name or ARN), else those of the call's region and, unless includeShadowTrails is false,
    the multi-region trails of other regions."""
    wanted = set(params.get("trailNameList") or [])
    shadows = params.get("includeShadowTrails", True)

    def is_described(trail: Trail) -> bool:
        if wanted:
            return trail.name in wanted or trail.arn in wanted
        return trail.home_region == ctx.region or (shadows and trail.is_multi_region)

    return {"trailList": [_trail_shape(trail) for trail in ctx.metadata.audit.trails.list() if is_described(trail)]}


def list_trails(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return {"Trails": [{"TrailARN": trail.arn, "Name": trail.name, "HomeRegion": trail.home_region}
                       for trail in ctx.metadata.audit.trails.list()]}


def delete_trail(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with _trail_named(params["Name"]):
        ctx.metadata.audit.trails.delete(params["Name"])
    return {}


def start_logging(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Deliver the events recorded from now on (a trail delivers no event recorded before it logged)."""
    head = ctx.metadata.audit.head()
    with _trail_named(params["Name"]):
        ctx.metadata.audit.trails.start_logging(params["Name"], head[0] if head else 0)
    return {}


def stop_logging(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with _trail_named(params["Name"]):
        ctx.metadata.audit.trails.stop_logging(params["Name"])
    return {}


def get_trail_status(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    trail = _found(ctx, params["Name"])
    attempted = trail.latest_delivery_attempt_time
    return {"IsLogging": trail.is_logging} | present(
        LatestDeliveryTime=trail.latest_delivery_time, LatestDigestDeliveryTime=trail.latest_digest_delivery_time,
        StartLoggingTime=trail.start_logging_time, StopLoggingTime=trail.stop_logging_time,
        LatestDeliveryError=trail.latest_delivery_error,
        LatestDeliveryAttemptTime=_text_time(attempted), TimeLoggingStarted=_text_time(trail.start_logging_time),
        TimeLoggingStopped=_text_time(trail.stop_logging_time),
        LatestDeliveryAttemptSucceeded=None if attempted is None else str(trail.latest_delivery_error is None).lower())


def list_public_keys(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The keys that sign the digest files (made on first need): PKCS #1 DER, valid from when they were made."""
    signatures = ctx.metadata.audit.signatures
    keys = signatures.public_keys() or [AuditSigner(signatures, ctx.platform.master_key).key]
    return {"PublicKeyList": [{"Value": key.public_key, "ValidityStartTime": key.created,
                               "Fingerprint": key.fingerprint} for key in keys]}


def _lookup_event(event: AuditEvent) -> dict[str, Any]:
    kinds = event.resource_types or (None,) * len(event.resources)  # none recorded before revision 0028
    resources = [present(ResourceType=kind, ResourceName=name)
                 for name, kind in zip(event.resources, kinds, strict=True)]
    return present(EventId=event.event_id, EventName=event.operation,
                   ReadOnly=None if event.read_only is None else str(event.read_only).lower(),
                   AccessKeyId=event.access_key_id, EventTime=event.event_time, EventSource=event.event_source,
                   Username=event.username, Resources=resources,
                   CloudTrailEvent=json.dumps(cloudtrail_record(event), separators=(",", ":")))


def _settings(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The store's trail settings a CreateTrail or UpdateTrail gives; refuses what modelbay does not deliver to."""
    for member in _UNSUPPORTED:
        if params.get(member):
            raise InvalidParameter(f"{member} is not supported by modelbay: trails deliver to S3 only.")
    if params.get("IsOrganizationTrail"):
        raise InvalidParameter("Organization trails are not supported by modelbay.")
    bucket = params.get("S3BucketName")
    if bucket is not None:
        try:
            ctx.objects.head_bucket(bucket)
        except NoSuchBucket:
            raise S3BucketDoesNotExist(f"S3 bucket {bucket} does not exist.") from None
    return {setting: params[member] for member, setting in _SETTINGS.items() if member in params}


def _trail_settings(trail: Trail) -> dict[str, Any]:
    """CreateTrail's and UpdateTrail's answer."""
    shape = _trail_shape(trail)
    return {member: shape[member] for member in ("Name", "S3BucketName", "S3KeyPrefix", "IncludeGlobalServiceEvents",
                                                 "IsMultiRegionTrail", "TrailARN", "LogFileValidationEnabled",
                                                 "IsOrganizationTrail") if member in shape}


def _trail_shape(trail: Trail) -> dict[str, Any]:
    return {"Name": trail.name, "S3BucketName": trail.bucket, "IncludeGlobalServiceEvents": trail.include_global_events,
            "IsMultiRegionTrail": trail.is_multi_region, "HomeRegion": trail.home_region, "TrailARN": trail.arn,
            "LogFileValidationEnabled": trail.log_file_validation, "HasCustomEventSelectors": False,
            "HasInsightSelectors": False, "IsOrganizationTrail": False} | present(S3KeyPrefix=trail.key_prefix)


def _found(ctx: Context, name: str) -> Trail:
    trail = ctx.metadata.audit.trails.get(name)
    if trail is None:
        raise _not_found(name)
    return trail


@contextmanager
def _trail_named(name: str) -> Iterator[None]:
    try:
        yield
    except RecordNotFound:
        raise _not_found(name) from None


def _not_found(name: str) -> Exception:
    return TrailNotFound(f"Unknown trail: {name} for the user: the trail does not exist.")


@contextmanager
def _reading_token() -> Iterator[None]:
    try:
        yield
    except InvalidToken:
        raise InvalidNextToken("Invalid NextToken: pass the NextToken of the previous page.") from None


def _trail_arn(ctx: Context, name: str) -> str:
    return f"arn:aws:cloudtrail:{ctx.region}:{ctx.settings.account_id}:trail/{name}"


def _just_after(moment: datetime) -> datetime:
    """EndTime is inclusive, the store's bound exclusive."""
    return moment + timedelta(microseconds=1)


def _text_time(moment: datetime | None) -> str | None:
    """GetTrailStatus' times given as text (its TimeLoggingStarted and the like)."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


OPERATIONS: dict[str, Handler] = {
    "LookupEvents": lookup_events, "CreateTrail": create_trail, "UpdateTrail": update_trail, "GetTrail": get_trail,
    "DescribeTrails": describe_trails, "ListTrails": list_trails, "DeleteTrail": delete_trail,
    "StartLogging": start_logging, "StopLogging": stop_logging, "GetTrailStatus": get_trail_status,
    "ListPublicKeys": list_public_keys,
}
