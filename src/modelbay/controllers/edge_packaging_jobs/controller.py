"""EdgePackagingController: packages each STARTING or INPROGRESS edge packaging job's compiled model, signed.

Packaging runs no instance: a pass moves a STARTING job INPROGRESS and hands the packaging (read the compilation
job's artifact, write the package to OutputConfig.S3OutputLocation as `<ModelName>-<ModelVersion>.tar.gz`, under
OutputConfig.KmsKeyId if given) to a background thread; its end wakes the controller, which ends the job COMPLETED
(ModelArtifact, ModelSignature and the package's SHA-1 recorded) or FAILED with the reason. A STOPPING job ends
STOPPED once no packaging of it is under way (a package being written is finished first, then left unused).

Restart-safe by starting over: the packaging under way lives in this controller's memory, so an INPROGRESS job found
without it (the server restarted) is packaged again; the package is written whole and atomically.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import BinaryIO, cast

from modelbay.controllers.background import Wakeable, in_background
from modelbay.controllers.edge_packaging_jobs.packages import Package, PackageIdentity, PackagingFailed, build_package
from modelbay.controllers.reasons import fit_reason
from modelbay.controllers.uploads import put_stream
from modelbay.platform import Platform
from modelbay.security.edge_signing import EdgeSigner
from modelbay.statuses import CompilationJobStatus, EdgePackagingJobStatus
from modelbay.store.metadata.edge_packaging_jobs import EdgePackagingJob
from modelbay.store.objects.base import ObjectStoreError
from modelbay.store.objects.uris import S3Location, parse_uri

log = logging.getLogger(__name__)

PACKAGE_CONTENT_TYPE = "application/gzip"


class EdgePackagingController(Wakeable):
    """Keeps each edge packaging job that has not ended moving: packaging it, then recording how that went."""

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform.metadata.edge_packaging_jobs.table)
        self.platform = platform
        self._work: dict[str, Future[Package]] = {}  # the packaging under way, by job name

    def names(self) -> list[str]:
        return self.platform.metadata.edge_packaging_jobs.names_to_reconcile()

    def reconcile(self, name: str) -> None:
        jobs = self.platform.metadata.edge_packaging_jobs
        job, work = jobs.get(name), self._work.get(name)
        if job is None:
            return
        if job.status == EdgePackagingJobStatus.STOPPING:
            if work is None or work.done():
                self._work.pop(name, None)
                jobs.advance(name, EdgePackagingJobStatus.STOPPED)
        elif work is None:
            if job.status == EdgePackagingJobStatus.STARTING:
                jobs.advance(name, EdgePackagingJobStatus.INPROGRESS)
            self._work[name] = in_background(lambda: self._package(job))
            self._work[name].add_done_callback(self.wake)
        elif work.done():
            del self._work[name]
            self._finish(job, work)

    def _finish(self, job: EdgePackagingJob, work: Future[Package]) -> None:
        jobs = self.platform.metadata.edge_packaging_jobs
        try:
            package = work.result()
        except PackagingFailed as err:
            jobs.advance(job.name, EdgePackagingJobStatus.FAILED, failure_reason=fit_reason(str(err)))
            return
        except Exception as err:  # a bug or a store failing: the job fails with it, the server goes on
            log.exception("packaging edge packaging job %s failed", job.name)
            jobs.advance(job.name, EdgePackagingJobStatus.FAILED,
                         failure_reason=fit_reason(f"InternalFailure: packaging failed ({type(err).__name__})."))
            return
        package.data.close()
        jobs.advance(job.name, EdgePackagingJobStatus.COMPLETED, model_artifact=job.spec.package_uri,
                     model_signature=package.signature, package_sha1=package.sha1)

    def _package(self, job: EdgePackagingJob) -> Package:
        """Build the job's package from its compilation job's artifact and store it (background work)."""
        spec, objects = job.spec, self.platform.objects
        artifact = self._compiled_artifact(spec.compilation_job_name)
        identity = PackageIdentity(spec.model_name, spec.model_version, spec.compilation_job_name)
        try:
            with objects.open(artifact.bucket, artifact.key, keys=self.platform.kms) as compiled:
                # an ObjectReader reads as a binary file does, which is all tarfile asks of it
                package = build_package(cast(BinaryIO, compiled), identity, EdgeSigner(self.platform.master_key))
            put_stream(objects, package.data, spec.package_uri, PACKAGE_CONTENT_TYPE, spec.kms_key_id,
                       self.platform.kms)
        except ObjectStoreError as err:
            raise PackagingFailed(f"The package could not be made: {type(err).__name__}: {err}") from err
        package.data.seek(0)
        return package

    def _compiled_artifact(self, name: str) -> S3Location:
        """Where the COMPLETED compilation job's model is; PackagingFailed if the job is gone or did not complete."""
        compilation = self.platform.metadata.compilation_jobs.get(name)
        if compilation is None or compilation.status != CompilationJobStatus.COMPLETED \
                or compilation.model_artifact is None:
            raise PackagingFailed(f"Compilation job {name} has no compiled model: it is not COMPLETED.")
        location = parse_uri(compilation.model_artifact)
        if not isinstance(location, S3Location):
            raise PackagingFailed(f"Compilation job {name}'s model is not in S3: {compilation.model_artifact}.")
        return location
