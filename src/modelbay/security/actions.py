"""What each AWS API call asks of IAM: its actions, the resources each is checked on, the request's condition keys.

`needs(service, operation, params, region, account)` answers for every operation of the botocore service models
modelbay speaks, from botocore's shapes and the table in `actions.toml` beside this module (its header gives the
table's syntax), which holds rows only where AWS departs from the rule:

- the action is `<prefix>:<Operation>` (S3 departs most: ListObjectsV2 is s3:ListBucket, GetObject of a version
  s3:GetObjectVersion, CopyObject is s3:PutObject on the target and s3:GetObject on the source);
- the resources are the ARNs of the resource types whose templates' members the request holds. Of two found, one
  whose members are all the other's members too is dropped: GetObject is checked on the object, not its bucket,
  CreateApp on the app, not its domain. A member holding an ARN is taken as it is; SageMaker lowercases the names
  in its ARNs. A List operation's optional members are filters, not resources (List* and Search are checked on
  "*" unless a required member names what they list in). A need with no resource is checked on "*", and must be
  allowed on each of its resources;
- iam:PassRole (with iam:PassedToService) on each role the request names for the service to act as: every
  member, at any depth, whose shape is botocore's RoleArn or whose name ends in Role, RoleArn, RoleARN or RoleArns
  (S3's replication Role, SageMaker's ExecutionRole), except in STS, whose roles are assumed, not passed;
- the condition keys the request holds: aws:RequestTag/<key> and aws:TagKeys from its tags (Tags, tags, S3's
  Tagging, ...; aws:TagKeys from an untag call's keys) and the service's own keys, each collected from the request
  members the table names, at any depth (sagemaker:InstanceTypes from every InstanceType of a tuning job's
  definitions). A single-valued key given several different values is given as all of them, as strings.

What the request does not hold is the authorizer's to add: aws:SourceIp, aws:CurrentTime, aws:MultiFactorAuth*,
aws:PrincipalTag/..., the resource's tags (aws:ResourceTag/..., sagemaker:ResourceTag/...). So is what only stored
resources know: an IAM entity's path when the request gives none (its ARN here has "/"), the key a KMS alias
points to (the alias's ARN is given; the authorizer cannot resolve aliases), a scalable target's ARN (Application
Auto Scaling's operations are checked on "*" with their namespace and dimension as condition keys).

STS GetCallerIdentity needs no permission (AWS answers it for any valid credentials): its needs are ().

All that depends only on the operation (its rows, the paths to roles and condition keys in its input shape) is
worked out once per operation; a call only reads its request.
"""

from __future__ import annotations

import functools
import itertools
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, unquote

import botocore.session
from botocore.model import OperationNotFoundError, ServiceModel, Shape

ContextValue = str | bool | int | Sequence[str]

_DATA_FILE = "actions.toml"
_ANY = "*"
_BUILTINS = frozenset({"region", "account"})  # the call's, not the request's
_EACH = ""  # a path step into every element of a list or every value of a map
_ROW_KEYS = frozenset({"action", "resources", "versioned", "version", "each"})
_ROLE_NAME = re.compile(r"Role(Arn|ARN)?s?$")  # RoleArn, ExecutionRoleArns, S3's replication Role
_SLOT = re.compile(r"\{([^{}]+)\}")
_TAG_MEMBERS = ("Tags", "tags", "TagList", "TagsList", "Tagging")
_TAG_KEY_MEMBERS = ("TagKeys", "tagKeys")
_PAIR_SPELLINGS = (("Key", "Value"), ("TagKey", "TagValue"), ("key", "value"))

Path = tuple[str, ...]  # member names, and _EACH for list elements and map values


@dataclass(frozen=True)
class Need:
    """One permission a call needs: `action` allowed on every one of `resources`, given `context`."""

    action: str  # IAM's spelling: "sagemaker:CreateTrainingJob"
    resources: tuple[str, ...]  # ARNs, or ("*",) where AWS checks the action on no resource type
    context: Mapping[str, ContextValue]  # the request's condition keys


def needs(service: str, operation: str, params: Mapping[str, Any], region: str, account: str) -> tuple[Need, ...]:
    """The permissions a validated request (botocore member names) of `service`'s `operation` needs.

    A request of scalar members only (an invocation, a Describe*) is answered from a cache, since it runs on every
    call: its payloads (bytes, streams) name no resource and are left out of the key. Raises ValueError for a
    service or operation botocore's models do not have."""
    flat = _flat(params)
    if flat is not None:
        return _flat_needs(service, operation, flat, region, account)
    return _plan(service, operation).needs(params, _Scope(params, None, region, account))


