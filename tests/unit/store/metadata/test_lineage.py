"""The lineage repository on every metadata backend: entities, associations, listings, walks and SageMaker's own
records of training jobs, endpoints and model packages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from modelbay.store.metadata import MetadataStore, RecordExists
from modelbay.store.metadata.endpoints import EndpointSpec
from modelbay.store.metadata.lineage import (
    AssociationExists,
    AssociationFilter,
    AssociationNotFound,
    LineageEntityNotFound,
    LineageRepository,
    LineageType,
    entity_arn,
)
from modelbay.store.metadata.lineage_records import (
    record_endpoint,
    record_model_package,
    record_training_job_inputs,
    record_training_job_output,
    trial_component_arn,
)
from modelbay.store.metadata.training_jobs import TrainingJobSpec
from tests.helpers import T0

ACCOUNT = "arn:aws:sagemaker:us-east-1:000000000000"
ART, ACT, CTX = LineageType.ARTIFACT, LineageType.ACTION, LineageType.CONTEXT
TRAINING: dict[str, Any] = {
    "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"},
    "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": "s3://b/train"}}}]}
MODEL_URI = "s3://b/out/job-1/output/model.tar.gz"


@pytest.fixture
def lineage(store: MetadataStore) -> LineageRepository:
    return store.lineage


def _artifact(lineage: LineageRepository, uri: str, artifact_type: str = "DataSet", name: str | None = None) -> str:
    arn = entity_arn(ACCOUNT, ART)
    lineage.create(ART, arn, name, artifact_type, {"SourceUri": uri})
    return arn


def test_create_get_update_delete_an_action(lineage: LineageRepository) -> None:
    arn = entity_arn(ACCOUNT, ACT, "Deploy-1")
    assert arn == f"{ACCOUNT}:action/deploy-1"
    lineage.create(ACT, arn, "Deploy-1", "ModelDeployment", {"SourceUri": "u", "SourceType": "t"},
                   status="InProgress", properties={"a": "1", "b": "2"})
    with pytest.raises(RecordExists):
        lineage.create(ACT, arn, "DEPLOY-1", "ModelDeployment", {"SourceUri": "u"})
    updated = lineage.update(arn, status="Completed", description="d", properties_to_remove=["a"])
    assert (updated.status, updated.description, updated.properties, updated.name) == (
        "Completed", "d", {"b": "2"}, "Deploy-1")
    assert (updated.creation_time, updated.last_modified_time) == (T0 + timedelta(seconds=1),
                                                                   T0 + timedelta(seconds=2))
    assert lineage.get(arn) == updated
    assert lineage.delete(arn).arn == arn
    assert lineage.get(arn) is None
    with pytest.raises(LineageEntityNotFound):
        lineage.update(arn, status="Failed")


def test_list_filters_by_source_uri_and_type_and_pages(lineage: LineageRepository) -> None:
    first, second = _artifact(lineage, "s3://b/x"), _artifact(lineage, "s3://b/x", "Model")
    third = _artifact(lineage, "s3://b/y")
    assert [a.arn for a in lineage.list(ART).items] == [third, second, first]
    assert [a.arn for a in lineage.list(ART, source_uri="s3://b/x", ascending=True).items] == [first, second]
    assert [a.arn for a in lineage.list(ART, entity_type="DataSet").items] == [third, first]
    assert lineage.list(ACT).items == []
    page = lineage.list(ART, limit=2)
    assert [a.arn for a in lineage.list(ART, after_token=page.next_token, limit=2).items] == [first]
    oldest = lineage.find(ART, "s3://b/x")
    assert oldest is not None and oldest.arn == first


def test_associations_are_unique_and_name_both_ends(lineage: LineageRepository) -> None:
    data, model = _artifact(lineage, "s3://b/d", name="data"), _artifact(lineage, "s3://b/m", "Model")
    component = f"{ACCOUNT}:experiment-trial-component/job-1-aws-training-job"
    lineage.associate(data, component, "ContributedTo")
    found = lineage.associate(component, model, "Produced")
    assert (found.source_type, found.source_name, found.destination_type, found.destination_name) == (
        "TrainingJob", "job-1-aws-training-job", "Model", None)
    with pytest.raises(AssociationExists):
        lineage.associate(data, component, None)
    with pytest.raises(LineageEntityNotFound):
        lineage.associate(f"{ACCOUNT}:artifact/nothing", component, None)
    listed = lineage.associations(AssociationFilter(destination_type="TrainingJob"))
    assert [(a.source_arn, a.source_name) for a in listed.items] == [(data, "data")]
    assert [a.destination_arn for a in lineage.edges([component], descendants=True)] == [model]
    assert [a.source_arn for a in lineage.edges([component], descendants=False)] == [data]
    lineage.disassociate(data, component)
    with pytest.raises(AssociationNotFound):
        lineage.disassociate(data, component)


def test_deleting_an_entity_deletes_its_associations(lineage: LineageRepository) -> None:
    data, model = _artifact(lineage, "s3://b/d"), _artifact(lineage, "s3://b/m")
    lineage.associate(data, model, "DerivedFrom")
    lineage.delete(model)
    assert lineage.associations().items == []


def test_vertices_of_entities_and_trial_components(lineage: LineageRepository) -> None:
    data = _artifact(lineage, "s3://b/d")
    component = f"{ACCOUNT}:experiment-trial-component/p-aws-processing-job"
    vertices = lineage.vertices([data, component, f"{ACCOUNT}:artifact/unknown"])
    assert {arn: (v.lineage_type, v.type) for arn, v in vertices.items()} == {
        data: (ART, "DataSet"), component: (LineageType.TRIAL_COMPONENT, "ProcessingJob")}


def test_training_and_endpoint_records_meet_at_the_model_artifact(lineage: LineageRepository) -> None:
    job_arn = f"{ACCOUNT}:training-job/job-1"
    record_training_job_inputs(lineage, job_arn, TrainingJobSpec.from_request(TRAINING))
    record_training_job_inputs(lineage, job_arn, TrainingJobSpec.from_request(TRAINING))  # a restart: nothing new
    record_training_job_output(lineage, job_arn, MODEL_URI)
    endpoint_arn = f"{ACCOUNT}:endpoint/ep-1"
    spec = EndpointSpec(config={"ProductionVariants": [{"VariantName": "v", "ModelName": "m",
                                                        "InitialVariantWeight": 1.0, "InitialInstanceCount": 1}]},
                        models={"m": {"PrimaryContainer": {"Image": "serve:1", "ModelDataUrl": MODEL_URI}}})
    record_endpoint(lineage, endpoint_arn, spec)
    record_endpoint(lineage, endpoint_arn, spec)
    component = trial_component_arn(job_arn, "-aws-training-job")
    edges = {(a.source_type, a.association_type, a.destination_type) for a in lineage.associations(limit=50).items}
    assert edges == {("DataSet", "ContributedTo", "TrainingJob"), ("Image", "ContributedTo", "TrainingJob"),
                     ("TrainingJob", "Produced", "Model"), ("Model", "ContributedTo", "ModelDeployment"),
                     ("Image", "ContributedTo", "ModelDeployment"), ("ModelDeployment", "AssociatedWith", "Endpoint")}
    model = lineage.find(ART, MODEL_URI)
    assert model is not None and [a.source_arn for a in lineage.edges([model.arn], descendants=False)] == [component]
    context = lineage.find(CTX, endpoint_arn)
    assert context is not None and (context.name, context.type, context.arn) == (
        "ep-1-aws-endpoint", "Endpoint", f"{ACCOUNT}:context/ep-1-aws-endpoint")


def test_a_model_package_record(lineage: LineageRepository) -> None:
    package_arn, group_arn = f"{ACCOUNT}:model-package/g/1", f"{ACCOUNT}:model-package-group/g"
    record_model_package(lineage, package_arn, group_arn, [{"Image": "serve:1", "ModelDataUrl": MODEL_URI}])
    package = lineage.find(ART, package_arn)
    assert package is not None and package.type == "ModelPackage"
    into = {a.source_type for a in lineage.associations(AssociationFilter(destination_arn=package.arn)).items}
    assert into == {"Model", "Image"}
    out = lineage.associations(AssociationFilter(source_arn=package.arn)).items
    assert [(a.destination_type, a.destination_name) for a in out] == [("ModelGroup", "g-aws-model-package-group")]
