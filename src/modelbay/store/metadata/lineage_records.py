"""The lineage SageMaker records on its own, as its jobs, endpoints and model packages come to be.

    training job   DataSet (each channel's S3Uri), Image, Checkpoint ──ContributedTo──▶ the job's trial component
                   trial component ──Produced──▶ Model (S3ModelArtifacts), once the job has completed
    endpoint       Model (each variant's ModelDataUrl), Image ──ContributedTo──▶ ModelDeployment action
                   ModelDeployment action ──AssociatedWith──▶ Endpoint context (SourceUri: the endpoint's ARN)
    model package  Model, Image ──ContributedTo──▶ ModelPackage artifact ──ContributedTo──▶ ModelGroup context

An artifact is found by its SourceUri, so the Model a training job produced is the one an endpoint deploys when
its model's ModelDataUrl names the same object: QueryLineage walks from an endpoint back to the data that trained
it. Recording again what was recorded changes nothing (a spot job restarted, an endpoint updated).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelbay.store.metadata.endpoints import EndpointSpec
from modelbay.store.metadata.lineage import End, LineageRepository, LineageType, Tracked
from modelbay.store.metadata.training_jobs import TrainingJobSpec

CONTRIBUTED_TO, PRODUCED, ASSOCIATED_WITH = "ContributedTo", "Produced", "AssociatedWith"


def record_training_job_inputs(lineage: LineageRepository, job_arn: str, spec: TrainingJobSpec) -> None:
    """A training job launched: its input data, image and checkpoint location contributed to its trial component."""
    component = trial_component_arn(job_arn, "-aws-training-job")
    inputs = [_artifact(channel.s3_data_source["S3Uri"], "DataSet") for channel in spec.channels
              if channel.s3_data_source is not None]
    inputs.append(_artifact(spec.training_image, "Image"))
    if spec.checkpoint is not None:
        inputs.append(_artifact(spec.checkpoint.s3_uri, "Checkpoint"))
    lineage.record(_account(job_arn), [(artifact, component, CONTRIBUTED_TO) for artifact in inputs])


def record_training_job_output(lineage: LineageRepository, job_arn: str, model_artifacts: str) -> None:
    """A training job completed: its trial component produced the Model at `model_artifacts`."""
    component = trial_component_arn(job_arn, "-aws-training-job")
    lineage.record(_account(job_arn), [(component, _artifact(model_artifacts, "Model"), PRODUCED)])


def record_endpoint(lineage: LineageRepository, endpoint_arn: str, spec: EndpointSpec) -> None:
    """An endpoint created or updated: the models and images of its config's variants contributed to its
    ModelDeployment action, which is associated with its Endpoint context."""
    name = endpoint_arn.rsplit("/", 1)[-1]
    context = Tracked(LineageType.CONTEXT, endpoint_arn, "Endpoint", f"{name}-aws-endpoint", "ARN")
    action = Tracked(LineageType.ACTION, endpoint_arn, "ModelDeployment", f"{name}-aws-model-deployment", "ARN")
    containers = [container for variant in spec.all_variants for container in spec.containers(variant.model_name)]
    links: list[tuple[End, End, str]] = [(artifact, action, CONTRIBUTED_TO) for artifact in _deployed(containers)]
    lineage.record(_account(endpoint_arn), [*links, (action, context, ASSOCIATED_WITH)])


def record_model_package(lineage: LineageRepository, package_arn: str, group_arn: str | None,
                         containers: Iterable[dict[str, Any]]) -> None:
    """A model package created: the models and images of its inference containers contributed to its ModelPackage
    artifact, which contributed to its group's ModelGroup context (a version's)."""
    package = _artifact(package_arn, "ModelPackage")
    links: list[tuple[End, End, str]] = [(artifact, package, CONTRIBUTED_TO) for artifact in _deployed(containers)]
    if group_arn is not None:
        group = Tracked(LineageType.CONTEXT, group_arn, "ModelGroup",
                        f"{group_arn.rsplit('/', 1)[-1]}-aws-model-package-group", "ARN")
        links.append((package, group, CONTRIBUTED_TO))
    lineage.record(_account(package_arn), links)


def trial_component_arn(job_arn: str, suffix: str) -> str:
    """The ARN of a job's trial component: experiment-trial-component/<job name><suffix>, lower case."""
    return f"{_account(job_arn)}:experiment-trial-component/{job_arn.rsplit('/', 1)[-1].lower()}{suffix}"


def _deployed(containers: Iterable[dict[str, Any]]) -> list[Tracked]:
    """The Model (its S3 URI, if it has one) and Image artifacts of each container, each once."""
    found: dict[Tracked, None] = {}
    for container in containers:
        model_data = container.get("ModelDataUrl") or container.get("ModelDataSource", {}).get(
            "S3DataSource", {}).get("S3Uri")
        if model_data:
            found[_artifact(model_data, "Model")] = None
        if container.get("Image"):
            found[_artifact(container["Image"], "Image")] = None
    return list(found)


def _artifact(source_uri: str, artifact_type: str) -> Tracked:
    return Tracked(LineageType.ARTIFACT, source_uri, artifact_type)


def _account(arn: str) -> str:
    """arn:aws:sagemaker:<region>:<account id>, of a resource's ARN."""
    return arn.rsplit(":", 1)[0]
