"""SageMaker Experiments' trial components: Create/Describe/List/Update/DeleteTrialComponent,
AssociateTrialComponent and DisassociateTrialComponent, and the trial component every training, processing and
transform job makes (`job_trial_component`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from modelbay.errors import ResourceNotFound, ValidationError
from modelbay.services.base import Context, Handler, present
from modelbay.services.listing import list_page
from modelbay.services.sagemaker.experiments import (
    EXPERIMENT,
    TRIAL,
    TRIAL_COMPONENT,
    created_by_filter,
    get_trial,
    user_context,
)
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.store.metadata import RecordExists
from modelbay.store.metadata.experiments import HasChildren, TrialNotFound
from modelbay.store.metadata.job_trial_components import JobKind
from modelbay.store.metadata.trial_components import (
    NotAssociated,
    TrialComponent,
    TrialComponentChanges,
    TrialComponentFilter,
    TrialComponentNotFound,
)

_ARTIFACTS = ("Parameters", "InputArtifacts", "OutputArtifacts")


def create_trial_component(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Store the component with what the request gives, and its tags; ValidationException if one has the name."""
    name: str = params["TrialComponentName"]
    arn, tags = TRIAL_COMPONENT.arn(ctx, name), creation_tags(params)
    try:
        ctx.metadata.trial_components.create(name, arn, user_context(ctx), _changes(
            params | {"DisplayName": params.get("DisplayName", name)}))
    except RecordExists as err:
        raise TRIAL_COMPONENT.exists(err) from err
    store_tags(ctx, arn, tags)
    return {"TrialComponentArn": arn}


def _changes(params: dict[str, Any]) -> TrialComponentChanges:
    """What a Create or UpdateTrialComponent request sets; ValidationException for a key both set and removed."""
    for member in _ARTIFACTS:
        if both := sorted(set(params.get(member, {})) & set(params.get(f"{member}ToRemove", []))):
            raise ValidationError(f"{member} and {member}ToRemove both name {', '.join(both)}.")
    return TrialComponentChanges(
        display_name=params.get("DisplayName"), status=params.get("Status"), start_time=params.get("StartTime"),
        end_time=params.get("EndTime"), parameters=params.get("Parameters"),
        parameters_to_remove=tuple(params.get("ParametersToRemove", [])),
        input_artifacts=params.get("InputArtifacts"),
        input_artifacts_to_remove=tuple(params.get("InputArtifactsToRemove", [])),
        output_artifacts=params.get("OutputArtifacts"),
        output_artifacts_to_remove=tuple(params.get("OutputArtifactsToRemove", [])),
        metadata_properties=params.get("MetadataProperties"))