@functools.lru_cache(maxsize=4096)
def _flat_needs(service: str, operation: str, flat: tuple[tuple[str, Any], ...], region: str,
                account: str) -> tuple[Need, ...]:
    params = dict(flat)
    return _plan(service, operation).needs(params, _Scope(params, None, region, account))


def _flat(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...] | None:
    """The request's scalar members, its payloads left out; None if it has a list or a structure."""
    members = []
    for name, value in params.items():
        if isinstance(value, list | dict):
            return None
        if not isinstance(value, bytes | bytearray) and not hasattr(value, "read"):
            members.append((name, value))
    return tuple(members)


# -- one call's names ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    """Where a template's names are looked up: a list element's members, then the request's, then the call's."""

    params: Mapping[str, Any]
    element: Mapping[str, Any] | None
    region: str
    account: str

    def get(self, name: str) -> Any:
        if name == "region":
            return self.region
        if name == "account":
            return self.account
        if self.element is not None and name in self.element:
            return self.element[name]
        return self.params.get(name)


@dataclass(frozen=True)
class _Naming:
    """How a service writes names in its ARNs."""

    lowercase: bool
    typed_names: Mapping[str, str]  # a value's prefix -> the ARN's beginning, for values naming their type

    def whole(self, value: str, scope: _Scope) -> str | None:
        """The ARN a value is by itself: an ARN, or a typed name (KMS's alias/...); None for a plain name."""
        if value.startswith("arn:"):
            return value
        for prefix, start in self.typed_names.items():
            if value.startswith(prefix):
                return start.format(region=scope.region, account=scope.account) + value
        return None


# -- ARN templates -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slot:
    """`{A|B|'literal'}`: the first of the names present, else the literal."""

    names: tuple[str, ...]
    default: str | None

    @classmethod
    def parse(cls, text: str) -> _Slot:
        choices = text.split("|")
        if choices[-1].startswith("'"):
            return cls(tuple(choices[:-1]), choices[-1].strip("'"))
        return cls(tuple(choices), None)

    @property
    def key(self) -> str | None:
        """The member without which the slot cannot be filled (None if it has a fallback)."""
        single = len(self.names) == 1 and self.default is None and self.names[0] not in _BUILTINS
        return self.names[0] if single else None

    def values(self, scope: _Scope, naming: _Naming) -> list[str]:
        for name in self.names:
            value = scope.get(name)
            if value in (None, "", []):
                continue
            found = [str(item) for item in value] if isinstance(value, list) else [str(value)]
            if name in _BUILTINS or not naming.lowercase:
                return found
            return [item.lower() for item in found]
        return [] if self.default is None else [self.default]


@dataclass(frozen=True)
class _Template:
    parts: tuple[str | _Slot, ...]
    keys: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> _Template:
        pieces = _SLOT.split(text)  # literal, slot, literal, slot, ...
        parts = tuple(piece if index % 2 == 0 else _Slot.parse(piece)
                      for index, piece in enumerate(pieces) if piece)
        keys = frozenset(part.key for part in parts if isinstance(part, _Slot) and part.key is not None)
        return cls(parts, keys)

    def fill(self, scope: _Scope, naming: _Naming) -> list[str]:
        """The ARNs the template gives for the request: one per element of a list member; [] if a key is absent."""
        given = [scope.get(key) for key in self.keys]
        if any(value in (None, "", []) for value in given):
            return []
        if len(given) == 1:  # one member names the resource: it may hold its whole ARN already
            items = given[0] if isinstance(given[0], list) else [given[0]]
            wholes = [naming.whole(item, scope) if isinstance(item, str) else None for item in items]
            if all(whole is not None for whole in wholes):
                return [whole for whole in wholes if whole is not None]
        choices = [[part] if isinstance(part, str) else part.values(scope, naming) for part in self.parts]
        if not all(choices):
            return []
        return ["".join(combination) for combination in itertools.product(*choices)]


