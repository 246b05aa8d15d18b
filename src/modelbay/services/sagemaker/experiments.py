"""SageMaker Experiments' experiments and trials: Create/Describe/List/Update/DeleteExperiment and
Create/Describe/List/Update/DeleteTrial.

Neither has a lifecycle: these functions read and write the store directly. What the three kinds of entity
(experiments, trials, trial components) share in SageMaker's answers and words is `EntityKind`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelbay.errors import ResourceNotFound, ValidationError
from modelbay.services.base import Context, Handler, present
from modelbay.services.listing import list_page
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.store.metadata import ListFilter, RecordExists
from modelbay.store.metadata.experiments import (
    Entity,
    Experiment,
    ExperimentNotFound,
    ExperimentTrial,
    HasChildren,
    TrialFilter,
    TrialNotFound,
)


@dataclass(frozen=True)
class EntityKind:
    """One kind of entity: `noun` as SageMaker's messages say it, `arn_kind` as its ARNs do, `member` as its wire
    members do (ExperimentName, ExperimentArn), `children` what it may not be deleted with."""

    noun: str
    arn_kind: str
    member: str
    children: str

    def arn(self, ctx: Context, name: str) -> str:
        return ctx.arn("sagemaker", f"{self.arn_kind}/{name.lower()}")

    def not_found(self, ctx: Context, name: str) -> ResourceNotFound:
        return ResourceNotFound(f"{self.noun} '{self.arn(ctx, name)}' does not exist.")

    def exists(self, err: RecordExists) -> ValidationError:
        """SageMaker's answer to a Create naming one that exists (the SageMaker SDK looks for "already exists")."""
        return ValidationError(f"{self.noun} '{err.arn}' already exists.")

    def has_children(self, ctx: Context, name: str) -> ValidationError:
        return ValidationError(f"{self.noun} '{self.arn(ctx, name)}' {self.children}.")

    def members(self, found: Entity) -> dict[str, Any]:
        """The members every answer about one has: its name, ARN, display name, times and who made and changed it."""
        return {f"{self.member}Name": found.name, f"{self.member}Arn": found.arn, "CreationTime": found.creation_time,
                "CreatedBy": found.created_by, "LastModifiedTime": found.last_modified_time,
                "LastModifiedBy": found.last_modified_by} | present(DisplayName=found.display_name)


EXPERIMENT = EntityKind("Experiment", "experiment", "Experiment",
                        "still has trials: delete them first")
TRIAL = EntityKind("Trial", "experiment-trial", "Trial",
                   "still has trial components: disassociate them first")
TRIAL_COMPONENT = EntityKind("Trial Component", "experiment-trial-component", "TrialComponent",
                             "is associated with trials: disassociate it from them first")


def user_context(ctx: Context) -> dict[str, Any]:
    """CreatedBy / LastModifiedBy: the caller's IAM identity (nothing for an unsigned call)."""
    if ctx.principal.access_key_id is None:
        return {}
    return {"IamIdentity": {"Arn": ctx.principal.arn, "PrincipalId": ctx.principal.user_id}}


def summary(members: dict[str, Any]) -> dict[str, Any]:
    """An entity's members as the experiment and trial summaries have them: without who made and changed it."""
    return {key: value for key, value in members.items() if key not in ("CreatedBy", "LastModifiedBy")}


def created_by_filter(params: dict[str, Any]) -> ListFilter:
    """The creation-time bounds the experiment listings take (CreatedAfter, CreatedBefore)."""
    return ListFilter(created_after=params.get("CreatedAfter"), created_before=params.get("CreatedBefore"))


# -- experiments -----------------------------------------------------------------------------------------------

