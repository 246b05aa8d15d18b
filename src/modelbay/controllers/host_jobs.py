"""HostJobController: the controller of a job that runs a program on hosts (training, processing), but for
what its family alone does.

Such a job runs one instance per host `algo-<n>`, labelled {<family label>: <job>, "host": "algo-<n>"}, so
a restarted server finds them again. A pass never waits for a program: it resolves the image, prepares the
hosts in the background (the family stages its own data) and starts them, ships new log lines, stops every
instance with a grace period once the job is due to stop (a Stop* request, MaxRuntimeInSeconds passed, a
host failed), and once every instance has ended lets the family end the job (outputs, status), then
removes them. A failed job's FailureReason is the first failed host's (host_failures.py), told of a
framework version replaced by another (images.explain_failure).
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from modelbay.controllers.background import Wakeable, in_background
from modelbay.controllers.host_failures import failure_reason, has_failed
from modelbay.controllers.images import ImageProgram, Images, UnknownImage, explain_failure
from modelbay.controllers.instance_logs import log_tail, ship_log, stream_name
from modelbay.controllers.model_hosts import Launch
from modelbay.controllers.reasons import fit_reason
from modelbay.controllers.staging import StagingError
from modelbay.controllers.volume_keys import volume_key
from modelbay.instance_types import UnknownInstanceType, instance_type
from modelbay.platform import Platform
from modelbay.runtime.base import DEFAULT_VOLUME_SIZE_GB, Instance, InstanceSpec, Runtime, StartFailed
from modelbay.runtime.environments import EnvironmentBuildError
from modelbay.store.metadata.records import Repository

log = logging.getLogger(__name__)

# What preparing a job raises for a reason the user can act on; FailureReason says it as it is.
_PREPARATION_ERRORS = (StagingError, EnvironmentBuildError, UnknownImage, UnknownInstanceType)


class HostJobSpec(Protocol):
    @property
    def max_runtime_in_seconds(self) -> int: ...

    @property
    def instance_type(self) -> str: ...

    @property
    def instance_count(self) -> int: ...

    @property
    def volume_size_gb(self) -> int | None: ...

    @property
    def network_isolation(self) -> bool: ...


class HostJob(Protocol):
    """What the shared passes read of a job's record."""

    @property
    def name(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def stop_requested(self) -> bool: ...

    @property
    def spec(self) -> HostJobSpec: ...


J = TypeVar("J", bound=HostJob)


def host_names(count: int) -> list[str]:
    """algo-1 … algo-<count>."""
    return [f"algo-{n}" for n in range(1, count + 1)]


class HostJobController(Wakeable, abc.ABC, Generic[J]):
    """Keeps each InProgress or Stopping job's instances in step with the job.

    A family names its instance `label`, its `kind` and its `program` for reasons ("training job", "the
    training process"), the `role` its image runs in, its `log_group`, its `folder` under the data
    directory, the `lost_reason` of a job whose instances vanished and the `volume_key_member` of its requests
    (where they name the KMS key of their volumes); it implements the hooks below.
    `stop_grace_s` is the time between SIGTERM and SIGKILL when a job's instances are stopped.
    """

    label: ClassVar[str]
    kind: ClassVar[str]
    program: ClassVar[str]
    role: ClassVar[str]
    log_group: ClassVar[str]
    folder: ClassVar[str]
    lost_reason: ClassVar[str]
    volume_key_member: ClassVar[str]

    def __init__(self, platform: Platform, runtime: Runtime, images: Images, jobs: Repository[Any, J],
                 stop_grace_s: float) -> None:
        self.platform, self.runtime, self.images, self.stop_grace_s = platform, runtime, images, stop_grace_s
        self.jobs = jobs
        self.root = platform.settings.data_dir / self.folder
        self._stopping: set[str] = set()  # instances sent SIGTERM by this controller
        self._preparing: dict[str, Future[Launch]] = {}
        super().__init__(jobs.table)

    def names(self) -> list[str]:
        """Names of the jobs a pass has work for (InProgress or Stopping), oldest first."""
        return self.jobs.names_to_reconcile()

    def reconcile(self, name: str) -> None:
        """One idempotent pass over job `name`."""
        job = self.jobs.get(name)
        if job is None or job.status in self.jobs.lifecycle.ended:
            return
        found = self.runtime.list({self.label: name})
        if not found:
            self._launch(job)
            return
        for instance in found:
            shipped = ship_log(self.platform.logs, self.log_group, stream_name(name, instance), instance)
            self._shipped(job, shipped)
        if any(i.is_alive for i in found):
            self._stop_if_due(job, found)
            return
        self._finish(job, found)
        for instance in found:
            self.runtime.remove(instance.id)
            self._stopping.discard(instance.id)

    # -- the family's part ----------------------------------------------------------------

    @abc.abstractmethod
    def _image(self, job: J) -> str:
        """The image the job's instances run."""

    @abc.abstractmethod
    def _volume_kms_key_id(self, job: J) -> str | None:
        """The KMS key its request's `volume_key_member` names (its hosts' volumes are encrypted); None: none."""

    @abc.abstractmethod
    def _has_run(self, job: J) -> bool:
        """Whether the job's instances were started already (found none: the runtime forgot them)."""

    @abc.abstractmethod
    def _prepare(self, job: J, program: ImageProgram) -> Launch:
        """Ready the image, stage every host and build its instance (runs off the reconcile thread)."""

    @abc.abstractmethod
    def _record_start(self, job: J) -> None:
        """The job's instances are about to start."""

    @abc.abstractmethod
    def _record_stop(self, job: J) -> None:
        """The job was stopped before its instances started."""

    @abc.abstractmethod
    def _finish(self, job: J, found: list[Instance]) -> None:
        """Every instance has ended: end the job as they did (the shared pass removes them)."""

    @abc.abstractmethod
    def _fail(self, job: J, reason: str) -> None:
        """End the job Failed; FailureReason is `_explained(job, reason)`."""

    def _shipped(self, job: J, lines: list[str]) -> None:  # noqa: B027 - only training reads its log
        """The job's log lines a pass has just shipped."""

    def _last_words(self, failed: Instance) -> str:
        """What the failed program left to say: its log's tail."""
        return log_tail(failed.log_path)

    # -- launching ----------------------------------------------------------------------

    def _launch(self, job: J) -> None:
        """Prepare the job in the background (image, data), then start one instance per host."""
        if job.stop_requested:
            self._preparing.pop(job.name, None)  # a preparation still running ends unheard
            self._record_stop(job)
            return
        if self._has_run(job):
            self._fail(job, self.lost_reason)
            return
        preparing = self._preparing.get(job.name)
        if preparing is None:
            self._start_preparing(job)
            return
        if not preparing.done():
            return
        del self._preparing[job.name]
        try:
            launches = preparing.result()
        except _PREPARATION_ERRORS as err:
            self._fail(job, str(err))
            return
        except Exception as err:  # a bug or a broken machine: the job says so rather than retrying forever
            log.exception("preparing %s %s failed", self.kind, job.name)
            self._fail(job, f"InternalServerError: preparing the job failed: {type(err).__name__}: {err}")
            return
        self._record_start(job)
        try:
            self.runtime.start_together(launches)
        except StartFailed as err:
            self._fail(job, f"InternalServerError: {err}")

    def _start_preparing(self, job: J) -> None:
        """Resolve the image (an unknown one fails the job at once) and prepare the hosts in the background."""
        try:
            program = self.images.resolve(self._image(job), role=self.role)
        except UnknownImage as err:
            self._fail(job, str(err))
            return
        self._preparing[job.name] = in_background(lambda: self._prepare(job, program))
        self._preparing[job.name].add_done_callback(self.wake)

    # -- while running --------------------------------------------------------------------

    def _stop_if_due(self, job: J, found: list[Instance]) -> None:
        """Stop the instances on a Stop* request, past MaxRuntimeInSeconds, or when one host failed."""
        started = min(i.started_at for i in found)
        overdue = (datetime.now(UTC) - started).total_seconds() > job.spec.max_runtime_in_seconds
        if job.stop_requested or overdue or any(has_failed(i) for i in found):
            self._stop(found)

    def _stop(self, found: list[Instance]) -> None:
        """Stop each running instance not stopped already (SIGKILL after the grace period)."""
        for instance in found:
            if instance.is_alive and instance.id not in self._stopping:
                self.runtime.stop(instance.id, self.stop_grace_s)
                self._stopping.add(instance.id)

    # -- helpers for the family -------------------------------------------------------------

    def _failure_reason(self, found: list[Instance]) -> str | None:
        """Why the job failed, from its first failed host; None if none did (a stop is not a failure)."""
        return failure_reason(found, self.program, f"the {self.kind}", self.lost_reason, self._last_words)

    def _explained(self, job: J, reason: str) -> str:
        """`reason` as FailureReason: told of a replaced framework version, within the member's length."""
        return fit_reason(explain_failure(reason, [self._image(job)]))

    def _host_spec(self, job: J, host: str, argv: Sequence[str], opt_ml: Path, env: dict[str, str],
                   program: ImageProgram, entrypoint: tuple[str, ...] | None = None) -> InstanceSpec:
        """Host `host` of the job as an instance: named so among the job's hosts, which share a network of their
        own (isolated with EnableNetworkIsolation), on a scratch volume of the job's VolumeSizeInGB (encrypted under
        a data key of its own when the job names a volume key); in the OCI image of `program` (with `entrypoint`
        replacing the image's) where the runtime runs images, else with a directory image's directory shown at
        /opt/program. Raise StagingError for a volume key that can no longer be used."""
        spec = job.spec
        return InstanceSpec(tuple(argv), opt_ml, instance_type(spec.instance_type), env, hostname=host,
                            peers=tuple(host_names(spec.instance_count)),
                            volume_size_gb=spec.volume_size_gb or DEFAULT_VOLUME_SIZE_GB,
                            network_group=f"{self.label}/{job.name}", isolated=spec.network_isolation,
                            image=program.reference, entrypoint=entrypoint, program_dir=program.directory,
                            volume_key=volume_key(self.platform, self._volume_kms_key_id(job), self.volume_key_member))

    def _labels(self, job: J, host: str) -> dict[str, str]:
        return {self.label: job.name, "host": host}

    def _dir(self, name: str) -> Path:
        return self.root / name
