"""IAM identities: users (with their tags), groups and their members, and users' access keys.

Names are looked up regardless of case, as IAM does (iam_rows.py). A read-check-write runs in one transaction
under the lock "iam", which every IAM write takes (IAM writes are rare; one lock keeps membership, deletion
and attachment checks simple and race-free across tables). The ARN of a user or a group is the caller's
to compute (it holds the account); renaming or moving one passes the new ARN.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.iam_rows import (
    GROUP,
    USER,
    IamAccessKeyRow,
    IamAttachmentRow,
    IamGroupMemberRow,
    IamGroupRow,
    IamInlinePolicyRow,
    IamUserRow,
)
from modelbay.store.metadata.records import Clock, RecordExists, RecordNotFound, utc_now

IAM_LOCK = "iam"
Tags = Sequence[tuple[str, str]]


class IamEntityNotFound(RecordNotFound):
    """No `kind` ("user", "group", "role", "access key", "policy", "policy version", ...) is named `name`."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"no {kind} named {name}")
        self.kind, self.name = kind, name


class EntityInUse(Exception):
    """The entity cannot be deleted while it has `what` ("access keys", "groups", "members", "attached policies",
    "inline policies", "attachments", "versions", "default version")."""

    def __init__(self, kind: str, name: str, what: str) -> None:
        super().__init__(f"{kind} {name} still has {what}")
        self.kind, self.name, self.what = kind, name, what


