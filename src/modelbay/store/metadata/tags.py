"""Tags of resources, by ARN: the repository behind AddTags, ListTags, DeleteTags and Tags= members.

The search index keeps each document's tags as "Tags.<key>" properties: tag rows added or changed through the
ORM reach it by its flush hook, deletions by `retag` (search_index.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, select

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.paging import Page, decode_token, encode_token
from modelbay.store.metadata.search_index import retag
from modelbay.store.metadata.tables import TagRow

Tag = tuple[str, str]  # (key, value)


class TooManyTags(Exception):
    """Adding the tags would give the resource `total` tags, more than `max_tags`."""

    def __init__(self, arn: str, total: int, max_tags: int) -> None:
        super().__init__(f"{arn} would have {total} tags, more than {max_tags}")
        self.arn, self.total, self.max_tags = arn, total, max_tags


class TagRepository:
    """Key-value tags per resource ARN, listed in the order their keys were first added.

    Keys are case-sensitive. The repository does not check that a resource exists: tags are
    keyed by ARN alone, so they can be written as part of creating the resource.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, arn: str, tags: Sequence[Tag], max_tags: int | None = None) -> None:
        """Set each tag in one transaction: a new key goes last, an existing key keeps its place.

        When a key appears twice in `tags`, the later value wins. Raises TooManyTags,
        writing nothing, if the resource would then have more than `max_tags` tags.
        """
        wanted = dict(tags)
        with self._db.write(lock=f"tags {arn}") as session:
            rows = {row.key: row for row in session.scalars(select(TagRow).where(TagRow.resource_arn == arn))}
            total = len(rows.keys() | wanted.keys())
            if max_tags is not None and total > max_tags:
                raise TooManyTags(arn, total, max_tags)
            position = max((row.position for row in rows.values()), default=0)
            for key, value in wanted.items():
                if key in rows:
                    rows[key].value = value
                else:
                    position += 1
                    session.add(TagRow(resource_arn=arn, key=key, value=value, position=position))

    def list(self, arn: str, after_token: str | None = None, limit: int = 50) -> Page[Tag]:
        """Up to `limit` tags following the page that `after_token` ended (from the start if None).

        Raises InvalidToken for a token that no earlier page of this resource's tags gave;
        `limit` is at least 1.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        scope = f"tags {arn}"
        after = 0 if after_token is None else decode_token(scope, after_token)
        query = (select(TagRow.key, TagRow.value, TagRow.position)
                 .where(TagRow.resource_arn == arn, TagRow.position > after)
                 .order_by(TagRow.position).limit(limit + 1))
        with self._db.read() as session:
            rows = session.execute(query).all()
        page = rows[:limit]
        next_token = encode_token(scope, page[-1].position) if len(rows) > limit else None
        return Page([(row.key, row.value) for row in page], next_token)

    def delete(self, arn: str, keys: Iterable[str]) -> None:
        """Remove the tags with these keys in one transaction; keys the resource lacks are ignored."""
        with self._db.write() as session:
            session.execute(delete(TagRow).where(TagRow.resource_arn == arn, TagRow.key.in_(list(keys))))
            retag(session.connection(), [arn])  # a bulk DELETE passes by the index's flush hook

    def count(self, arn: str) -> int:
        with self._db.read() as session:
            return session.scalar(select(func.count()).where(TagRow.resource_arn == arn)) or 0
