"""MonitoringScheduleController: schedules each monitoring schedule, runs an execution at each of its scheduled
times, and follows each execution's processing job to its end.

A Pending schedule (created or updated) becomes Scheduled. A Scheduled one runs an execution when due: a cron
schedule at each tick after it was last changed, within the tick's minute (as Application Auto Scaling's
scheduled actions, schedules.due); a NOW schedule once, at once. An execution whose window holds no captured
data fails as SageMaker's do ("Job inputs had no data"); else it is a processing job (jobs.py) that the
processing controller runs, and its status follows the job's: Completed, or CompletedWithViolations when the
analyzer listed violations; its CloudWatch metrics are recorded when the job ends (results.py). Everything is
read from the store each pass (the execution's name is its processing job's), so a restart loses nothing.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from datetime import datetime

from modelbay import schedules
from modelbay.controllers.background import Wakeable
from modelbay.controllers.monitoring_schedules.jobs import Execution, capture_inputs, processing_request
from modelbay.controllers.monitoring_schedules.results import has_violations, record_metrics
from modelbay.controllers.processing_jobs.controller import ProcessingController
from modelbay.platform import Platform
from modelbay.statuses import MonitoringExecutionStatus, MonitoringScheduleStatus, ProcessingJobStatus
from modelbay.store.metadata import (
    MonitoringExecution,
    MonitoringJobSpec,
    MonitoringSchedule,
    ProcessingJob,
    ProcessingJobNotFound,
    RecordExists,
    StatusConflict,
)
from modelbay.store.metadata.records import Clock, utc_now

log = logging.getLogger(__name__)

NO_DATA = "Job inputs had no data"
CONSTRAINTS_FILE, STATISTICS_FILE = "constraints.json", "statistics.json"  # what a baselining job writes
LOST_JOB = "InternalServerError: the execution's processing job was not found"
# How an execution's status follows its processing job's, but for Completed (which reads the violations).
_FOLLOWS = {ProcessingJobStatus.STOPPING: MonitoringExecutionStatus.STOPPING,
            ProcessingJobStatus.STOPPED: MonitoringExecutionStatus.STOPPED,
            ProcessingJobStatus.FAILED: MonitoringExecutionStatus.FAILED}


class MonitoringScheduleController(Wakeable):
    """Runs each Pending or Scheduled schedule and follows the executions that have not ended. `clock` gives now."""

    def __init__(self, platform: Platform, clock: Clock = utc_now) -> None:
        self.platform, self.clock = platform, clock
        self.metadata = platform.metadata
        super().__init__(self.metadata.monitoring_schedules.table, self.metadata.monitoring_executions.table)

    def names(self) -> list[str]:
        """The schedules to schedule or run, and those with executions running (even if stopped or deleted)."""
        return sorted(set(self.metadata.monitoring_schedules.names_to_reconcile())
                      | set(self.metadata.monitoring_executions.schedules_running()))

    def reconcile(self, name: str) -> None:
        """One idempotent pass over schedule `name`."""
        schedule = self.metadata.monitoring_schedules.get(name)
        if schedule is None:
            self._forget(name)
            return
        for execution in self.metadata.monitoring_executions.of_schedule(name, running=True):
            self._follow(execution)
        if schedule.status is MonitoringScheduleStatus.PENDING:
            schedule = self.metadata.monitoring_schedules.advance(name, MonitoringScheduleStatus.SCHEDULED)
        if schedule.status is MonitoringScheduleStatus.SCHEDULED:
            self._run_if_due(schedule)

    # -- starting executions ----------------------------------------------------------------

    def _run_if_due(self, schedule: MonitoringSchedule) -> None:
        scheduled_time = self._due(schedule)
        if scheduled_time is not None:
            self._start(Execution.at(schedule, self._job(schedule), scheduled_time))

    def _due(self, schedule: MonitoringSchedule) -> datetime | None:
        """The scheduled time of the execution due now, if one is: NOW's once after the schedule last changed,
        a cron tick's within its minute."""
        now, expression = self.clock(), schedule.spec.schedule_expression or ""
        latest = self.metadata.monitoring_executions.latest(schedule.name)
        last_run = None if latest is None else latest.scheduled_time
        if expression == schedules.NOW:
            return now if last_run is None or last_run < schedule.last_modified_time else None
        return schedules.due(schedules.parse(expression), schedules.zone(None), schedule.last_modified_time, last_run,
                              now)

    def _job(self, schedule: MonitoringSchedule) -> MonitoringJobSpec:
        """The job the schedule runs, with the baseline files its BaseliningJobName wrote where it names none."""
        if schedule.spec.inline_job is not None:
            job = MonitoringJobSpec.from_inline(schedule.spec.inline_job)
        else:
            definition = self.metadata.data_quality_job_definitions.get(schedule.spec.job_definition_name or "")
            if definition is None:  # DeleteDataQualityJobDefinition refuses while a schedule names it
                raise LookupError(f"job definition {schedule.spec.job_definition_name} of {schedule.name} is gone")
            job = definition.spec
        baselining = self.metadata.processing_jobs.get(job.baselining_job_name or "")
        if baselining is None or not baselining.spec.outputs:
            return job
        output = baselining.spec.outputs[0].s3_uri.rstrip("/")
        return replace(job, constraints_uri=job.constraints_uri or f"{output}/{CONSTRAINTS_FILE}",
                       statistics_uri=job.statistics_uri or f"{output}/{STATISTICS_FILE}")

    def _start(self, execution: Execution) -> None:
        """Record the execution, then fail it for want of data or create its processing job."""
        spec = execution.schedule.spec
        try:
            self.metadata.monitoring_executions.create(
                execution.name, execution.arn, execution.schedule.name, execution.scheduled_time,
                spec.monitoring_type, execution.job.endpoint_name, spec.job_definition_name)
        except RecordExists:
            return  # made by an earlier pass
        inputs = self._capture_inputs(execution)
        if not inputs:
            self.metadata.monitoring_executions.advance(execution.name, MonitoringExecutionStatus.FAILED,
                                                        failure_reason=NO_DATA)
            return
        self.metadata.processing_jobs.create(execution.name, execution.arn, processing_request(execution, inputs))
        self.metadata.monitoring_executions.advance(execution.name, MonitoringExecutionStatus.PENDING,
                                                    processing_job_arn=execution.arn)

    def _capture_inputs(self, execution: Execution) -> list[dict[str, object]]:
        endpoint = self.metadata.endpoints.get(execution.job.endpoint_name)
        capture = None if endpoint is None else endpoint.spec.config.get("DataCaptureConfig")
        if endpoint is None or capture is None:
            return []
        variants = [variant["VariantName"] for variant in endpoint.spec.production_variants]
        return capture_inputs(self.platform.objects, execution, capture["DestinationS3Uri"], variants)

    # -- following executions -----------------------------------------------------------------

    def _follow(self, execution: MonitoringExecution) -> None:
        """Move the execution as its processing job has moved; at the job's end, record its metrics."""
        job = self.metadata.processing_jobs.get(execution.name)
        if job is None:
            self.metadata.monitoring_executions.advance(execution.name, MonitoringExecutionStatus.FAILED,
                                                        failure_reason=LOST_JOB)
            return
        status, reason = self._status_of(job), None
        if job.status is ProcessingJobStatus.FAILED:
            reason = job.failure_reason
        if status is execution.status or status is None:
            return
        if status in (MonitoringExecutionStatus.COMPLETED, MonitoringExecutionStatus.COMPLETED_WITH_VIOLATIONS,
                      MonitoringExecutionStatus.FAILED):
            self._record_metrics(job, execution)
        self.metadata.monitoring_executions.advance(execution.name, status, failure_reason=reason,
                                                    processing_job_arn=job.arn)

    def _status_of(self, job: ProcessingJob) -> MonitoringExecutionStatus | None:
        """The execution's status for its job's (None: not started yet, it stays Pending)."""
        if job.status is ProcessingJobStatus.COMPLETED:
            output = job.spec.outputs[0].s3_uri
            return MonitoringExecutionStatus.COMPLETED_WITH_VIOLATIONS if has_violations(
                self.platform.objects, output) else MonitoringExecutionStatus.COMPLETED
        if job.status is ProcessingJobStatus.IN_PROGRESS:
            return None if job.processing_start_time is None else MonitoringExecutionStatus.IN_PROGRESS
        return _FOLLOWS[job.status]

    def _record_metrics(self, job: ProcessingJob, execution: MonitoringExecution) -> None:
        hosts = sorted((self.platform.settings.data_dir / ProcessingController.folder / job.name).glob("algo-*"))
        recorded = record_metrics(self.platform.metrics, [h for h in hosts if h.is_dir()], execution.scheduled_time)
        self.platform.metrics.flush()  # in CloudWatch once the execution shows it has ended
        log.info("monitoring execution %s of %s: %d metrics recorded", execution.name, execution.schedule_name,
                 recorded)

    def _forget(self, name: str) -> None:
        """The schedule is gone (deleted while a pass made an execution): remove its executions, stop their jobs."""
        for execution in self.metadata.monitoring_executions.delete_of(name):
            if execution.processing_job_arn is not None:
                with contextlib.suppress(ProcessingJobNotFound, StatusConflict):  # it has ended already
                    self.metadata.processing_jobs.request_stop(execution.name)
