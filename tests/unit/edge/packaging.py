"""Edge packages and models made for the agent's tests: a signed package (interface 6) of a fake model that the
fake loader loads, so the agent's checks run without a compiler."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from numpy.typing import NDArray

MODEL_FILE = "model.json"


class FakeModel:
    """Predicts each row's sum times `scale`; `broken` models answer NaN (they fail the health check)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.manifest = {"runtime": "fake", **settings}
        self.scale, self.broken = float(settings.get("scale", 1)), bool(settings.get("broken"))

    def predict(self, rows: NDArray[Any]) -> NDArray[Any]:
        if self.broken:
            return numpy.full(len(rows), numpy.nan)
        return numpy.asarray(rows, dtype=numpy.float32).sum(axis=1) * self.scale

    def sample_input(self) -> NDArray[Any]:
        return numpy.ones((2, 3), dtype=numpy.float32)


def load_fake(path: Path) -> FakeModel:
    return FakeModel(json.loads((path / MODEL_FILE).read_text()))


def public_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def package(key: Ed25519PrivateKey, version: str = "1", model: dict[str, Any] | None = None,
            listed: dict[str, bytes] | None = None, actual: dict[str, bytes] | None = None,
            name: str = "forest") -> bytes:
    """A package .tar.gz: `listed` files in the signed index (default: the fake model's file), `actual` the files
    in the archive (default: the listed ones), signed with `key`."""
    listed = listed if listed is not None else {MODEL_FILE: json.dumps(model or {"scale": 1}).encode()}
    index = json.dumps({"ModelName": name, "ModelVersion": version, "CompilationJobName": "job",
                        "Files": {path: hashlib.sha256(data).hexdigest() for path, data in listed.items()}}).encode()
    files = {**(actual if actual is not None else listed), "edge-package.json": index,
             "edge-package.sig": base64.b64encode(key.sign(index))}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