def describe_trial_component(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The component by name or ARN; a job's with what its job shows now, a run's with the jobs run in it."""
    return _described(_get(ctx, params["TrialComponentName"]))


def search_record(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The component as Search's TrialComponent record has it: Describe's answer, its Parents and its RunName."""
    found = _get(ctx, params["TrialComponentName"])
    return _described(found) | present(RunName=found.run_name) | {
        "Parents": [{"TrialName": trial, "ExperimentName": experiment} for trial, experiment in found.parents]}


def _get(ctx: Context, given: str) -> TrialComponent:
    """The component of this name or ARN; ResourceNotFound if there is none."""
    repository = ctx.metadata.trial_components
    found = repository.get_by_arn(given) if given.startswith("arn:") else repository.get(given)
    if found is None:
        raise TRIAL_COMPONENT.not_found(ctx, given.rsplit("/", 1)[-1])
    return found


def _described(found: TrialComponent) -> dict[str, Any]:
    source_arn = (found.source or {}).get("SourceArn")
    return _summary(found) | present(
        Parameters=found.parameters, InputArtifacts=found.input_artifacts, OutputArtifacts=found.output_artifacts,
        MetadataProperties=found.metadata_properties,
        Metrics=[{"MetricName": summary.name} | summary.wire() | present(SourceArn=source_arn)
                 for summary in found.metrics],
        Sources=[{"SourceArn": arn, "SourceType": kind} for arn, kind in found.sources] or None)


def _summary(found: TrialComponent) -> dict[str, Any]:
    """TrialComponentSummary's members (Describe's too, but for the source's name)."""
    return TRIAL_COMPONENT.members(found) | present(
        Source=found.source, Status=found.status, StartTime=found.start_time, EndTime=found.end_time)


def _list_summary(found: TrialComponent) -> dict[str, Any]:
    summary = _summary(found)
    return summary | present(TrialComponentSource=summary.pop("Source", None))


def list_trial_components(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of component summaries: those of an experiment's trials, of one trial, or of one job, if asked (one
    of the three at most; the experiment or trial must exist)."""
    experiment, trial, source = (params.get(key) for key in ("ExperimentName", "TrialName", "SourceArn"))
    if sum(given is not None for given in (experiment, trial, source)) > 1:
        raise ValidationError("Only one of ExperimentName, TrialName and SourceArn may be given.")
    if experiment is not None and ctx.metadata.experiments.get(experiment) is None:
        raise EXPERIMENT.not_found(ctx, experiment)
    if trial is not None:
        get_trial(ctx, trial)
    bounds = created_by_filter(params)
    filters = TrialComponentFilter(created_after=bounds.created_after, created_before=bounds.created_before,
                                   experiment=experiment, trial=trial, source_arn=source)
    return list_page(params, ctx.metadata.trial_components.list, "TrialComponentSummaries", _list_summary, filters)


def update_trial_component(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["TrialComponentName"]
    try:
        found = ctx.metadata.trial_components.update(name, user_context(ctx), _changes(params))
    except TrialComponentNotFound as err:
        raise TRIAL_COMPONENT.not_found(ctx, name) from err
    return {"TrialComponentArn": found.arn}


def delete_trial_component(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete a component no trial holds (SageMaker keeps one that a trial holds), with its metrics."""
    name = params["TrialComponentName"]
    try:
        found = ctx.metadata.trial_components.delete(name)
    except TrialComponentNotFound as err:
        raise TRIAL_COMPONENT.not_found(ctx, name) from err
    except HasChildren as err:
        raise TRIAL_COMPONENT.has_children(ctx, name) from err
    return {"TrialComponentArn": found.arn}


def associate_trial_component(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Have the trial hold the component; ValidationException if it holds it already."""
    name, trial = params["TrialComponentName"], params["TrialName"]
    try:
        found, trial_arn = ctx.metadata.trial_components.associate(name, trial)
    except RecordExists as err:
        raise ValidationError(f"Trial Component '{TRIAL_COMPONENT.arn(ctx, name)}' is already associated with "
                              f"Trial '{err.arn}'.") from err
    except (TrialComponentNotFound, TrialNotFound) as err:
        raise _not_found(ctx, err, name, trial) from err
    return {"TrialComponentArn": found.arn, "TrialArn": trial_arn}


def disassociate_trial_component(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Take the component out of the trial; ResourceNotFound if the trial does not hold it."""
    name, trial = params["TrialComponentName"], params["TrialName"]
    try:
        found, trial_arn = ctx.metadata.trial_components.disassociate(name, trial)
    except NotAssociated as err:
        raise ResourceNotFound(f"Trial Component '{TRIAL_COMPONENT.arn(ctx, name)}' is not associated with Trial "
                               f"'{TRIAL.arn(ctx, trial)}'.") from err
    except (TrialComponentNotFound, TrialNotFound) as err:
        raise _not_found(ctx, err, name, trial) from err
    return {"TrialComponentArn": found.arn, "TrialArn": trial_arn}


def _not_found(ctx: Context, err: LookupError, name: str, trial: str) -> ResourceNotFound:
    if isinstance(err, TrialNotFound):
        return TRIAL.not_found(ctx, trial)
    return TRIAL_COMPONENT.not_found(ctx, name)


# -- the trial components of jobs ------------------------------------------------------------------------------

@contextmanager
def job_trial_component(ctx: Context, kind: JobKind, job_name: str, job_arn: str,
                        config: dict[str, Any] | None) -> Iterator[None]:
    """Around storing a job: check its ExperimentConfig first, then (if the block stored it) make its trial
    component, `<job>-aws-<kind>`, and put it in the trial the config names.

    As SageMaker: ExperimentConfig's TrialName must be a trial (of ExperimentName, if given); with ExperimentName
    alone a trial of that experiment is made for the job; RunName (the SageMaker SDK's Run) must be a trial
    component, and the job's component is one of that run's sources. Raises ResourceNotFound or
    ValidationException before the block runs.
    """
    config = config or {}
    trial = _checked_trial(ctx, config)
    yield
    name = kind.component_name(job_name)
    source = {"SourceArn": job_arn, "SourceType": kind.source_type}
    try:
        ctx.metadata.trial_components.create(name, TRIAL_COMPONENT.arn(ctx, name), user_context(ctx), source=source,
                                             run_name=config.get("RunName"))
    except RecordExists:
        return  # a component of that name made earlier stands for the job (jobs' names are unique)
    if trial is None and "ExperimentName" in config:
        trial = name
        ctx.metadata.experiments.create_trial(trial, TRIAL.arn(ctx, trial), config["ExperimentName"],
                                              user_context(ctx), display_name=trial, source=source)
    if trial is not None:
        ctx.metadata.trial_components.associate(name, trial)


def _checked_trial(ctx: Context, config: dict[str, Any]) -> str | None:
    """The trial an ExperimentConfig names, checked with what it names besides; None if it names none."""
    experiment, trial, run = (config.get(key) for key in ("ExperimentName", "TrialName", "RunName"))
    if run is not None and experiment is None:
        raise ValidationError("ExperimentConfig.ExperimentName is required with ExperimentConfig.RunName.")
    if experiment is not None and ctx.metadata.experiments.get(experiment) is None:
        raise EXPERIMENT.not_found(ctx, experiment)
    if trial is not None and experiment not in (None, get_trial(ctx, trial).experiment):
        raise ValidationError(f"Trial '{TRIAL.arn(ctx, trial)}' is not in Experiment "
                              f"'{EXPERIMENT.arn(ctx, str(experiment))}'.")
    if run is not None and ctx.metadata.trial_components.get(run) is None:
        raise TRIAL_COMPONENT.not_found(ctx, run)
    return trial


OPERATIONS: dict[str, Handler] = {
    "CreateTrialComponent": create_trial_component, "DescribeTrialComponent": describe_trial_component,
    "ListTrialComponents": list_trial_components, "UpdateTrialComponent": update_trial_component,
    "DeleteTrialComponent": delete_trial_component, "AssociateTrialComponent": associate_trial_component,
    "DisassociateTrialComponent": disassociate_trial_component}
