"""Ground truth: the labels users send back for an endpoint's captured InferenceIds (modelbay's own, for A/B verdicts).

One label per (endpoint, InferenceId): a later one replaces the earlier, so sending a batch again is harmless.
A label is a number or a string, kept as JSON. Labels are kept RETENTION after they were last sent, as long as
CloudWatch keeps an endpoint's hourly metrics: a verdict never reaches further back than that. Each `put` deletes
the labels (of every endpoint) older than that, so nothing else needs to prune them.

Deleting an endpoint keeps its labels, as it keeps what the labels are joined with: the captured predictions stay
in the user's S3 destination and the endpoint's CloudWatch metrics stay for their retention, both found again by
the endpoint's name. An endpoint deleted and created again under its name (to change what UpdateEndpoint cannot, or
as a deployment tool replaces one) mid-experiment still has the labels of the predictions it captured before, and
labels sent late (ground truth often comes days after the prediction) are not lost to a delete in between; as
SageMaker's Model Monitor keeps ground truth in the user's S3, never deleted with an endpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta

from sqlalchemy import JSON, Index, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.records import Clock, utc_now
from modelbay.store.metadata.tables import Base, UtcDateTime

__all__ = ["RETENTION", "GroundTruthRepository", "GroundTruthRow", "Label"]

RETENTION = timedelta(days=455)
_IN_CHUNK = 1000  # InferenceIds per IN (...) query

Label = float | str


class GroundTruthRow(Base):
    __tablename__ = "ground_truth"
    __table_args__ = (Index(None, "label_time"),)

    endpoint_name: Mapped[str] = mapped_column(String(63), primary_key=True)
    inference_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[float | str] = mapped_column(JSON)
    label_time: Mapped[datetime] = mapped_column(UtcDateTime)


class GroundTruthRepository:
    """Labels by endpoint and InferenceId. Thread-safe; each method is one transaction."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    def put(self, endpoint: str, labels: Mapping[str, Label]) -> None:
        """Store each InferenceId's label, replacing the one stored before, and drop labels past RETENTION."""
        now = self._clock()
        with self._db.write(lock=f"ground truth {endpoint}") as session:
            stored = {row.inference_id: row for chunk in _chunks(list(labels)) for row in session.scalars(
                select(GroundTruthRow).where(GroundTruthRow.endpoint_name == endpoint,
                                             GroundTruthRow.inference_id.in_(chunk)))}
            for inference_id, label in labels.items():
                row = stored.get(inference_id)
                if row is None:
                    session.add(GroundTruthRow(endpoint_name=endpoint, inference_id=inference_id, label=label,
                                               label_time=now))
                else:
                    row.label, row.label_time = label, now
            session.execute(delete(GroundTruthRow).where(GroundTruthRow.label_time < now - RETENTION))

    def labels(self, endpoint: str, inference_ids: Iterable[str]) -> dict[str, Label]:
        """The labels stored for those of `inference_ids` that have one."""
        with self._db.read() as session:
            return {row.inference_id: row.label for chunk in _chunks(list(set(inference_ids)))
                    for row in session.scalars(select(GroundTruthRow).where(
                        GroundTruthRow.endpoint_name == endpoint, GroundTruthRow.inference_id.in_(chunk)))}


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start:start + _IN_CHUNK]
