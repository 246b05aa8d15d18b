from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

import pytest

from modelbay.security.conditions import InvalidConditionValue, UnknownOperator, parse_condition
from modelbay.security.request_context import ContextValue, RequestContext

NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EPOCH_NOON = str(int(NOON.timestamp()))


def holds(operator: str, key: str, values: str | list[str], context: dict[str, ContextValue]) -> bool:
    written = (values,) if isinstance(values, str) else tuple(values)
    return parse_condition(operator, key, written, variables=True).matches(RequestContext(context))


# (operator, key, policy values, the request's context, whether the condition holds)
CASES: list[tuple[str, str, str | list[str], dict[str, ContextValue], bool]] = [
    # strings: exact, negated (NOR), ignoring case, with wildcards
    ("StringEquals", "aws:username", "alice", {"aws:username": "alice"}, True),
    ("StringEquals", "aws:username", "alice", {"aws:username": "Alice"}, False),
    ("StringEquals", "aws:username", ["bob", "alice"], {"aws:username": "alice"}, True),
    ("StringNotEquals", "aws:username", ["bob", "alice"], {"aws:username": "alice"}, False),
    ("StringNotEquals", "aws:username", ["bob", "alice"], {"aws:username": "carol"}, True),
    ("StringEqualsIgnoreCase", "aws:username", "ALICE", {"aws:username": "alice"}, True),
    ("StringNotEqualsIgnoreCase", "aws:username", "ALICE", {"aws:username": "alice"}, False),
    ("StringNotEqualsIgnoreCase", "aws:username", "ALICE", {"aws:username": "bob"}, True),
    ("StringLike", "s3:prefix", "home/*", {"s3:prefix": "home/alice/"}, True),
    ("StringLike", "s3:prefix", "home/?", {"s3:prefix": "home/ab"}, False),
    ("StringLike", "s3:prefix", "Home/*", {"s3:prefix": "home/alice/"}, False),
    ("StringNotLike", "s3:prefix", ["home/*", "tmp/*"], {"s3:prefix": "tmp/x"}, False),
    ("StringNotLike", "s3:prefix", ["home/*", "tmp/*"], {"s3:prefix": "etc/x"}, True),
    # keys are case-insensitive
    ("StringEquals", "AWS:UserName", "alice", {"aws:username": "alice"}, True),
    ("StringEquals", "aws:username", "alice", {"AWS:USERNAME": "alice"}, True),
    # policy variables in string values
    ("StringLike", "s3:prefix", "home/${aws:username}/*", {"s3:prefix": "home/alice/x", "aws:username": "alice"}, True),
    ("StringLike", "s3:prefix", "home/${aws:username}/*", {"s3:prefix": "home/bob/x", "aws:username": "alice"}, False),
    ("StringLike", "s3:prefix", "home/${aws:username}/*", {"s3:prefix": "home/alice/x"}, False),
    ("StringEquals", "aws:RequestTag/team", "${aws:PrincipalTag/team}",
     {"aws:requesttag/team": "ml", "aws:principaltag/team": "ml"}, True),
    ("StringEquals", "s3:prefix", "${aws:username, 'guest'}", {"s3:prefix": "guest"}, True),
    ("StringEquals", "s3:prefix", "a${*}b", {"s3:prefix": "a*b"}, True),
    ("StringLike", "s3:prefix", "a${*}b", {"s3:prefix": "axb"}, False),
    ("StringLike", "s3:prefix", "${aws:username}", {"s3:prefix": "x", "aws:username": "*"}, False),  # literal value
    # numbers
    ("NumericEquals", "s3:max-keys", "10", {"s3:max-keys": 10}, True),
    ("NumericEquals", "s3:max-keys", "10", {"s3:max-keys": "10.0"}, True),
    ("NumericNotEquals", "s3:max-keys", ["10", "20"], {"s3:max-keys": 20}, False),
    ("NumericNotEquals", "s3:max-keys", ["10", "20"], {"s3:max-keys": 30}, True),
    ("NumericLessThan", "s3:max-keys", "10", {"s3:max-keys": 9.5}, True),
    ("NumericLessThan", "s3:max-keys", "10", {"s3:max-keys": 10}, False),
    ("NumericLessThanEquals", "s3:max-keys", "10", {"s3:max-keys": 10}, True),
    ("NumericGreaterThan", "s3:max-keys", "10", {"s3:max-keys": 10}, False),
    ("NumericGreaterThanEquals", "s3:max-keys", "10", {"s3:max-keys": "10"}, True),
    ("NumericGreaterThan", "s3:max-keys", "10", {"s3:max-keys": "many"}, False),
    ("NumericGreaterThan", "s3:max-keys", "10", {"s3:max-keys": True}, False),
    # dates: ISO 8601 or epoch seconds, on either side
    ("DateEquals", "aws:CurrentTime", "2026-03-01T12:00:00Z", {"aws:CurrentTime": NOON}, True),
    ("DateEquals", "aws:CurrentTime", EPOCH_NOON, {"aws:CurrentTime": "2026-03-01T13:00:00+01:00"}, True),
    ("DateNotEquals", "aws:CurrentTime", "2026-03-01T12:00:00Z", {"aws:CurrentTime": NOON}, False),
    ("DateLessThan", "aws:CurrentTime", "2026-03-02", {"aws:CurrentTime": NOON}, True),
    ("DateLessThan", "aws:CurrentTime", "2026-03-01T12:00:00Z", {"aws:CurrentTime": NOON}, False),
    ("DateLessThanEquals", "aws:CurrentTime", "2026-03-01T12:00:00Z", {"aws:CurrentTime": NOON}, True),
    ("DateGreaterThan", "aws:CurrentTime", "2026-03-01", {"aws:CurrentTime": int(NOON.timestamp())}, True),
    ("DateGreaterThanEquals", "aws:CurrentTime", "2026-03-02T00:00:00Z", {"aws:CurrentTime": NOON}, False),
    ("DateGreaterThan", "aws:CurrentTime", "2026-03-01", {"aws:CurrentTime": "noon"}, False),
    # booleans, binaries
    ("Bool", "aws:SecureTransport", "true", {"aws:SecureTransport": True}, True),
    ("Bool", "aws:SecureTransport", "false", {"aws:SecureTransport": True}, False),
    ("Bool", "aws:MultiFactorAuthPresent", "TRUE", {"aws:MultiFactorAuthPresent": "true"}, True),
    ("BinaryEquals", "key", "QmluYXJ5", {"key": "QmluYXJ5"}, True),
    ("BinaryEquals", "key", "QmluYXJ5", {"key": "qmluyxj5"}, False),
    # IP addresses, v4 and v6
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", {"aws:SourceIp": "203.0.113.7"}, True),
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", {"aws:SourceIp": "203.0.114.7"}, False),
    ("IpAddress", "aws:SourceIp", "203.0.113.7", {"aws:SourceIp": "203.0.113.7"}, True),
    ("IpAddress", "aws:SourceIp", ["10.0.0.0/8", "2001:db8::/32"], {"aws:SourceIp": "2001:db8::1"}, True),
    ("IpAddress", "aws:SourceIp", "::/0", {"aws:SourceIp": "10.0.0.1"}, False),  # no v4 address is in a v6 range
    ("IpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:SourceIp": "not an address"}, False),
    ("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:SourceIp": "10.1.2.3"}, False),
    ("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:SourceIp": "192.0.2.1"}, True),
    # ARNs: each part alone; ArnEquals takes wildcards too
    ("ArnLike", "aws:SourceArn", "arn:aws:sagemaker:*:111122223333:training-job/*",
     {"aws:SourceArn": "arn:aws:sagemaker:us-east-1:111122223333:training-job/a:b/c"}, True),
    ("ArnLike", "aws:SourceArn", "arn:aws:sagemaker:*:111122223333:*",
     {"aws:SourceArn": "arn:aws:sagemaker:us-east-1:extra:111122223333:job"}, False),  # * stays within its part
    ("ArnEquals", "aws:SourceArn", "arn:aws:iam::*:role/Builder",
     {"aws:SourceArn": "arn:aws:iam::111122223333:role/Builder"}, True),
    ("ArnEquals", "aws:SourceArn", "arn:aws:iam::*:role/Builder",
     {"aws:SourceArn": "arn:aws:iam::111122223333:role/builder"}, False),
    ("ArnNotLike", "aws:SourceArn", "arn:aws:iam::*:role/*", {"aws:SourceArn": "arn:aws:iam::1:user/a"}, True),
    ("ArnNotEquals", "aws:SourceArn", "arn:aws:iam::*:role/*", {"aws:SourceArn": "arn:aws:iam::1:role/a"}, False),
    # a missing key: false, negated operators true, IfExists true, Null tells
    ("StringEquals", "aws:username", "alice", {}, False),
    ("StringNotEquals", "aws:username", "alice", {}, True),
    ("StringNotLike", "aws:username", "a*", {}, True),
    ("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", {}, True),
    ("StringEqualsIfExists", "aws:username", "alice", {}, True),
    ("StringEqualsIfExists", "aws:username", "alice", {"aws:username": "bob"}, False),
    ("NumericLessThanIfExists", "s3:max-keys", "10", {}, True),
    ("Null", "aws:TokenIssueTime", "true", {}, True),
    ("Null", "aws:TokenIssueTime", "true", {"aws:TokenIssueTime": NOON}, False),
    ("Null", "aws:TokenIssueTime", "false", {"aws:TokenIssueTime": NOON}, True),
    ("Null", "aws:TagKeys", "true", {"aws:TagKeys": []}, True),  # an empty set is no value
    # multivalued keys: no set operator (any value), ForAnyValue, ForAllValues
    ("StringEquals", "aws:TagKeys", "team", {"aws:TagKeys": ["team", "cost"]}, True),
    ("StringNotEquals", "aws:TagKeys", "team", {"aws:TagKeys": ["team", "cost"]}, False),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["team", "owner"], {"aws:TagKeys": ["team", "cost"]}, True),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["owner"], {"aws:TagKeys": ["team", "cost"]}, False),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["owner"], {}, False),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["team"], {"aws:TagKeys": ["team", "cost"]}, True),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["team"], {}, False),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["team", "cost"], {"aws:TagKeys": ["team", "cost"]}, True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["team"], {"aws:TagKeys": ["team", "cost"]}, False),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["team"], {}, True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["team"], {"aws:TagKeys": []}, True),
    ("ForAllValues:StringNotLike", "aws:TagKeys", ["aws:*"], {"aws:TagKeys": ["team", "cost"]}, True),
    ("ForAllValues:StringNotLike", "aws:TagKeys", ["aws:*"], {"aws:TagKeys": ["team", "aws:x"]}, False),
    ("ForAnyValue:StringLikeIfExists", "aws:TagKeys", ["t*"], {}, True),
]