class LimitReached(Exception):
    """The write would pass IAM's quota `what` ("AccessKeysPerUser", "GroupsPerUser", "PoliciesPerRole",
    "VersionsPerPolicy", "TagsPerUser", ...) of `limit`."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"more than {limit} {what}")
        self.what, self.limit = what, limit


@dataclass(frozen=True)
class UserRecord:
    name: str
    path: str
    user_id: str  # AIDA…
    arn: str
    tags: dict[str, str]  # in the order the keys were first added
    created: datetime
    permissions_boundary: str | None = None  # a managed policy's ARN


@dataclass(frozen=True)
class GroupRecord:
    name: str
    path: str
    group_id: str  # AGPA…
    arn: str
    created: datetime


@dataclass(frozen=True)
class KeyUse:
    """When an access key was last used, for which service, in which region (GetAccessKeyLastUsed)."""

    when: datetime
    service: str
    region: str


@dataclass(frozen=True)
class AccessKeyRecord:
    access_key_id: str
    user_name: str
    status: str  # "Active" | "Inactive"
    sealed_secret: bytes
    created: datetime
    last_used: KeyUse | None = None


class IamRepository:
    """IAM's users, groups and access keys. Each write is one transaction; times come from `clock`."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    # Users

    def create_user(self, name: str, path: str, arn: str, user_id: str, tags: Tags = (),
                    permissions_boundary: str | None = None) -> UserRecord:
        """Raises RecordExists if a user has this name in any case."""
        with self._db.write(lock=IAM_LOCK) as session:
            _check_free(session, IamUserRow, name)
            row = IamUserRow(name=name, folded_name=name.lower(), path=path, arn=arn, unique_id=user_id,
                             creation_time=self._clock(), tags=[list(tag) for tag in dict(tags).items()],
                             permissions_boundary=permissions_boundary)
            session.add(row)
            return _user(row)

    def user(self, name: str) -> UserRecord | None:
        with self._db.read() as session:
            row = session.scalar(select(IamUserRow).where(IamUserRow.folded_name == name.lower()))
            return None if row is None else _user(row)

    def users(self, path_prefix: str = "/") -> list[UserRecord]:
        """The users whose path starts with `path_prefix`, in name order."""
        with self._db.read() as session:
            return [_user(row) for row in session.scalars(_under(IamUserRow, path_prefix))]

    def update_user(self, name: str, new_name: str, new_path: str, new_arn: str) -> UserRecord:
        """Rename or move a user. Raises IamEntityNotFound, or RecordExists if another user has `new_name`."""
        with self._db.write(lock=IAM_LOCK) as session:
            row = find_user(session, name)
            if new_name.lower() != row.folded_name:
                _check_free(session, IamUserRow, new_name)
            row.name, row.folded_name, row.path, row.arn = new_name, new_name.lower(), new_path, new_arn
            return _user(row)

    def set_user_tags(self, name: str, tags: Tags, max_tags: int) -> UserRecord:
        """Add or replace tags (a key matches regardless of case, and takes the case given last). Raises
        LimitReached, writing nothing, if the user would have more than `max_tags`."""
        with self._db.write(lock=IAM_LOCK) as session:
            row = find_user(session, name)
            row.tags = merge_tags(row.tags, tags, max_tags, "TagsPerUser")
            return _user(row)

    def remove_user_tags(self, name: str, keys: Iterable[str]) -> UserRecord:
        with self._db.write(lock=IAM_LOCK) as session:
            row = find_user(session, name)
            row.tags = drop_tags(row.tags, keys)
            return _user(row)

    def set_permissions_boundary(self, name: str, policy_arn: str | None) -> UserRecord:
        with self._db.write(lock=IAM_LOCK) as session:
            row = find_user(session, name)
            row.permissions_boundary = policy_arn
            return _user(row)

    def delete_user(self, name: str) -> UserRecord:
        """Raises IamEntityNotFound, or EntityInUse while the user has access keys, policies or groups."""
        with self._db.write(lock=IAM_LOCK) as session:
            row = find_user(session, name)
            holds = {"access keys": select(IamAccessKeyRow).where(IamAccessKeyRow.user_id == row.id),
                     "inline policies": held(IamInlinePolicyRow, USER, row.id),
                     "attached policies": held(IamAttachmentRow, USER, row.id),
                     "groups": select(IamGroupMemberRow).where(IamGroupMemberRow.user_id == row.id)}
            refuse_if_any(session, "user", row.name, holds)
            session.delete(row)
            return _user(row)

    # Groups

    def create_group(self, name: str, path: str, arn: str, group_id: str) -> GroupRecord:
        """Raises RecordExists if a group has this name in any case."""
        with self._db.write(lock=IAM_LOCK) as session:
            _check_free(session, IamGroupRow, name)
            row = IamGroupRow(name=name, folded_name=name.lower(), path=path, arn=arn, unique_id=group_id,
                              creation_time=self._clock())
            session.add(row)
            return _group(row)

    def group(self, name: str) -> GroupRecord | None:
        with self._db.read() as session:
            row = session.scalar(select(IamGroupRow).where(IamGroupRow.folded_name == name.lower()))
            return None if row is None else _group(row)

    def groups(self, path_prefix: str = "/") -> list[GroupRecord]:
        with self._db.read() as session:
            return [_group(row) for row in session.scalars(_under(IamGroupRow, path_prefix))]

    def update_group(self, name: str, new_name: str, new_path: str, new_arn: str) -> GroupRecord:
        with self._db.write(lock=IAM_LOCK) as session:
            row = find_group(session, name)
            if new_name.lower() != row.folded_name:
                _check_free(session, IamGroupRow, new_name)
            row.name, row.folded_name, row.path, row.arn = new_name, new_name.lower(), new_path, new_arn
            return _group(row)

    def delete_group(self, name: str) -> GroupRecord:
        """Raises IamEntityNotFound, or EntityInUse while the group has members or policies."""
        with self._db.write(lock=IAM_LOCK) as session:
            row = find_group(session, name)
            holds = {"members": select(IamGroupMemberRow).where(IamGroupMemberRow.group_id == row.id),
                     "inline policies": held(IamInlinePolicyRow, GROUP, row.id),
                     "attached policies": held(IamAttachmentRow, GROUP, row.id)}
            refuse_if_any(session, "group", row.name, holds)
            session.delete(row)
            return _group(row)

    def add_member(self, group_name: str, user_name: str, max_groups: int) -> None:
        """Put the user in the group (nothing changes if it is in already). Raises LimitReached if the user would
        be in more than `max_groups` groups."""
        with self._db.write(lock=IAM_LOCK) as session:
            group, user = find_group(session, group_name), find_user(session, user_name)
            if session.get(IamGroupMemberRow, (group.id, user.id)) is not None:
                return
            count = session.scalar(select(func.count()).where(IamGroupMemberRow.user_id == user.id)) or 0
            if count >= max_groups:
                raise LimitReached("GroupsPerUser", max_groups)
            session.add(IamGroupMemberRow(group_id=group.id, user_id=user.id))

    def remove_member(self, group_name: str, user_name: str) -> None:
        """Raises IamEntityNotFound for an unknown group or user, or one that is not a member ("membership")."""
        with self._db.write(lock=IAM_LOCK) as session:
            group, user = find_group(session, group_name), find_user(session, user_name)
            member = session.get(IamGroupMemberRow, (group.id, user.id))
            if member is None:
                raise IamEntityNotFound("membership", user.name)
            session.delete(member)

    def members(self, group_name: str) -> tuple[GroupRecord, list[UserRecord]]:
        """The group and its members in name order. Raises IamEntityNotFound."""
        with self._db.read() as session:
            group = find_group(session, group_name)
            query = (select(IamUserRow).join(IamGroupMemberRow, IamGroupMemberRow.user_id == IamUserRow.id)
                     .where(IamGroupMemberRow.group_id == group.id).order_by(IamUserRow.folded_name))
            return _group(group), [_user(row) for row in session.scalars(query)]

    def groups_of(self, user_name: str) -> list[GroupRecord]:
        """The user's groups in name order. Raises IamEntityNotFound."""
        with self._db.read() as session:
            user = find_user(session, user_name)
            query = (select(IamGroupRow).join(IamGroupMemberRow, IamGroupMemberRow.group_id == IamGroupRow.id)
                     .where(IamGroupMemberRow.user_id == user.id).order_by(IamGroupRow.folded_name))
            return [_group(row) for row in session.scalars(query)]

    # Access keys

    def create_access_key(self, user_name: str, access_key_id: str, sealed_secret: bytes,
                          max_keys: int) -> AccessKeyRecord:
        """An Active key. Raises IamEntityNotFound, or LimitReached if the user has `max_keys` keys already."""
        with self._db.write(lock=IAM_LOCK) as session:
            user = find_user(session, user_name)
            count = session.scalar(select(func.count()).where(IamAccessKeyRow.user_id == user.id)) or 0
            if count >= max_keys:
                raise LimitReached("AccessKeysPerUser", max_keys)
            row = IamAccessKeyRow(access_key_id=access_key_id, user_id=user.id, status="Active",
                                  sealed_secret=sealed_secret, creation_time=self._clock())
            session.add(row)
            return _key(row, user.name)

    def find_access_key(self, access_key_id: str) -> AccessKeyRecord | None:
        """The key with this id, of whichever user (the authenticator's one indexed query)."""
        query = (select(IamAccessKeyRow, IamUserRow.name).join(IamUserRow, IamUserRow.id == IamAccessKeyRow.user_id)
                 .where(IamAccessKeyRow.access_key_id == access_key_id))
        with self._db.read() as session:
            found = session.execute(query).first()
            return None if found is None else _key(found[0], found[1])

    def access_keys(self, user_name: str) -> list[AccessKeyRecord]:
        """The user's keys, oldest first. Raises IamEntityNotFound."""
        with self._db.read() as session:
            user = find_user(session, user_name)
            query = (select(IamAccessKeyRow).where(IamAccessKeyRow.user_id == user.id)
                     .order_by(IamAccessKeyRow.creation_time, IamAccessKeyRow.access_key_id))
            return [_key(row, user.name) for row in session.scalars(query)]

    def set_access_key_status(self, user_name: str, access_key_id: str, status: str) -> AccessKeyRecord:
        """Raises IamEntityNotFound for an unknown user, or a key that is not the user's ("access key")."""
        with self._db.write(lock=IAM_LOCK) as session:
            row, user = _users_key(session, user_name, access_key_id)
            row.status = status
            return _key(row, user.name)

    def delete_access_key(self, user_name: str, access_key_id: str) -> None:
        with self._db.write(lock=IAM_LOCK) as session:
            row, _ = _users_key(session, user_name, access_key_id)
            session.delete(row)

    def record_key_use(self, access_key_id: str, use: KeyUse) -> None:
        """Note a use of the key (GetAccessKeyLastUsed); a key deleted meanwhile is ignored. Off the request path:
        it writes without the IAM lock, and a later use wins."""
        with self._db.write() as session:
            row = session.get(IamAccessKeyRow, access_key_id)
            if row is not None and (row.last_used_time is None or row.last_used_time <= use.when):
                row.last_used_time, row.last_used_service, row.last_used_region = use.when, use.service, use.region


