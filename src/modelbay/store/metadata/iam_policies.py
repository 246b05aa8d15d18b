"""IAM policies: customer managed policies and their versions, the managed policies attached to users, groups and
roles, the inline policies embedded in them, and what a user's or a role's policies are, read at once.

Versions are numbered v1, v2, … per policy, never reused; one is the default. An attachment names its policy by
ARN, so AWS managed policies (arn:aws:iam::aws:policy/…, which have no row) attach as customer ones do; the caller
checks that such an ARN names one. Writes take the IAM lock (iam.py), so a policy cannot be attached while it is
being deleted, nor a role deleted while a policy is being attached to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.iam import (
    IAM_LOCK,
    EntityInUse,
    IamEntityNotFound,
    LimitReached,
    Tags,
    drop_tags,
    find_group,
    find_user,
    held,
    merge_tags,
    refuse_if_any,
)
from modelbay.store.metadata.iam_rows import (
    GROUP,
    ROLE,
    USER,
    IamAttachmentRow,
    IamGroupMemberRow,
    IamGroupRow,
    IamInlinePolicyRow,
    IamPolicyRow,
    IamPolicyVersionRow,
    IamUserRow,
)
from modelbay.store.metadata.records import Clock, RecordExists, utc_now
from modelbay.store.metadata.roles import Role, RoleRow

AWS_POLICY_PREFIX = "arn:aws:iam::aws:policy/"


@dataclass(frozen=True)
class PolicyRecord:
    """A customer managed policy; `attachment_count` counts the users, groups and roles it is attached to."""

    name: str
    path: str
    policy_id: str  # ANPA…
    arn: str
    description: str | None
    default_version: str  # "v1", …
    created: datetime
    updated: datetime
    attachment_count: int
    tags: dict[str, str]


@dataclass(frozen=True)
class PolicyVersion:
    version_id: str
    document: str
    is_default: bool
    created: datetime


@dataclass(frozen=True)
class Holder:
    """A user, a group or a role that a policy is attached to."""

    kind: str
    name: str
    path: str
    unique_id: str


@dataclass(frozen=True)
class GrantedPolicy:
    """One of the policies that apply to a user or a role: inline (`source` "user", "group" or "role", the policy
    named `name` of the holder `holder`), or managed (`source` "managed", `name` its ARN, `document` its default
    version's, None for an AWS managed policy, whose document the caller has)."""

    source: str
    holder: str
    name: str
    document: str | None


class IamPolicyRepository:
    """IAM's managed and inline policies and their attachments. Each write is one transaction."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    # Managed policies and their versions

    def create_policy(self, name: str, path: str, arn: str, policy_id: str, document: str,
                      description: str | None = None, tags: Tags = ()) -> PolicyRecord:
        """A policy with one version, v1, its default. Raises RecordExists if a policy has this name in any case."""
        with self._db.write(lock=IAM_LOCK) as session:
            existing = session.scalar(select(IamPolicyRow.arn).where(IamPolicyRow.folded_name == name.lower()))
            if existing is not None:
                raise RecordExists(existing)
            now = self._clock()
            row = IamPolicyRow(name=name, folded_name=name.lower(), path=path, arn=arn, unique_id=policy_id,
                               description=description, default_version=1, latest_version=1, creation_time=now,
                               update_time=now, tags=[list(tag) for tag in dict(tags).items()])
            session.add(row)
            session.flush()
            session.add(IamPolicyVersionRow(policy_id=row.id, version=1, document=document, creation_time=now))
            return _policy(row, 0)

    def policy(self, arn: str) -> PolicyRecord | None:
        with self._db.read() as session:
            row = session.scalar(select(IamPolicyRow).where(IamPolicyRow.arn == arn))
            return None if row is None else _policy(row, _attachments(session, [arn]).get(arn, 0))

    def policies(self, path_prefix: str = "/") -> list[PolicyRecord]:
        """The customer managed policies under `path_prefix`, in name order."""
        query = (select(IamPolicyRow).where(IamPolicyRow.path.startswith(path_prefix, autoescape=True))
                 .order_by(IamPolicyRow.folded_name))
        with self._db.read() as session:
            rows = list(session.scalars(query))
            counts = _attachments(session, [row.arn for row in rows])
            return [_policy(row, counts.get(row.arn, 0)) for row in rows]

    def attachment_counts(self) -> dict[str, int]:
        """How many users, groups and roles each attached policy (by ARN) is attached to."""
        query = select(IamAttachmentRow.policy_arn, func.count()).group_by(IamAttachmentRow.policy_arn)
        with self._db.read() as session:
            return {arn: count for arn, count in session.execute(query).all()}

    def set_policy_tags(self, arn: str, tags: Tags, max_tags: int) -> None:
        with self._db.write(lock=IAM_LOCK) as session:
            row = _find_policy(session, arn)
            row.tags = merge_tags(row.tags, tags, max_tags, "TagsPerPolicy")

    def remove_policy_tags(self, arn: str, keys: Iterable[str]) -> None:
        with self._db.write(lock=IAM_LOCK) as session:
            row = _find_policy(session, arn)
            row.tags = drop_tags(row.tags, keys)

    def delete_policy(self, arn: str) -> None:
        """Raises IamEntityNotFound, or EntityInUse while the policy is attached ("attachments"), is a user's
        permissions boundary ("permissions boundaries") or has versions besides its default ("versions")."""
        with self._db.write(lock=IAM_LOCK) as session:
            row = _find_policy(session, arn)
            holds = {"attachments": select(IamAttachmentRow).where(IamAttachmentRow.policy_arn == arn),
                     "permissions boundaries": select(IamUserRow).where(IamUserRow.permissions_boundary == arn),
                     "versions": select(IamPolicyVersionRow).where(IamPolicyVersionRow.policy_id == row.id,
                                                                   IamPolicyVersionRow.version != row.default_version)}
            refuse_if_any(session, "policy", arn, holds)
            session.delete(row)  # its default version goes with it (ON DELETE CASCADE)

    def create_version(self, arn: str, document: str, set_as_default: bool, max_versions: int) -> PolicyVersion:
        """Raises IamEntityNotFound, or LimitReached if the policy has `max_versions` versions already."""
        with self._db.write(lock=IAM_LOCK) as session:
            row = _find_policy(session, arn)
            count = session.scalar(select(func.count()).where(IamPolicyVersionRow.policy_id == row.id)) or 0
            if count >= max_versions:
                raise LimitReached("VersionsPerPolicy", max_versions)
            now = self._clock()
            row.latest_version += 1
            row.update_time = now
            if set_as_default:
                row.default_version = row.latest_version
            version = IamPolicyVersionRow(policy_id=row.id, version=row.latest_version, document=document,
                                          creation_time=now)
            session.add(version)
            return _version(version, row)

    def version(self, arn: str, version_id: str) -> PolicyVersion:
        """Raises IamEntityNotFound for an unknown policy or version ("policy version")."""
        with self._db.read() as session:
            row = _find_policy(session, arn)
            return _version(_find_version(session, row, version_id), row)

    def versions(self, arn: str) -> list[PolicyVersion]:
        """The policy's versions, newest first. Raises IamEntityNotFound."""
        with self._db.read() as session:
            row = _find_policy(session, arn)
            query = (select(IamPolicyVersionRow).where(IamPolicyVersionRow.policy_id == row.id)
                     .order_by(IamPolicyVersionRow.version.desc()))
            return [_version(version, row) for version in session.scalars(query)]

    def delete_version(self, arn: str, version_id: str) -> None:
        """Raises IamEntityNotFound, or EntityInUse for the default version ("default version")."""
        with self._db.write(lock=IAM_LOCK) as session:
            row = _find_policy(session, arn)
            version = _find_version(session, row, version_id)
            if version.version == row.default_version:
                raise EntityInUse("policy", arn, "default version")
            session.delete(version)

    def set_default_version(self, arn: str, version_id: str) -> None:
        with self._db.write(lock=IAM_LOCK) as session:
            row = _find_policy(session, arn)
            row.default_version = _find_version(session, row, version_id).version
            row.update_time = self._clock()

    # Attachments

    def attach(self, kind: str, name: str, policy_arn: str, max_policies: int) -> None:
        """Attach a managed policy (nothing changes if it is attached already). Raises IamEntityNotFound for an
        unknown holder or customer policy ("policy"), or LimitReached past `max_policies` per holder."""
        with self._db.write(lock=IAM_LOCK) as session:
            holder_id = _holder(session, kind, name)
            if not policy_arn.startswith(AWS_POLICY_PREFIX):
                _find_policy(session, policy_arn)
            if session.get(IamAttachmentRow, (kind, holder_id, policy_arn)) is not None:
                return
            count = session.scalar(select(func.count()).select_from(held(IamAttachmentRow, kind, holder_id)
                                                                    .subquery())) or 0
            if count >= max_policies:
                raise LimitReached(f"PoliciesPer{kind.capitalize()}", max_policies)
            session.add(IamAttachmentRow(holder_kind=kind, holder_id=holder_id, policy_arn=policy_arn,
                                         creation_time=self._clock()))

    def detach(self, kind: str, name: str, policy_arn: str) -> None:
        """Raises IamEntityNotFound for an unknown holder, or a policy not attached to it ("attachment")."""
        with self._db.write(lock=IAM_LOCK) as session:
            attachment = session.get(IamAttachmentRow, (kind, _holder(session, kind, name), policy_arn))
            if attachment is None:
                raise IamEntityNotFound("attachment", policy_arn)
            session.delete(attachment)

    def attached(self, kind: str, name: str) -> list[str]:
        """The ARNs of the managed policies attached to the holder, in the order they were attached."""
        with self._db.read() as session:
            query = (held(IamAttachmentRow, kind, _holder(session, kind, name))
                     .order_by(IamAttachmentRow.creation_time, IamAttachmentRow.policy_arn))
            return [row.policy_arn for row in session.scalars(query)]

    def holders(self, policy_arn: str) -> list[Holder]:
        """The users, groups and roles the policy is attached to, by kind, then name."""
        with self._db.read() as session:
            ids = _ids_by_kind(session, policy_arn)
            users = session.scalars(select(IamUserRow).where(IamUserRow.id.in_(ids.get(USER, []))))
            groups = session.scalars(select(IamGroupRow).where(IamGroupRow.id.in_(ids.get(GROUP, []))))
            roles = session.scalars(select(RoleRow).where(RoleRow.id.in_(ids.get(ROLE, []))))
            found = ([Holder(USER, row.name, row.path, row.unique_id) for row in users]
                     + [Holder(GROUP, row.name, row.path, row.unique_id) for row in groups]
                     + [Holder(ROLE, row.name, row.request["Path"], row.request["RoleId"]) for row in roles])
        return sorted(found, key=lambda holder: (holder.kind, holder.name.lower()))

    # Inline policies

    def put_inline(self, kind: str, name: str, policy_name: str, document: str) -> None:
        """Embed a policy in the holder, replacing one of the same name. Raises IamEntityNotFound."""
        with self._db.write(lock=IAM_LOCK) as session:
            holder_id = _holder(session, kind, name)
            row = session.get(IamInlinePolicyRow, (kind, holder_id, policy_name))
            if row is None:
                session.add(IamInlinePolicyRow(holder_kind=kind, holder_id=holder_id, name=policy_name,
                                               document=document))
            else:
                row.document = document

    def inline(self, kind: str, name: str, policy_name: str) -> str:
        """The document of the holder's inline policy. Raises IamEntityNotFound (kind "user policy", "group policy"
        or "role policy" if the holder has none of that name)."""
        with self._db.read() as session:
            return _find_inline(session, kind, name, policy_name).document

    def inline_names(self, kind: str, name: str) -> list[str]:
        with self._db.read() as session:
            query = held(IamInlinePolicyRow, kind, _holder(session, kind, name)).order_by(IamInlinePolicyRow.name)
            return [row.name for row in session.scalars(query)]

    def delete_inline(self, kind: str, name: str, policy_name: str) -> None:
        with self._db.write(lock=IAM_LOCK) as session:
            session.delete(_find_inline(session, kind, name, policy_name))

    # Roles (their rows are roles.py's): the changes IAM makes to one, and its deletion

    def change_role(self, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Role:
        """Replace the role's stored request by `change(request)` (which may raise to change nothing), atomically.
        Raises IamEntityNotFound."""
        with self._db.write(lock=IAM_LOCK) as session:
            row = _find_role(session, name)
            row.request = change(dict(row.request))
            return Role(name=row.name, arn=row.arn, request=row.request, creation_time=row.creation_time)

    def delete_role(self, name: str) -> None:
        """Raises IamEntityNotFound, or EntityInUse while the role has attached or inline policies."""
        with self._db.write(lock=IAM_LOCK) as session:
            row = _find_role(session, name)
            refuse_if_any(session, ROLE, name, {"attached policies": held(IamAttachmentRow, ROLE, row.id),
                                                "inline policies": held(IamInlinePolicyRow, ROLE, row.id)})
            session.delete(row)

    # What applies to a user or a role

    def granted(self, kind: str, name: str) -> list[GrantedPolicy] | None:
        """The inline and attached policies of a user ("user": its own, then its groups') or a role ("role"), in a
        few queries; None if there is no such user or role."""
        with self._db.read() as session:
            try:
                holder = _holder_row(session, kind, name)
            except IamEntityNotFound:
                return None
            holder_id = holder.id
            holders = [(kind, holder_id, holder.name)]
            if kind == USER:
                query = (select(IamGroupRow.id, IamGroupRow.name)
                         .join(IamGroupMemberRow, IamGroupMemberRow.group_id == IamGroupRow.id)
                         .where(IamGroupMemberRow.user_id == holder_id).order_by(IamGroupRow.folded_name))
                holders += [(GROUP, group_id, group_name) for group_id, group_name in session.execute(query).all()]
            return _inline_of(session, holders) + _managed_of(session, holders)


def _inline_of(session: Session, holders: list[tuple[str, int, str]]) -> list[GrantedPolicy]:
    """The holders' inline policies, holder by holder, each one's in name order."""
    order = {(kind, holder_id): (position, name) for position, (kind, holder_id, name) in enumerate(holders)}
    query = (select(IamInlinePolicyRow).where(or_(*(
        (IamInlinePolicyRow.holder_kind == kind) & (IamInlinePolicyRow.holder_id == holder_id)
        for kind, holder_id, _ in holders))).order_by(IamInlinePolicyRow.name))
    rows = sorted(session.scalars(query), key=lambda row: order[row.holder_kind, row.holder_id][0])
    return [GrantedPolicy(row.holder_kind, order[row.holder_kind, row.holder_id][1], row.name, row.document)
            for row in rows]


def _managed_of(session: Session, holders: list[tuple[str, int, str]]) -> list[GrantedPolicy]:
    """The managed policies attached to any of the holders, each once, with their default versions' documents."""
    query = (select(IamAttachmentRow.policy_arn, IamPolicyVersionRow.document)
             .outerjoin(IamPolicyRow, IamPolicyRow.arn == IamAttachmentRow.policy_arn)
             .outerjoin(IamPolicyVersionRow, (IamPolicyVersionRow.policy_id == IamPolicyRow.id)
                        & (IamPolicyVersionRow.version == IamPolicyRow.default_version))
             .where(or_(*((IamAttachmentRow.holder_kind == kind) & (IamAttachmentRow.holder_id == holder_id)
                          for kind, holder_id, _ in holders)))
             .order_by(IamAttachmentRow.creation_time, IamAttachmentRow.policy_arn))
    documents = dict(session.execute(query).all())  # an ARN attached to several holders counts once
    return [GrantedPolicy("managed", "", arn, document) for arn, document in documents.items()]


def _holder(session: Session, kind: str, name: str) -> int:
    """The row id of the user, group or role named `name`. Raises IamEntityNotFound."""
    return _holder_row(session, kind, name).id


def _holder_row(session: Session, kind: str, name: str) -> IamUserRow | IamGroupRow | RoleRow:
    if kind == USER:
        return find_user(session, name)
    if kind == GROUP:
        return find_group(session, name)
    return _find_role(session, name)


def _find_role(session: Session, name: str) -> RoleRow:
    row = session.scalar(select(RoleRow).where(RoleRow.name == name))
    if row is None:
        raise IamEntityNotFound(ROLE, name)
    return row


def _find_policy(session: Session, arn: str) -> IamPolicyRow:
    row = session.scalar(select(IamPolicyRow).where(IamPolicyRow.arn == arn))
    if row is None:
        raise IamEntityNotFound("policy", arn)
    return row


def _find_version(session: Session, policy: IamPolicyRow, version_id: str) -> IamPolicyVersionRow:
    number = version_id[1:] if version_id[:1] == "v" else ""
    row = session.get(IamPolicyVersionRow, (policy.id, int(number))) if number.isdigit() else None
    if row is None:
        raise IamEntityNotFound("policy version", version_id)
    return row


def _find_inline(session: Session, kind: str, name: str, policy_name: str) -> IamInlinePolicyRow:
    row = session.get(IamInlinePolicyRow, (kind, _holder(session, kind, name), policy_name))
    if row is None:
        raise IamEntityNotFound(f"{kind} policy", policy_name)
    return row


def _attachments(session: Session, arns: list[str]) -> dict[str, int]:
    query = (select(IamAttachmentRow.policy_arn, func.count()).where(IamAttachmentRow.policy_arn.in_(arns))
             .group_by(IamAttachmentRow.policy_arn))
    return {arn: count for arn, count in session.execute(query).all()}


def _ids_by_kind(session: Session, policy_arn: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    query = select(IamAttachmentRow.holder_kind, IamAttachmentRow.holder_id).where(
        IamAttachmentRow.policy_arn == policy_arn)
    for kind, holder_id in session.execute(query).all():
        found.setdefault(kind, []).append(holder_id)
    return found


def _policy(row: IamPolicyRow, attachment_count: int) -> PolicyRecord:
    return PolicyRecord(row.name, row.path, row.unique_id, row.arn, row.description, f"v{row.default_version}",
                        row.creation_time, row.update_time, attachment_count, {key: value for key, value in row.tags})


def _version(row: IamPolicyVersionRow, policy: IamPolicyRow) -> PolicyVersion:
    return PolicyVersion(f"v{row.version}", row.document, row.version == policy.default_version, row.creation_time)
