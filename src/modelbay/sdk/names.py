"""Resource names as the SageMaker SDK makes them: a base from the image, then the time to the millisecond."""

from __future__ import annotations

import re
from datetime import UTC, datetime

MAX_NAME = 63  # the length limit of training job, model, endpoint and transform job names


def base_name_from_image(image: str, default: str) -> str:
    """The image's repository name without registry or tag (`…/sagemaker-xgboost:1.7-1` → `sagemaker-xgboost`),
    as the SageMaker SDK derives it, with characters a name cannot hold replaced by '-'; `default` if none are left."""
    repository = image.rstrip("/").rsplit("/", 1)[-1].split(":", 1)[0]
    return re.sub(r"[^a-zA-Z0-9]+", "-", repository).strip("-") or default


def name_from_base(base: str, now: datetime | None = None) -> str:
    """`<base>-<UTC time to the millisecond>` (`sklearn-2026-11-25-10-33-26-123`), the base cut so the name
    stays within 63 characters."""
    moment = now or datetime.now(UTC)
    stamp = f"{moment:%Y-%m-%d-%H-%M-%S}-{moment.microsecond // 1000:03d}"
    return f"{base[:MAX_NAME - len(stamp) - 1]}-{stamp}"
