"""The Model Registry and lineage against a real server: the SageMaker Python SDK, unchanged, trains a scikit-learn
model, registers it twice into a group, approves a version with boto3, finds the most recent approved version and
deploys it (ModelPackage.deploy() serves a prediction); "which data trained the model behind this endpoint?" is
answered by the SDK's EndpointContext and LineageQuery, by QueryLineage through boto3, and by `modelbay lineage`;
`modelbay models packages` shows the versions with their metrics;
concurrent CreateModelPackage calls get distinct consecutive versions; approvals are read back as EventBridge-shaped
events from `/_modelbay/v1/events` (a long poll) and `modelbay events`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from modelbay.sdk.events import read_events
from tests.helpers import ROOT_SIGNED, ServerProcess, user_shell
from tests.integration.models import SKLEARN
from tests.integration.test_cli import modelbay
from tests.integration.test_sdk_tuning import warm

# Learns y = x0 + 2·x1 (the objective logs its mean squared error); serving predicts it.
TRAIN = """
    import argparse, os
    import joblib, numpy as np
    from sklearn.linear_model import LinearRegression

    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))

    if __name__ == "__main__":
        argparse.ArgumentParser().parse_known_args()
        rows = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAINING"], "rows.csv"), delimiter=",")
        model = LinearRegression().fit(rows[:, 1:], rows[:, 0])
        print(f"mse={float(np.mean((model.predict(rows[:, 1:]) - rows[:, 0]) ** 2)):.6f}", flush=True)
        joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
"""
# The user's code: train, register twice, approve version 1, find it as the most recent approved one, deploy it.
USER = """
    import json, sys
    import numpy as np
    import sagemaker
    from sagemaker import ModelPackage
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.lineage.query import (LineageEntityEnum, LineageFilter, LineageQuery, LineageQueryDirectionEnum,
                                         LineageSourceEnum)
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer
    from sagemaker.sklearn import SKLearn

    group, endpoint = sys.argv[1], sys.argv[2]
    session = sagemaker.Session()
    np.savetxt("rows.csv", [[a + 2 * b, a, b] for a in range(5) for b in range(5)], delimiter=",")
    data = session.upload_data("rows.csv", key_prefix="registry-test")
    estimator = SKLearn(entry_point="train.py", source_dir="code", framework_version="1.2-1",
                        role="SageMakerExecutionRole", instance_type="ml.m5.large", instance_count=1,
                        metric_definitions=[{"Name": "mse", "Regex": "mse=([0-9.e-]+)"}])
    estimator.fit({"training": data})
    registered = [estimator.register(
        content_types=["text/csv"], response_types=["application/json"], inference_instances=["ml.m5.large"],
        transform_instances=["ml.m5.large"], model_package_group_name=group,
        customer_metadata_properties={"stage": stage}).model_package_arn for stage in ("first", "second")]
    session.sagemaker_client.update_model_package(ModelPackageArn=registered[0], ModelApprovalStatus="Approved",
                                                  ApprovalDescription="reviewed")
    approved = session.get_most_recently_created_approved_model_package(group).model_package_arn
    package = ModelPackage(role="SageMakerExecutionRole", model_package_arn=approved, sagemaker_session=session,
                           predictor_cls=Predictor)
    predictor = package.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=endpoint,
                               serializer=CSVSerializer(), deserializer=JSONDeserializer())
    try:
        predicted = predictor.predict([[1, 2], [3, 4]])
        context = predictor.endpoint_context()
        datasets = [artifact.source.source_uri for artifact in context.dataset_artifacts()]
        found = LineageQuery(session).query(
            start_arns=[context.context_arn], direction=LineageQueryDirectionEnum.ASCENDANTS, include_edges=False,
            query_filter=LineageFilter(entities=[LineageEntityEnum.ARTIFACT], sources=[LineageSourceEnum.MODEL]))
        models = [vertex.to_lineage_object().source.source_uri for vertex in found.vertices]
        endpoint_arn = session.sagemaker_client.describe_endpoint(EndpointName=endpoint)["EndpointArn"]
    finally:
        predictor.delete_model()  # first: it reads the endpoint config that delete_endpoint() deletes
        predictor.delete_endpoint()
    print("result: " + json.dumps({"registered": registered, "approved": approved, "predicted": predicted,
                                   "job": estimator.latest_training_job.name, "data": data, "datasets": datasets,
                                   "models": models, "model_data": estimator.model_data,
                                   "context": context.context_arn, "endpoint_arn": endpoint_arn}))