@pytest.mark.parametrize(("operator", "key", "values", "context", "expected"), CASES)
def test_operator(operator: str, key: str, values: str | list[str], context: dict[str, ContextValue],
                  expected: bool) -> None:
    assert holds(operator, key, values, context) is expected


def test_every_operator_is_covered() -> None:
    covered = {case[0].split(":")[-1].removesuffix("IfExists") for case in CASES}
    assert covered == {
        "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike",
        "StringNotLike", "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
        "NumericGreaterThan", "NumericGreaterThanEquals", "DateEquals", "DateNotEquals", "DateLessThan",
        "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals", "Bool", "BinaryEquals", "IpAddress",
        "NotIpAddress", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike", "Null"}


def test_variables_are_literal_text_in_legacy_documents() -> None:
    condition = parse_condition("StringEquals", "s3:prefix", ("${aws:username}",), variables=False)
    assert condition.matches(RequestContext({"s3:prefix": "${aws:username}", "aws:username": "alice"}))
    assert not condition.matches(RequestContext({"s3:prefix": "alice", "aws:username": "alice"}))


@pytest.mark.parametrize("operator", ["StringEqualz", "ForEveryValue:StringEquals", "NullIfExists",
                                      "ForAllValues:Null", "IfExists"])
def test_unknown_operators(operator: str) -> None:
    with pytest.raises(UnknownOperator):
        parse_condition(operator, "aws:username", ("true",), variables=True)


@pytest.mark.parametrize(("operator", "value"), [
    ("NumericEquals", "1e3x"), ("DateEquals", "2026-13-01"), ("IpAddress", "10.0.0.0/33"), ("Bool", "yes"),
    ("Null", "maybe"),
])
def test_values_an_operator_cannot_read(operator: str, value: str) -> None:
    with pytest.raises(InvalidConditionValue):
        parse_condition(operator, "key", (value,), variables=True)


def test_a_lazy_context_is_asked_only_for_the_keys_policies_read_once_and_never_listed() -> None:
    reads: list[str] = []

    class ResourceTags(Mapping[str, ContextValue]):
        """Values fetched on access (the store's tags), by lowercase key."""

        def __getitem__(self, key: str) -> ContextValue:
            reads.append(key)
            if key == "aws:resourcetag/team":
                return "ml"
            raise KeyError(key)

        def __iter__(self) -> Iterator[str]:
            raise AssertionError("listing the keys would fetch every value")

        def __len__(self) -> int:
            raise AssertionError("counting the keys would fetch every value")

    context = RequestContext(ResourceTags())
    team = parse_condition("StringEquals", "aws:ResourceTag/TEAM", ("ml",), variables=True)
    absent = parse_condition("StringEquals", "aws:ResourceTag/cost", ("1",), variables=True)
    assert team.matches(context) and team.matches(context)
    assert not absent.matches(context) and not absent.matches(context)
    assert reads == ["aws:resourcetag/team", "aws:resourcetag/cost"]
