"""What the analyzer's tests share: the SageMaker SDK's monitoring files read from a local folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from sagemaker import s3


@pytest.fixture
def sdk_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder whose files the SDK's Statistics, Constraints and ConstraintViolations read as
    `s3://bucket/<path>`, through their from_s3_uri (S3Downloader.read_file is where S3 is read)."""
    def read_file(s3_uri: str, sagemaker_session: object = None) -> str:
        return (tmp_path / s3_uri.removeprefix("s3://bucket/")).read_text()
    monkeypatch.setattr(s3.S3Downloader, "read_file", staticmethod(read_file))
    return tmp_path
