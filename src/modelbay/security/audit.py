"""The audit trail: every API call is recorded, and the caller never waits for the database; what it recorded can
be verified (a hash chain of the events, signed heads, the trails' signed digests)."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from modelbay.security.audit_verification import Verification, verify
from modelbay.store.metadata import SUCCESS, AuditEvent, MetadataStore
from modelbay.store.objects.base import ObjectStore

__all__ = ["SUCCESS", "AuditEvent", "AuditTrail", "Verification"]

log = logging.getLogger(__name__)

# Failures after which the same write may well succeed: the database is down, locked or busy.
_TRANSIENT = (OperationalError, InterfaceError, PoolTimeout)


class AuditTrail:
    """Takes AuditEvents from any thread; one background thread writes them to the store.

    - record() only queues the event: it never touches the database.
    - Events are written in the order recorded, in batches of at most `batch_size`, each batch
      within about `flush_interval_s` of its first event being recorded (sooner when a batch
      fills up, or on flush() and close()). With no event to write, the writer sleeps until one comes.
    - While the database fails transiently (down, locked, out of connections) the writer logs it
      and retries the same batch, backing off up to `max_retry_delay_s`; events wait in memory.
    - An event the database refuses for itself (any other error) is logged in full and
      dropped, so that it cannot hold back the events after it.
    - close() writes everything recorded before it returns, unless told to give up after a time.
    """

    def __init__(self, store: MetadataStore, flush_interval_s: float = 0.1, batch_size: int = 500,
                 max_retry_delay_s: float = 5.0) -> None:
        self._audit = store.audit
        self._flush_interval_s = flush_interval_s
        self._batch_size = batch_size
        self._max_retry_delay_s = max_retry_delay_s
        self._cond = threading.Condition()
        self._pending: deque[AuditEvent] = deque()
        self._recorded = 0  # events ever recorded
        self._done = 0  # events the writer is past (written, or dropped as refused)
        self._flushes = 0  # flush() calls waiting
        self._is_closing = False
        self._is_abandoned = False  # close() stopped waiting: stop even with events unwritten
        self._writer = threading.Thread(target=self._run, name="audit-trail-writer", daemon=True)
        self._writer.start()

    def record(self, event: AuditEvent) -> None:
        """Queue an event to be written and return at once. RuntimeError after close()."""
        with self._cond:
            if self._is_closing:
                raise RuntimeError("the audit trail is closed")
            self._pending.append(event)
            self._recorded += 1
            if len(self._pending) in (1, self._batch_size):  # the writer's interval starts, or its batch is full
                self._cond.notify_all()

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every event recorded before this call is written; False if timeout_s passed first."""
        with self._cond:
            target = self._recorded
            self._flushes += 1
            self._cond.notify_all()
            try:
                self._cond.wait_for(lambda: self._done >= target or self._is_abandoned, timeout_s)
                return self._done >= target
            finally:
                self._flushes -= 1

    def verify(self, objects: ObjectStore, since: datetime | None = None, until: datetime | None = None,
               flush_timeout_s: float | None = None) -> Verification:
        """Whether the events with since <= event_time < until, and the trails' files in `objects` that hold them,
        are as written (security/audit_verification.py), once the events recorded before this call are written."""
        self.flush(flush_timeout_s)
        return verify(self._audit, objects, since, until)

    def close(self, timeout_s: float | None = None) -> None:
        """Refuse new events, write the recorded ones, and stop the writer thread.

        With `timeout_s`, stop waiting for a failing database after that long: the events not
        written by then are lost, and an error says how many. Closing again does nothing.
        """
        with self._cond:
            self._is_closing = True
            self._cond.notify_all()
        self._writer.join(timeout_s)
        if self._writer.is_alive():
            with self._cond:
                self._is_abandoned = True
                self._cond.notify_all()
            self._writer.join()

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            if not self._write(batch):
                break
            with self._cond:
                self._done += len(batch)
                self._cond.notify_all()
        with self._cond:
            lost = self._recorded - self._done
        if lost:
            log.error("audit trail closed with %d events not written: the database kept failing", lost)

    def _next_batch(self) -> list[AuditEvent] | None:
        """The events to write next (perhaps none yet), or None when the writer should stop."""
        with self._cond:
            self._cond.wait_for(lambda: self._pending or self._is_abandoned or self._is_closing)  # idle: no wake-ups
            self._cond.wait_for(self._is_due, self._flush_interval_s)
            if self._is_abandoned or (self._is_closing and not self._pending):
                return None
            return [self._pending.popleft() for _ in range(min(len(self._pending), self._batch_size))]

    def _is_due(self) -> bool:
        """Whether the writer should act before its interval is up."""
        return (self._is_abandoned or self._is_closing or len(self._pending) >= self._batch_size
                or (self._flushes > 0 and bool(self._pending)))

    def _write(self, batch: list[AuditEvent]) -> bool:
        """Write the batch, else each event alone; False if close() gave up first."""
        if not batch:
            return True
        try:
            return self._append_retrying(batch)
        except Exception:
            log.exception("the database refused a batch of %d audit events; writing them one by one",
                          len(batch))
        for event in batch:
            try:
                if not self._append_retrying([event]):
                    return False
            except Exception:
                log.exception("audit event dropped, the database refuses it: %r", event)
        return True

    def _append_retrying(self, events: Sequence[AuditEvent]) -> bool:
        """Append, retrying transient failures; False if close() gave up first. Other errors raise."""
        delay = self._flush_interval_s
        while True:
            try:
                self._audit.append(events)
                return True
            except _TRANSIENT:
                log.warning("audit trail cannot write to the database; retrying in %.2fs", delay, exc_info=True)
            with self._cond:
                if self._cond.wait_for(lambda: self._is_abandoned, delay):
                    return False
            delay = min(delay * 2, self._max_retry_delay_s)
