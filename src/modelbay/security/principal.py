"""Who is calling."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    access_key_id: str | None  # None for an unsigned request
    account_id: str

    @property
    def arn(self) -> str:
        if self.access_key_id is None:
            return "anonymous"
        return f"arn:aws:iam::{self.account_id}:user/{self.access_key_id}"
