"""Applying what GetDeployments lists: each definition's package downloaded, its checksum and signature checked,
extracted, loaded and health-checked, then the models swapped in together.

A deployment is applied once (AgentState.applied remembers it). Its models change the table in one swap, after all
of them are ready, so until then the previous models keep serving; if one fails under ROLLBACK_ON_FAILURE none is
swapped in (the previous models are kept), under DO_NOTHING those that succeeded are. Either way the result is
FAILED with the reasons, DEPLOYED otherwise, and waits in AgentState.unreported for the next heartbeat. The server
being unreachable is not a failure: the deployment is tried again at the next interval.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from modelbay.edge import packages
from modelbay.edge.models import LoadedModel, Loader, ModelTable, load_checked
from modelbay.edge.network import is_unreachable
from modelbay.edge.state import AgentState

Download = Callable[[str, Path], None]  # (s3://bucket/key, file to write)
log = logging.getLogger(__name__)


class DeploymentFailed(Exception):
    """A definition that cannot be deployed; its str is the reason reported."""


def s3_download(s3: Any) -> Download:
    """A Download through a boto3 S3 client."""
    def download(url: str, into: Path) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or not parts.path.strip("/"):
            raise DeploymentFailed(f"{url!r} is not an s3://bucket/key URL")
        s3.download_file(parts.netloc, parts.path.lstrip("/"), str(into))
    return download


def deployment_key(deployment: Mapping[str, Any]) -> str:
    """What identifies a deployment: its name and each definition's handle and checksum."""
    definitions = ",".join(f"{d['ModelHandle']}={d.get('Checksum', {}).get('Sum', '')}:{d.get('State', 'DEPLOY')}"
                           for d in deployment.get("Definitions", []))
    return f"{deployment['DeploymentName']}|{definitions}"


class Deployer:
    """Applies deployments to `table`, keeping `state` (saved in `state_dir`) in step."""

    def __init__(self, state_dir: Path, state: AgentState, table: ModelTable, download: Download,
                 key: Callable[[], Ed25519PublicKey], loader: Loader) -> None:
        self._dir, self._state, self._table = state_dir, state, table
        self._download, self._key, self._loader = download, key, loader

    def restore(self) -> None:
        """Load the models current.json names (the last good ones); one that no longer loads is left out."""
        loaded: dict[str, LoadedModel | None] = {}
        for handle, entry in self._state.models.items():
            try:
                loaded[handle] = load_checked(handle, entry["ModelName"], entry["ModelVersion"],
                                              Path(entry["Path"]), self._loader)
            except Exception:  # a damaged state dir must not keep the agent from serving the rest
                log.exception("model %s at %s no longer loads", handle, entry["Path"])
        self._table.swap(loaded)

    def apply(self, deployments: list[Mapping[str, Any]]) -> int:
        """Apply the deployments not applied yet; return how many were. Raises what is_unreachable accepts."""
        done = 0
        for deployment in deployments:
            key = deployment_key(deployment)
            if key not in self._state.applied:
                self._apply(key, deployment)
                done += 1
        return done

    def _apply(self, key: str, deployment: Mapping[str, Any]) -> None:
        started = time.time()
        ready: dict[str, LoadedModel | None] = {}
        outcomes: list[dict[str, Any]] = []
        for definition in deployment.get("Definitions", []):
            outcome, model = self._prepare(definition)
            outcomes.append(outcome)
            if outcome["Status"] == "SUCCESS":
                ready[definition["ModelHandle"]] = model
        failed = [outcome for outcome in outcomes if outcome["Status"] == "FAIL"]
        rolled_back = bool(failed) and deployment.get("FailureHandlingPolicy") == "ROLLBACK_ON_FAILURE"
        self._table.swap({} if rolled_back else ready)
        self._record(key, deployment, outcomes, started, rolled_back)

    def _prepare(self, definition: Mapping[str, Any]) -> tuple[dict[str, Any], LoadedModel | None]:
        """Ready one definition: (its DeploymentModels entry, the model to swap in, None to remove the handle)."""
        handle = definition["ModelHandle"]
        outcome: dict[str, Any] = {"ModelHandle": handle, "DesiredState": definition.get("State", "DEPLOY")}
        if outcome["DesiredState"] == "UNDEPLOY":
            return outcome | {"State": "UNDEPLOY", "Status": "SUCCESS"}, None
        try:
            model = self._fetch(handle, definition)
        except Exception as err:  # any failure of the package or its model is this definition's, reported
            if is_unreachable(err):
                raise
            log.warning("deploying %s failed: %s", handle, err)
            return outcome | {"Status": "FAIL", "StatusReason": str(err) or type(err).__name__}, None
        return outcome | {"ModelName": model.name, "ModelVersion": model.version, "Status": "SUCCESS"}, model

    def _fetch(self, handle: str, definition: Mapping[str, Any]) -> LoadedModel:
        models = self._dir / "models" / handle
        models.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=models, prefix=".download-") as scratch:
            archive = Path(scratch) / "package.tar.gz"
            self._download(definition["S3Url"], archive)
            _check_sum(archive, definition.get("Checksum", {}))
            package = packages.extract(archive, models, self._key())
        try:
            return load_checked(handle, package.model_name, package.model_version, package.path, self._loader)
        except BaseException:
            if self._state.models.get(handle, {}).get("Path") != str(package.path):
                shutil.rmtree(package.path, ignore_errors=True)
            raise

    def _record(self, key: str, deployment: Mapping[str, Any], outcomes: list[dict[str, Any]], started: float,
                rolled_back: bool) -> None:
        """Save the models now served, the deployment as applied and its result to report."""
        served = self._table.current
        self._state.models = {handle: {"ModelName": m.name, "ModelVersion": m.version, "Path": str(m.path)}
                              for handle, m in served.items()}
        for outcome in outcomes:
            outcome.setdefault("State", "DEPLOY" if outcome["ModelHandle"] in served else "UNDEPLOY")
        failures = [f"{o['ModelHandle']}: {o['StatusReason']}" for o in outcomes if o["Status"] == "FAIL"]
        status = "FAILED" if failures else "DEPLOYED"
        message = "; ".join(failures) + ("; rolled back to the previous models" if rolled_back else "")
        self._state.applied[key] = status
        self._state.unreported.append({
            "DeploymentName": deployment["DeploymentName"], "DeploymentStatus": status,
            "DeploymentStatusMessage": message or "deployed", "DeploymentStartTime": started,
            "DeploymentEndTime": time.time(), "DeploymentModels": outcomes})
        self._state.save(self._dir)
        self._prune()

    def _prune(self) -> None:
        """Remove package folders no model serves from any more."""
        kept = {entry["Path"] for entry in self._state.models.values()}
        for folder in (self._dir / "models").glob("*/*"):
            if folder.is_dir() and not folder.name.startswith(".") and str(folder) not in kept:
                shutil.rmtree(folder, ignore_errors=True)


def _check_sum(archive: Path, checksum: Mapping[str, Any]) -> None:
    if checksum.get("Type", "SHA1") != "SHA1":
        raise DeploymentFailed(f"checksum type {checksum.get('Type')!r} is not supported (SHA1 is)")
    digest = hashlib.sha1()  # the algorithm GetDeployments names, checked as it asks
    with archive.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    expected = str(checksum.get("Sum", "")).lower()
    if digest.hexdigest() != expected:
        raise DeploymentFailed(f"the package's SHA1 {digest.hexdigest()} is not the checksum {expected!r}")
