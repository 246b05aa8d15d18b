"""TuningController: runs each tuning job's trials, each a training job the training controller runs, and moves the
tuning job through its statuses.

Each pass over an InProgress job follows its running trials (their training jobs' ends, final objectives and
intermediate objective values, recorded on the trial), rebuilds the search from the stored trials (and the warm
start parents'), stops the running trials the search says to stop early, and starts new ones: up to
MaxParallelTrainingJobs at once. The machine holds no more than capacity.py allows beside every tuning job's running
trials: a trial MaxParallelTrainingJobs allows but the machine cannot hold yet is created held (its training job
InProgress / Starting, saying it waits for capacity, and not launched by the training controller), and released by a
later pass once it fits. The job ends when the trials it may run have
all ended: Completed (with a best trial) or Failed (none succeeded); early when its completion criteria are met
or MaxRuntimeInSeconds has passed (its running trials are stopped, then it completes), or when its first trials
all fail. A stopped job stops its running trials, then is Stopped; a deleted one is removed. Everything is read
from the store each pass; a trial is recorded before its training job is created, under a name that is the same
every time, so a restarted server finishes what a pass began and never runs a trial twice.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from modelbay.controllers.background import Wakeable
from modelbay.controllers.tuning_jobs.capacity import Capacity, Demand
from modelbay.controllers.tuning_jobs.search import CONVERGED, Observation, Search
from modelbay.controllers.tuning_jobs.trials import (
    ended_state,
    final_objective,
    intermediate_values,
    training_request,
    trial_arn,
    trial_name,
)
from modelbay.platform import Platform
from modelbay.statuses import HyperParameterTuningJobStatus, SecondaryStatus
from modelbay.store.metadata import (
    RecordExists,
    StatusConflict,
    Trial,
    TrialState,
    TuningJob,
)
from modelbay.store.metadata.records import Clock, utc_now
from modelbay.store.metadata.training_jobs import LIFECYCLE as TRAINING_LIFECYCLE
from modelbay.store.metadata.tuning_jobs import training_resources

log = logging.getLogger(__name__)

STARTING_MESSAGE = "Starting the training job"
WAITING_MESSAGE = "Waiting for capacity on this machine"
FAILED_TRIALS_LIMIT = 5  # SageMaker fails a tuning job whose first trials all fail, after this many
_S = HyperParameterTuningJobStatus
# Why a tuning job starts no more trials.
FAILING, OUT_OF_TIME, CRITERIA_MET, BUDGET = "failing", "out of time", "criteria met", "budget"


def no_success_reason(failed: int) -> str:
    return (f"No training job succeeded after {failed} attempts. Please take a look at the training job failures to "
            "get more details.")


def out_of_time_reason(limit_s: int) -> str:
    return f"The tuning job reached its MaxRuntimeInSeconds ({limit_s}) before any training job succeeded."


@dataclass(frozen=True)
class _Progress:
    """A job's trials as a pass found them, and the search over them."""

    trials: list[Trial]
    search: Search

    @property
    def running(self) -> list[Trial]:
        return [trial for trial in self.trials if trial.state is TrialState.RUNNING]

    @property
    def succeeded(self) -> bool:
        return any(trial.objective is not None for trial in self.trials)