def find_user(session: Session, name: str) -> IamUserRow:
    row = session.scalar(select(IamUserRow).where(IamUserRow.folded_name == name.lower()))
    if row is None:
        raise IamEntityNotFound("user", name)
    return row


def find_group(session: Session, name: str) -> IamGroupRow:
    row = session.scalar(select(IamGroupRow).where(IamGroupRow.folded_name == name.lower()))
    if row is None:
        raise IamEntityNotFound("group", name)
    return row


def merge_tags(stored: list[list[str]], tags: Tags, max_tags: int, quota: str) -> list[list[str]]:
    """`stored` tags with `tags` set: a key matches regardless of case and takes the case given last; a new key goes
    last. Raises LimitReached(quota) if there would be more than `max_tags`."""
    merged = {key.lower(): [key, value] for key, value in stored}
    for key, value in tags:
        merged[key.lower()] = [key, value]
    if len(merged) > max_tags:
        raise LimitReached(quota, max_tags)
    return list(merged.values())


def drop_tags(stored: list[list[str]], keys: Iterable[str]) -> list[list[str]]:
    """`stored` tags without `keys` (matched regardless of case)."""
    gone = {key.lower() for key in keys}
    return [[key, value] for key, value in stored if key.lower() not in gone]


def refuse_if_any(session: Session, kind: str, name: str, holds: dict[str, Select[Any]]) -> None:
    """Raise EntityInUse naming the first of `holds` (what it may not have: a query of such rows) that has a row."""
    for what, query in holds.items():
        if session.scalar(select(exists(query))):
            raise EntityInUse(kind, name, what)