"""


@pytest.fixture(scope="module")
def warm_sklearn() -> None:
    warm("sklearn", "1.2-1")


def run_user(folder: Path, url: str, *args: str) -> dict[str, Any]:
    """Run USER as a user would, beside code/train.py; answer what it printed last."""
    (folder / "code").mkdir()
    (folder / "code" / "train.py").write_text(textwrap.dedent(TRAIN))
    (folder / "user.py").write_text(textwrap.dedent(USER))
    done = subprocess.run([sys.executable, "user.py", *args], cwd=folder, capture_output=True, text=True,
                          env=user_shell(url, folder) | {"SAGEMAKER_SUPPRESS_V2_WARNING": "1"}, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    result: dict[str, Any] = json.loads(done.stdout[done.stdout.rindex("result: ") + 8:].splitlines()[0])
    return result


def test_the_sdk_registers_versions_and_deploys_the_most_recent_approved_one(
        warm_sklearn: None, server: ServerProcess, sagemaker: Any, tmp_path: Path, unique: str) -> None:
    cursor = _latest_cursor(server.url)
    result = run_user(tmp_path, server.url, unique, unique)
    group_arn = sagemaker.describe_model_package_group(ModelPackageGroupName=unique)["ModelPackageGroupArn"]
    versions = [group_arn.replace(":model-package-group/", ":model-package/") + f"/{n}" for n in (1, 2)]
    assert result["registered"] == versions and result["approved"] == versions[0]
    assert result["predicted"] == pytest.approx([5.0, 11.0])
    described = sagemaker.describe_model_package(ModelPackageName=versions[0])
    assert (described["ModelApprovalStatus"], described["ApprovalDescription"]) == ("Approved", "reviewed")
    assert described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"].endswith(
        f"/{result['job']}/output/model.tar.gz")

    shown = modelbay("--json", "models", "packages", unique, url=server.url)
    assert shown.returncode == 0, shown.stderr
    listed = json.loads(shown.stdout)
    assert [(v["ModelPackageVersion"], v["ModelApprovalStatus"], v["CustomerMetadataProperties"]) for v in listed] == [
        (1, "Approved", {"stage": "first"}), (2, "PendingManualApproval", {"stage": "second"})]
    assert {v["TrainingJobName"] for v in listed} == {result["job"]}
    assert [metric["MetricName"] for metric in listed[0]["FinalMetricDataList"]] == ["mse"]

    mine = [e for e in read_events(cursor, url=server.url, limit=1000).events if e["resources"][0] in versions]
    assert [(e["resources"][0], e["detail"]["ModelApprovalStatus"]) for e in mine] == [
        (versions[0], "PendingManualApproval"), (versions[1], "PendingManualApproval"), (versions[0], "Approved")]
    assert {(e["detail-type"], e["source"]) for e in mine} == {("SageMaker Model Package State Change",
                                                                "aws.sagemaker")}
    _assert_traced_back_to_its_training_data(result, server, sagemaker)
    for version in versions:
        sagemaker.delete_model_package(ModelPackageName=version)
    sagemaker.delete_model_package_group(ModelPackageGroupName=unique)


def _assert_traced_back_to_its_training_data(result: dict[str, Any], server: ServerProcess, sagemaker: Any) -> None:
    """The endpoint's lineage reaches the job's training data: through the SDK, QueryLineage and `modelbay lineage`."""
    assert result["datasets"] == [result["data"]]  # EndpointContext.dataset_artifacts()
    assert result["models"] == [result["model_data"]]  # LineageQuery: the model the job produced is the one deployed
    answer = sagemaker.query_lineage(StartArns=[result["context"]], Direction="Ascendants", IncludeEdges=True)
    by_type = {vertex["Type"]: vertex for vertex in answer["Vertices"]}
    assert {"Endpoint", "ModelDeployment", "Model", "Image", "TrainingJob", "DataSet"} <= by_type.keys()
    assert by_type["TrainingJob"]["Arn"].endswith(f":experiment-trial-component/{result['job'].lower()}"
                                                  "-aws-training-job")
    edges = {(edge["SourceArn"], edge["AssociationType"], edge["DestinationArn"]) for edge in answer["Edges"]}
    assert (by_type["TrainingJob"]["Arn"], "Produced", by_type["Model"]["Arn"]) in edges
    assert (by_type["DataSet"]["Arn"], "ContributedTo", by_type["TrainingJob"]["Arn"]) in edges
    drawn = modelbay("lineage", result["endpoint_arn"], url=server.url, env={"COLUMNS": "400"})
    assert drawn.returncode == 0, drawn.stderr
    assert "upstream" in drawn.stdout and f"DataSet artifact {result['data']}" in drawn.stdout


def test_concurrent_registrations_then_approval_through_the_cli_and_its_event(
        server: ServerProcess, sagemaker: Any, unique: str) -> None:
    sagemaker.create_model_package_group(ModelPackageGroupName=unique)
    spec = {"Containers": [{"Image": SKLEARN, "ModelDataUrl": f"s3://{unique}/model.tar.gz"}]}
    with ThreadPoolExecutor(max_workers=8) as pool:
        arns = list(pool.map(lambda _: sagemaker.create_model_package(
            ModelPackageGroupName=unique, InferenceSpecification=spec)["ModelPackageArn"], range(16)))
    assert sorted(int(arn.rsplit("/", 1)[1]) for arn in arns) == list(range(1, 17))

    cursor = _latest_cursor(server.url)
    waited: dict[str, Any] = {}
    poll = threading.Thread(target=lambda: waited.update(httpx.get(
        f"{server.url}/_modelbay/v1/events", params={"after": str(cursor), "wait": "15"}, timeout=30,
        auth=ROOT_SIGNED).json()))
    poll.start()  # a long poll waiting for the next event
    approved = modelbay("models", "approve", arns[0], "--description", "looks right", url=server.url)
    assert approved.returncode == 0 and approved.stdout.strip().endswith("is Approved"), approved.stderr
    poll.join()
    [event] = waited["Events"]
    assert (event["resources"], event["detail"]["ModelApprovalStatus"], event["detail"]["ApprovalDescription"]) == (
        [arns[0]], "Approved", "looks right")
    assert waited["NextCursor"] == str(cursor + 1)

    rejected = modelbay("models", "reject", arns[1], url=server.url)
    assert rejected.returncode == 0, rejected.stderr
    followed = json.loads(modelbay("--json", "events", "--after", str(cursor), url=server.url).stdout)
    assert [(e["resources"][0], e["detail"]["ModelApprovalStatus"]) for e in followed] == [
        (arns[0], "Approved"), (arns[1], "Rejected")]
    table = modelbay("events", "--after", str(cursor), url=server.url, env={"COLUMNS": "250"}).stdout
    assert "SageMaker Model Package State Change" in table and "Rejected" in table
    versions = modelbay("models", "packages", unique, url=server.url, env={"COLUMNS": "250"}).stdout
    assert "Approved" in versions and "Rejected" in versions and arns[15] in versions

    with pytest.raises(ClientError) as refused:
        sagemaker.delete_model_package_group(ModelPackageGroupName=unique)
    assert refused.value.response["Error"]["Code"] == "ConflictException"
    for arn in arns:
        sagemaker.delete_model_package(ModelPackageName=arn)
    sagemaker.delete_model_package_group(ModelPackageGroupName=unique)


def _latest_cursor(url: str) -> int:
    """The cursor after every event the server has now (pages through what it keeps)."""
    cursor = 0
    while (page := read_events(cursor, url=url, limit=1000)).events:
        cursor = page.next_cursor
    return cursor