class TuningController(Wakeable):
    """Runs each InProgress or Stopping tuning job's trials and removes deleted jobs. `capacity` is the machine's
    (tests give one of their own); `clock` gives now."""

    def __init__(self, platform: Platform, capacity: Capacity | None = None, clock: Clock = utc_now) -> None:
        self.platform, self.clock = platform, clock
        self.jobs, self.training_jobs = platform.metadata.tuning_jobs, platform.metadata.training_jobs
        super().__init__(self.jobs.table)
        self.capacity = capacity or Capacity.of_machine()

    def names(self) -> list[str]:
        return self.jobs.names_to_reconcile()

    def reconcile(self, name: str) -> None:
        """One idempotent pass over tuning job `name`."""
        job = self.jobs.get(name)
        if job is None:
            return
        if job.status is _S.DELETING:
            self.jobs.delete(name)
            return
        trials = [self._follow(job, trial) for trial in self.jobs.trials(name)]
        if job.status is _S.STOPPING:
            self._stop(job, trials)
            return
        try:
            progress = _Progress(trials, self._search(job, trials))
        except ValueError as err:  # ranges Optuna cannot search (the service refuses them first)
            for trial in trials:  # a held one would otherwise wait for ever
                if trial.state is TrialState.RUNNING:
                    self._stop_training_job(trial)
            self.jobs.advance(name, _S.FAILED, failure_reason=f"The hyperparameter ranges cannot be searched: {err}")
            return
        self._record_completion(job, progress)
        for trial in progress.running:
            self._stop_early(job, trial, progress.search)
        why = self._done(job, progress)
        if why is None:
            self._launch(job, progress)
        else:
            self._finish(job, progress, why)

    # -- following trials -----------------------------------------------------------------------------

    def _follow(self, job: TuningJob, trial: Trial) -> Trial:
        """Record what a running trial's training job has done since the last pass (or create the job, lost to a
        restart between the trial's record and its creation)."""
        if trial.state is not TrialState.RUNNING:
            return trial
        training = self.training_jobs.get(trial.training_job_name)
        if training is None:  # held until this pass's release finds it room
            self._create_training_job(job, trial, WAITING_MESSAGE)
            return trial
        objective = job.spec.objective(trial.definition)
        intermediate = intermediate_values(self.platform.logs, training, objective)
        if training.status in TRAINING_LIFECYCLE.ended:
            final = final_objective(training, objective, intermediate)
            return self.jobs.record_trial(job.name, trial.number, state=ended_state(training, final), objective=final,
                                          intermediate=intermediate)
        if len(intermediate) != len(trial.intermediate):
            return self.jobs.record_trial(job.name, trial.number, intermediate=intermediate)
        return trial

    def _search(self, job: TuningJob, trials: list[Trial]) -> Search:
        warm = [trial for parent in job.spec.parents for trial in self.jobs.trials(parent)]
        return Search(job.spec.config, job.spec.definitions, [_observation(t) for t in trials],
                      [_observation(t) for t in warm])

    def _stop_early(self, job: TuningJob, trial: Trial, search: Search) -> None:
        if trial.early_stopped or not search.should_stop(_observation(trial)):
            return
        log.info("tuning job %s: stopping trial %s early", job.name, trial.training_job_name)
        self._stop_training_job(trial)
        self.jobs.record_trial(job.name, trial.number, early_stopped=True)

    def _record_completion(self, job: TuningJob, progress: _Progress) -> None:
        """TuningJobCompletionDetails as they stand, written when they change."""
        details: dict[str, object] = {
            "NumberOfTrainingJobsObjectiveNotImproving": progress.search.number_of_trials_not_improving()}
        if progress.search.complete() == CONVERGED:
            details["ConvergenceDetectedTime"] = job.completion_details.get(
                "ConvergenceDetectedTime", self.clock().isoformat())
        if details != job.completion_details:
            self.jobs.advance(job.name, job.status, completion_details=details)

    # -- ending ------------------------------------------------------------------------------------------

    def _done(self, job: TuningJob, progress: _Progress) -> str | None:
        """Why the job starts no more trials (None: it goes on): its first trials all failed, it ran out of time, its
        completion criteria are met, or it has started every trial it may (BUDGET, the one that lets the running
        trials finish)."""
        spec = job.spec
        failed = sum(trial.state is TrialState.FAILED for trial in progress.trials)
        if not progress.succeeded and failed >= min(FAILED_TRIALS_LIMIT, spec.max_jobs or FAILED_TRIALS_LIMIT):
            return FAILING
        if spec.max_runtime_s is not None and (self.clock() - job.creation_time).total_seconds() >= spec.max_runtime_s:
            return OUT_OF_TIME
        if progress.search.complete() is not None:
            return CRITERIA_MET
        if spec.max_jobs is not None and len(progress.trials) >= spec.max_jobs:
            return BUDGET
        return None

    def _finish(self, job: TuningJob, progress: _Progress, why: str) -> None:
        """Stop the running trials unless the job only ran out of trials to start (then the held ones start as they
        fit); once none runs, end it: Completed if a trial succeeded, else Failed."""
        if why == BUDGET:
            self._release(job, progress.running)
        else:
            for trial in progress.running:
                self._stop_training_job(trial)
        if progress.running:
            return
        if progress.succeeded:
            self.jobs.advance(job.name, _S.COMPLETED)
        elif why == OUT_OF_TIME:
            self.jobs.advance(job.name, _S.FAILED, failure_reason=out_of_time_reason(job.spec.max_runtime_s or 0))
        else:
            failed = sum(trial.state is TrialState.FAILED for trial in progress.trials)
            self.jobs.advance(job.name, _S.FAILED, failure_reason=no_success_reason(failed))

    def _stop(self, job: TuningJob, trials: list[Trial]) -> None:
        """StopHyperParameterTuningJob: stop the running trials; once none runs, the job is Stopped."""
        running = [trial for trial in trials if trial.state is TrialState.RUNNING]
        for trial in running:
            self._stop_training_job(trial)
        if not running:
            self.jobs.advance(job.name, _S.STOPPED)

    def _stop_training_job(self, trial: Trial) -> None:
        with contextlib.suppress(StatusConflict):  # it has ended, or is being stopped already
            self.training_jobs.request_stop(trial.training_job_name)

    # -- starting trials ----------------------------------------------------------------------------------

    def _launch(self, job: TuningJob, progress: _Progress) -> None:
        """Release the held trials that now fit, then start trials while the job's limits allow and the search has
        suggestions: each at once, held if the machine cannot hold it yet."""
        demands = self._release(job, progress.running)
        trials, running = list(progress.trials), len(progress.running)
        needed = max((self._demand_of(job, d.get("DefinitionName")) for d in job.spec.definitions),
                     key=lambda demand: (demand.cpus, demand.memory_bytes))
        while running < job.spec.max_parallel and (job.spec.max_jobs is None or len(trials) < job.spec.max_jobs):
            suggestion = progress.search.suggest()
            if suggestion is None:  # Grid: every combination has been tried
                self._finish(job, _Progress(trials, progress.search), BUDGET)
                return
            fits = self.capacity.fits(demands, needed)
            trials.append(self._start(job, len(trials) + 1, *suggestion,
                                      waiting=None if fits else self.capacity.waiting(demands)))
            if fits:
                demands.append(needed)
            running += 1

    def _start(self, job: TuningJob, number: int, definition: str | None, parameters: dict[str, str], *,
               waiting: str | None) -> Trial:
        """Record trial `number`, then create its training job (held, saying `waiting`, unless that is None)."""
        trial = self.jobs.add_trial(job.name, number, trial_name(job, number), definition, parameters)
        self._create_training_job(job, trial, waiting)
        return trial

    def _create_training_job(self, job: TuningJob, trial: Trial, waiting: str | None) -> None:
        name = trial.training_job_name
        if waiting is not None:
            log.info("tuning job %s: trial %s waits for capacity", job.name, name)
        try:
            self.training_jobs.create(name, trial_arn(job, name), training_request(job, trial.definition,
                                                                                   trial.parameters),
                                      SecondaryStatus.STARTING, waiting or STARTING_MESSAGE, held=waiting is not None)
        except RecordExists:
            log.warning("tuning job %s: training job %s exists already", job.name, name)

    def _release(self, job: TuningJob, running: list[Trial]) -> list[Demand]:
        """Release the job's held trials the machine has room for now, in order (the others' messages say how full
        it is); return what every tuning job's running trials take of the machine, the released ones among them."""
        demands = self._running_demands()
        for trial in running:
            training = self.training_jobs.get(trial.training_job_name)
            if training is None or not training.held or training.stop_requested:
                continue
            needed = self.capacity.demand(training.spec.instance_type, training.spec.instance_count)
            if self.capacity.fits(demands, needed):
                log.info("tuning job %s: trial %s has room now", job.name, training.name)
                self.training_jobs.release(training.name, STARTING_MESSAGE)
                demands.append(needed)
            else:
                self.training_jobs.hold(training.name, self.capacity.waiting(demands))
        return demands

    def _running_demands(self) -> list[Demand]:
        """What every tuning job's running trials take of the machine (held ones take nothing yet)."""
        demands = []
        for trial in self.jobs.running_trials():
            training = self.training_jobs.get(trial.training_job_name)
            if training is not None and training.status not in TRAINING_LIFECYCLE.ended and not training.held:
                demands.append(self.capacity.demand(training.spec.instance_type, training.spec.instance_count))
        return demands

    def _demand_of(self, job: TuningJob, definition: str | None) -> Demand:
        resources = training_resources(job.spec.definition(definition))
        assert resources is not None  # the service refuses a definition without
        return self.capacity.demand(resources["InstanceType"], resources["InstanceCount"])


def _observation(trial: Trial) -> Observation:
    """A stored trial as the search sees it (numbered from 0)."""
    return Observation(number=trial.number - 1, definition=trial.definition, parameters=trial.parameters,
                       state=str(trial.state), objective=trial.objective, intermediate=trial.intermediate)
