"""CloudWatch Logs' tables: groups, their streams, the streams' events (monitoring/log_database.py reads and
writes them, so that every server on one database sees the same logs).

Times are epoch milliseconds, as CloudWatch Logs gives them. A stream row carries what DescribeLogStreams shows
without reading its events (counts, first and last timestamps), and how many bytes of its source file are shipped,
written in the transaction that appends the events read from them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from modelbay.store.metadata.tables import Base, BigSerial

NAME_LENGTH = 512  # CloudWatch Logs' longest group or stream name


class LogGroupRow(Base):
    __tablename__ = "log_groups"

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    creation_time: Mapped[int] = mapped_column(BigInteger)


class LogStreamRow(Base):
    __tablename__ = "log_streams"
    __table_args__ = (Index(None, "group_id", "name", unique=True),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("log_groups.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    creation_time: Mapped[int] = mapped_column(BigInteger)
    appended: Mapped[int] = mapped_column(BigInteger)  # events ever written: the last seq
    stored_bytes: Mapped[int] = mapped_column(BigInteger)
    first_event_timestamp: Mapped[int | None] = mapped_column(BigInteger)
    last_event_timestamp: Mapped[int | None] = mapped_column(BigInteger)
    last_ingestion_time: Mapped[int | None] = mapped_column(BigInteger)
    shipped_bytes: Mapped[int] = mapped_column(BigInteger)


class LogEventRow(Base):
    __tablename__ = "log_events"
    __table_args__ = (Index(None, "stream_id", "timestamp", "seq"),)

    stream_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("log_streams.id", ondelete="CASCADE"),
                                           primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    ingestion_time: Mapped[int] = mapped_column(BigInteger)
    message: Mapped[str] = mapped_column(Text)
