"""IAM roles: named records, each described by the CreateRole request that made it (see services/iam/roles.py).

A role is an immutable definition like a model, so the definitions' repository serves it over a table of
its own; only its name may be longer (IAM allows 64 characters).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from modelbay.store.metadata.definitions import Definition, DefinitionRow


class RoleRow(DefinitionRow):
    """One role: its CreateRole request with the RoleId it was given."""

    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(64), unique=True)


@dataclass(frozen=True)
class Role(Definition):
    """A role; `request` is its CreateRole request with defaults filled in and its `RoleId`."""