# -- the table -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Service:
    name: str
    prefix: str
    naming: _Naming
    generic: frozenset[str]
    kept: frozenset[str]
    single: bool
    passed_to: str | None
    resources: Mapping[str, tuple[_Template, ...]]  # resource type -> its templates, in the table's order
    conditions: Mapping[str, tuple[str, tuple[str, ...]]]  # condition key -> (type, member patterns)
    operations: Mapping[str, list[dict[str, Any]]]

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any]) -> _Service:
        return cls(
            name=name,
            prefix=table["prefix"],
            naming=_Naming(table.get("lowercase", False), table.get("typed_names", {})),
            generic=frozenset(table.get("generic", ())),
            kept=frozenset(table.get("kept", ())),
            single=table.get("single", False),
            passed_to=table.get("passed_to"),
            resources={kind: tuple(map(_Template.parse, texts)) for kind, texts in table.get("resources", {}).items()},
            conditions={key: (spec["type"], tuple(spec["members"]))
                        for key, spec in table.get("conditions", {}).items()},
            operations=table.get("operations", {}),
        )


@functools.cache
def _services() -> Mapping[str, _Service]:
    tables = tomllib.loads(resources.files("modelbay.security").joinpath(_DATA_FILE).read_text(encoding="utf-8"))
    merged = {name: {**tables.get(table.get("like", ""), {}), "operations": {}, **table}
              for name, table in tables.items()}
    return {name: _Service.from_table(name, table) for name, table in merged.items()}


@functools.cache
def _service_model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


# -- one operation, worked out once ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Resource:
    """One resource of a need: the first of its templates that the request fills."""

    templates: tuple[_Template, ...]
    kept: bool = False  # checked even beside a more specific resource (a hub beside its content)

    def arns(self, scope: _Scope, naming: _Naming) -> tuple[frozenset[str], list[str]]:
        for template in self.templates:
            arns = template.fill(scope, naming)
            if arns:
                return template.keys, arns
        return frozenset(), []


@dataclass(frozen=True)
class _Rule:
    """One row of needs: an action (another when the request names a version) on resources."""

    action: str
    versioned: str | None
    version: str
    each: Path | None
    resources: tuple[_Resource, ...]
    derived: bool  # found by the resource table (the most specific kept) rather than written in a row

    def resolve(self, scope: _Scope, service: _Service) -> Iterator[tuple[str, list[str]]]:
        for each_scope in self._scopes(scope):
            action = self.versioned if self.versioned and each_scope.get(self.version) else self.action
            found = [(resource.kept, *resource.arns(each_scope, service.naming)) for resource in self.resources]
            found = [(kept, keys, arns) for kept, keys, arns in found if arns]
            if self.derived:  # the most specific resources: GetObject's object, not its bucket
                found = [(kept, keys, arns) for kept, keys, arns in found
                         if kept or not any(keys < other for _, other, _ in found)]
                found = found[:1] if service.single else found
            yield action, [arn for _, _, arns in found for arn in arns] or [_ANY]

    def _scopes(self, scope: _Scope) -> Iterator[_Scope]:
        if self.each is None:
            yield scope
            return
        for element in _collect(scope.params, self.each):
            if isinstance(element, Mapping):
                yield _Scope(scope.params, element, scope.region, scope.account)


@dataclass(frozen=True)
class _Condition:
    key: str
    kind: str  # strings, string, bool, number
    paths: tuple[Path, ...]

    def value(self, params: Mapping[str, Any]) -> ContextValue | None:
        found: list[Any] = []
        for path in self.paths:
            for value in _collect(params, path):
                found.extend(value if isinstance(value, list) else [value])
        distinct = list(dict.fromkeys(found))
        if not distinct:
            return None
        if self.kind == "strings" or len(distinct) > 1:
            return tuple(_text(value) for value in distinct)
        return distinct[0] if self.kind in ("bool", "number") else str(distinct[0])