def held(row: type[IamInlinePolicyRow] | type[IamAttachmentRow], kind: str, holder_id: int) -> Select[Any]:
    """A query of the holder's rows of table `row` (its attachments or its inline policies)."""
    return select(row).where(row.holder_kind == kind, row.holder_id == holder_id)


def _check_free(session: Session, row: type[IamUserRow] | type[IamGroupRow], name: str) -> None:
    existing = session.scalar(select(row.arn).where(row.folded_name == name.lower()))
    if existing is not None:
        raise RecordExists(existing)


def _under(row: type[IamUserRow] | type[IamGroupRow], path_prefix: str) -> Select[Any]:
    return select(row).where(row.path.startswith(path_prefix, autoescape=True)).order_by(row.folded_name)


def _users_key(session: Session, user_name: str, access_key_id: str) -> tuple[IamAccessKeyRow, IamUserRow]:
    user = find_user(session, user_name)
    row = session.get(IamAccessKeyRow, access_key_id)
    if row is None or row.user_id != user.id:
        raise IamEntityNotFound("access key", access_key_id)
    return row, user


def _user(row: IamUserRow) -> UserRecord:
    return UserRecord(row.name, row.path, row.unique_id, row.arn, {key: value for key, value in row.tags},
                      row.creation_time, row.permissions_boundary)


def _group(row: IamGroupRow) -> GroupRecord:
    return GroupRecord(row.name, row.path, row.unique_id, row.arn, row.creation_time)


def _key(row: IamAccessKeyRow, user_name: str) -> AccessKeyRecord:
    used = None if row.last_used_time is None else KeyUse(row.last_used_time, row.last_used_service or "N/A",
                                                             row.last_used_region or "N/A")
    return AccessKeyRecord(row.access_key_id, user_name, row.status, row.sealed_secret, row.creation_time, used)