def create_experiment(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Store the experiment and its tags; ValidationException if one has the name."""
    name: str = params["ExperimentName"]
    arn, tags = EXPERIMENT.arn(ctx, name), creation_tags(params)
    try:
        ctx.metadata.experiments.create(name, arn, user_context(ctx), display_name=params.get("DisplayName", name),
                                        description=params.get("Description"))
    except RecordExists as err:
        raise EXPERIMENT.exists(err) from err
    store_tags(ctx, arn, tags)
    return {"ExperimentArn": arn}


def describe_experiment(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    found = ctx.metadata.experiments.get(params["ExperimentName"])
    if found is None:
        raise EXPERIMENT.not_found(ctx, params["ExperimentName"])
    return EXPERIMENT.members(found) | present(Description=found.description)


def list_experiments(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return list_page(params, ctx.metadata.experiments.list, "ExperimentSummaries", _experiment_summary,
                     created_by_filter(params))


def _experiment_summary(found: Experiment) -> dict[str, Any]:
    return summary(EXPERIMENT.members(found))


def update_experiment(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    try:
        found = ctx.metadata.experiments.update(params["ExperimentName"], user_context(ctx),
                                                display_name=params.get("DisplayName"),
                                                description=params.get("Description"))
    except ExperimentNotFound as err:
        raise EXPERIMENT.not_found(ctx, params["ExperimentName"]) from err
    return {"ExperimentArn": found.arn}


def delete_experiment(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete an experiment that has no trials left (SageMaker keeps one that has)."""
    name = params["ExperimentName"]
    try:
        found = ctx.metadata.experiments.delete(name)
    except ExperimentNotFound as err:
        raise EXPERIMENT.not_found(ctx, name) from err
    except HasChildren as err:
        raise EXPERIMENT.has_children(ctx, name) from err
    return {"ExperimentArn": found.arn}


# -- trials ----------------------------------------------------------------------------------------------------

def create_trial(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Store the trial in its experiment, with its tags; ResourceNotFound for an unknown experiment."""
    name: str = params["TrialName"]
    arn, tags = TRIAL.arn(ctx, name), creation_tags(params)
    try:
        ctx.metadata.experiments.create_trial(name, arn, params["ExperimentName"], user_context(ctx),
                                              display_name=params.get("DisplayName", name),
                                              metadata_properties=params.get("MetadataProperties"))
    except ExperimentNotFound as err:
        raise EXPERIMENT.not_found(ctx, params["ExperimentName"]) from err
    except RecordExists as err:
        raise TRIAL.exists(err) from err
    store_tags(ctx, arn, tags)
    return {"TrialArn": arn}


def get_trial(ctx: Context, name: str) -> ExperimentTrial:
    """The trial of this name; ResourceNotFound if there is none."""
    found = ctx.metadata.experiments.get_trial(name)
    if found is None:
        raise TRIAL.not_found(ctx, name)
    return found


def describe_trial(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    found = get_trial(ctx, params["TrialName"])
    return TRIAL.members(found) | {"ExperimentName": found.experiment} | present(
        Source=found.source, MetadataProperties=found.metadata_properties)


def trial_search_record(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The trial as Search's Trial record has it: Describe's answer and the components it holds."""
    found = get_trial(ctx, params["TrialName"])
    return describe_trial(ctx, params) | {"TrialComponentSummaries": [
        {"TrialComponentName": name, "TrialComponentArn": arn} for name, arn in found.components]}


def list_trials(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of trial summaries, of one experiment or holding one trial component if asked (either must exist)."""
    experiment, component = params.get("ExperimentName"), params.get("TrialComponentName")
    if experiment is not None and ctx.metadata.experiments.get(experiment) is None:
        raise EXPERIMENT.not_found(ctx, experiment)
    if component is not None and ctx.metadata.trial_components.get(component) is None:
        raise TRIAL_COMPONENT.not_found(ctx, component)
    bounds = created_by_filter(params)
    filters = TrialFilter(created_after=bounds.created_after, created_before=bounds.created_before,
                          experiment=experiment, trial_component=component)
    return list_page(params, ctx.metadata.experiments.list_trials, "TrialSummaries", _trial_summary, filters)


def _trial_summary(found: ExperimentTrial) -> dict[str, Any]:
    return summary(TRIAL.members(found)) | present(TrialSource=found.source)


def update_trial(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    try:
        found = ctx.metadata.experiments.update_trial(params["TrialName"], user_context(ctx),
                                                      display_name=params.get("DisplayName"))
    except TrialNotFound as err:
        raise TRIAL.not_found(ctx, params["TrialName"]) from err
    return {"TrialArn": found.arn}


def delete_trial(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete a trial that holds no trial components (SageMaker keeps one that does)."""
    name = params["TrialName"]
    try:
        found = ctx.metadata.experiments.delete_trial(name)
    except TrialNotFound as err:
        raise TRIAL.not_found(ctx, name) from err
    except HasChildren as err:
        raise TRIAL.has_children(ctx, name) from err
    return {"TrialArn": found.arn}


OPERATIONS: dict[str, Handler] = {
    "CreateExperiment": create_experiment, "DescribeExperiment": describe_experiment,
    "ListExperiments": list_experiments, "UpdateExperiment": update_experiment, "DeleteExperiment": delete_experiment,
    "CreateTrial": create_trial, "DescribeTrial": describe_trial, "ListTrials": list_trials,
    "UpdateTrial": update_trial, "DeleteTrial": delete_trial}