@dataclass(frozen=True)
class _TagSource:
    member: str
    form: str  # pairs, map, tagset (S3's Tagging structure), query (S3's x-amz-tagging header)
    key: str = "Key"
    value: str = "Value"

    def tags(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        given = params.get(self.member)
        if not given:
            return []
        if self.form == "map":
            return [(str(key), str(value)) for key, value in given.items()]
        if self.form == "query":
            return parse_qsl(given, keep_blank_values=True)
        pairs = given.get("TagSet", []) if self.form == "tagset" else given
        return [(pair[self.key], pair.get(self.value, "")) for pair in pairs]


@dataclass(frozen=True)
class _Plan:
    service: _Service
    rules: tuple[_Rule, ...]
    conditions: tuple[_Condition, ...]
    tag_sources: tuple[_TagSource, ...]
    tag_keys: tuple[str, ...]
    roles: tuple[Path, ...]

    def needs(self, params: Mapping[str, Any], scope: _Scope) -> tuple[Need, ...]:
        if "CopySource" in params:
            scope = _Scope({**params, **_copy_source(params["CopySource"])}, None, scope.region, scope.account)
        context = MappingProxyType(self._context(params))
        by_action: dict[str, list[str]] = {}
        for rule in self.rules:
            for action, arns in rule.resolve(scope, self.service):
                by_action.setdefault(action, []).extend(arns)
        found = [Need(action, tuple(dict.fromkeys(arns)), context) for action, arns in by_action.items()]
        roles = [role for path in self.roles for value in _collect(params, path)
                 for role in (value if isinstance(value, list) else [value])]
        if roles and self.service.passed_to:
            passed = MappingProxyType({"iam:PassedToService": self.service.passed_to})
            found.append(Need("iam:PassRole", tuple(dict.fromkeys(roles)), passed))
        return tuple(found)

    def _context(self, params: Mapping[str, Any]) -> dict[str, ContextValue]:
        context: dict[str, ContextValue] = {}
        tags = [tag for source in self.tag_sources for tag in source.tags(params)]
        for key, tag_value in tags:
            context[f"aws:RequestTag/{key}"] = tag_value
        keys = [key for key, _ in tags] + [key for member in self.tag_keys for key in params.get(member, ())]
        if keys:
            context["aws:TagKeys"] = tuple(dict.fromkeys(keys))
        for condition in self.conditions:
            value = condition.value(params)
            if value is not None:
                context[condition.key] = value
        return context


@functools.cache
def _plan(service_name: str, operation: str) -> _Plan:
    service = _services().get(service_name)
    if service is None:
        raise ValueError(f"no IAM actions are known for service {service_name!r}")
    try:
        shape = _service_model(service_name).operation_model(operation).input_shape
    except OperationNotFoundError:
        raise ValueError(f"{service_name} has no operation {operation!r}") from None
    members = _walk(shape) if shape is not None else []
    return _Plan(
        service=service,
        rules=tuple(_rule(service, operation, shape, row) for row in service.operations.get(operation, [{}])),
        conditions=_conditions(service, operation, members),
        tag_sources=tuple(_tag_sources(shape)) if shape is not None else (),
        tag_keys=tuple(_tag_key_members(shape)) if shape is not None else (),
        roles=tuple(path for path, names, member in members if _is_role(names[-1], member)),
    )


def _rule(service: _Service, operation: str, shape: Shape | None, row: Mapping[str, Any]) -> _Rule:
    unknown = set(row) - _ROW_KEYS
    if unknown:
        raise ValueError(f"{service.name} {operation}: unknown keys {sorted(unknown)} in {_DATA_FILE}")
    each = tuple(row["each"].split(".")) if "each" in row else None
    written = row.get("resources")
    if written is not None:
        resources = tuple(_Resource((_Template.parse(text),)) for text in written)
    else:
        members = _member_names(shape, each or (), listing=operation.startswith("List"))
        resources = _derived_resources(service, operation, members)
    return _Rule(
        action=row.get("action", f"{service.prefix}:{operation}"),
        versioned=row.get("versioned"),
        version=row.get("version", "VersionId"),
        each=each + (_EACH,) if each is not None else None,
        resources=resources,
        derived=written is None,
    )


def _member_names(shape: Shape | None, each: Path, listing: bool) -> frozenset[str]:
    """The request's top-level member names, and those of the elements of the list at `each` (if any).

    A List operation's optional members are filters of what it lists, not resources: only its required count."""
    if shape is None:
        return frozenset()
    top = frozenset(shape.required_members if listing else shape.members)
    if not each:
        return top
    for step in each:
        shape = shape.members[step]
    return top | frozenset(shape.member.members)  # the list's elements


def _derived_resources(service: _Service, operation: str, top: frozenset[str]) -> tuple[_Resource, ...]:
    """The table's resource types whose members the operation's input has (its templates that fit)."""
    found = []
    for kind, templates in service.resources.items():
        noun = "".join(word.capitalize() for word in kind.split("-"))
        fitting = tuple(template for template in templates
                        if template.keys <= top and (not template.keys & service.generic or noun in operation))
        if fitting:
            found.append(_Resource(fitting, kind in service.kept))
    return tuple(found)


def _conditions(service: _Service, operation: str, members: list[tuple[Path, Path, Shape]]) -> tuple[_Condition, ...]:
    found = []
    for key, (kind, patterns) in service.conditions.items():
        mine = [pattern.split(":", 1)[1] for pattern in patterns if pattern.startswith(f"{operation}:")]
        general = [pattern for pattern in patterns if ":" not in pattern]
        paths = tuple(path for path, names, _ in members if any(_matches(names, p) for p in mine + general))
        if paths:
            found.append(_Condition(key, kind, paths))
    return tuple(found)


def _matches(names: Path, pattern: str) -> bool:
    """Whether a member (the member names down to it) is what a pattern names: "A.B", or "/B" at the top."""
    if pattern.startswith("/"):
        return names == tuple(pattern[1:].split("."))
    wanted = tuple(pattern.split("."))
    return names[-len(wanted):] == wanted


def _tag_sources(shape: Shape) -> Iterator[_TagSource]:
    for member in _TAG_MEMBERS:
        tags = shape.members.get(member)
        if tags is None:
            continue
        if tags.type_name == "string":
            yield _TagSource(member, "query")
        elif tags.type_name == "map":
            yield _TagSource(member, "map")
        elif tags.type_name == "structure" and "TagSet" in tags.members:
            yield _TagSource(member, "tagset")
        elif tags.type_name == "list" and tags.member.type_name == "structure":
            fields = tags.member.members
            key, value = next(pair for pair in _PAIR_SPELLINGS if pair[0] in fields)
            yield _TagSource(member, "pairs", key, value)


def _tag_key_members(shape: Shape) -> Iterator[str]:
    """The members that list tag keys alone (an untag call's)."""
    for name, member in shape.members.items():
        if name in _TAG_KEY_MEMBERS or (name in _TAG_MEMBERS and member.type_name == "list"
                                        and member.member.type_name == "string"):
            yield name


def _is_role(name: str, shape: Shape) -> bool:
    """Whether a member names IAM roles for the service to act as (a string, or a list's strings)."""
    if shape.type_name == "list":
        return _is_role(name, shape.member)
    return shape.type_name == "string" and (shape.name == "RoleArn" or bool(_ROLE_NAME.search(name)))


def _walk(shape: Shape) -> list[tuple[Path, Path, Shape]]:
    """Every member under an input shape, at any depth: (path to its value, the member names down to it, shape).

    A list's elements are reached through the list (its path continues with _EACH), as are a map's values;
    a recursive shape is not entered again below itself."""
    found: list[tuple[Path, Path, Shape]] = []

    def visit(current: Shape, path: Path, names: Path, above: frozenset[str]) -> None:
        if current.name in above:
            return
        above = above | {current.name}
        if current.type_name == "structure":
            for name, member in current.members.items():
                found.append((path + (name,), names + (name,), member))
                visit(member, path + (name,), names + (name,), above)
        elif current.type_name == "list":
            visit(current.member, path + (_EACH,), names, above)
        elif current.type_name == "map":
            visit(current.value, path + (_EACH,), names, above)

    visit(shape, (), (), frozenset())
    return found


def _collect(value: Any, path: Path) -> Iterator[Any]:
    """The values at `path` in a request (every element where the path goes through lists and maps).

    Requests are the codecs' dicts and lists: checked as such, which is several times faster than as Mappings."""
    for index, step in enumerate(path):
        if step == _EACH:
            items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
            for item in items:
                yield from _collect(item, path[index + 1:])
            return
        if not isinstance(value, dict) or step not in value:
            return
        value = value[step]
    yield value


def _copy_source(source: str) -> dict[str, str]:
    """CopySource (`bucket/key`, `/bucket/key` or an access point's object ARN, URL-encoded, `?versionId=`
    optional) as the source object's ARN and version."""
    path, _, query = source.partition("?")
    path = unquote(path).lstrip("/")
    version = dict(parse_qsl(query)).get("versionId", "")
    arn = path if path.startswith("arn:") else f"arn:aws:s3:::{path}"
    return {"CopySourceArn": arn, "CopySourceVersionId": version}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
