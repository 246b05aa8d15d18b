"""IAM's tables: users, groups and their members, access keys, customer managed policies and their versions, and the
policies attached to or embedded in users, groups and roles.

IAM names are unique regardless of case, so each named row keeps its name as given and, under a unique index, folded
to lower case (`folded_name`), which lookups use. Attachments and inline policies name their holder by kind ("user",
"group", "role") and row id (roles are rows of roles.py's table), so renaming a user or a group moves nothing.
An attachment names its policy by ARN: AWS managed policies (arn:aws:iam::aws:policy/…) have no row here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from modelbay.store.metadata.tables import Base, BigSerial, UtcDateTime

USER, GROUP, ROLE = "user", "group", "role"  # the kinds of entity that hold policies
ARN_LENGTH = 2048  # IAM's arnType
PATH_LENGTH = 512


class IamUserRow(Base):
    """One IAM user; `tags` is a list of [key, value] pairs in the order they were first added."""

    __tablename__ = "iam_users"

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    folded_name: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(PATH_LENGTH))
    arn: Mapped[str] = mapped_column(String(ARN_LENGTH))
    unique_id: Mapped[str] = mapped_column(String(32), unique=True)  # AIDA…
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)
    tags: Mapped[list[list[str]]] = mapped_column(JSON)
    permissions_boundary: Mapped[str | None] = mapped_column(String(ARN_LENGTH))  # a managed policy's ARN


class IamGroupRow(Base):
    __tablename__ = "iam_groups"

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    folded_name: Mapped[str] = mapped_column(String(128), unique=True)
    path: Mapped[str] = mapped_column(String(PATH_LENGTH))
    arn: Mapped[str] = mapped_column(String(ARN_LENGTH))
    unique_id: Mapped[str] = mapped_column(String(32), unique=True)  # AGPA…
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)


class IamGroupMemberRow(Base):
    __tablename__ = "iam_group_members"
    __table_args__ = (Index(None, "user_id"),)

    group_id: Mapped[int] = mapped_column(ForeignKey("iam_groups.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("iam_users.id"), primary_key=True)


class IamAccessKeyRow(Base):
    """A user's access key: its secret sealed by the master key (with the key id as context), never in the clear."""

    __tablename__ = "iam_access_keys"
    __table_args__ = (Index(None, "user_id"),)

    access_key_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("iam_users.id"))
    status: Mapped[str] = mapped_column(String(16))
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)
    last_used_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_service: Mapped[str | None] = mapped_column(String(64))
    last_used_region: Mapped[str | None] = mapped_column(String(32))


class IamPolicyRow(Base):
    """A customer managed policy; `latest_version` is the number of the last version made (numbers are not reused)."""

    __tablename__ = "iam_policies"

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    folded_name: Mapped[str] = mapped_column(String(128), unique=True)
    path: Mapped[str] = mapped_column(String(PATH_LENGTH))
    arn: Mapped[str] = mapped_column(String(ARN_LENGTH), unique=True)
    unique_id: Mapped[str] = mapped_column(String(32), unique=True)  # ANPA…
    description: Mapped[str | None] = mapped_column(Text)
    default_version: Mapped[int] = mapped_column(Integer)
    latest_version: Mapped[int] = mapped_column(Integer)
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)
    update_time: Mapped[datetime] = mapped_column(UtcDateTime)
    tags: Mapped[list[list[str]]] = mapped_column(JSON)


class IamPolicyVersionRow(Base):
    __tablename__ = "iam_policy_versions"

    policy_id: Mapped[int] = mapped_column(ForeignKey("iam_policies.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)


class IamAttachmentRow(Base):
    """A managed policy attached to a user, a group or a role."""

    __tablename__ = "iam_attachments"
    __table_args__ = (Index(None, "policy_arn"),)

    holder_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    holder_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    policy_arn: Mapped[str] = mapped_column(String(ARN_LENGTH), primary_key=True)
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)  # the order ListAttached*Policies answers in


class IamInlinePolicyRow(Base):
    """A policy embedded in a user, a group or a role (Put{User,Group,Role}Policy)."""

    __tablename__ = "iam_inline_policies"

    holder_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    holder_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    document: Mapped[str] = mapped_column(Text)
