"""Plain boto3 against modelbay: every client is made with no endpoint, region or credentials argument.

Run it after `eval "$(modelbay env)"`; the same file runs against AWS with a role and bucket of yours.
It asks STS who it is and IAM for the execution role, uploads a dataset and the scikit-learn script of
examples/code/sklearn, trains it on SageMaker's scikit-learn image in script mode, reads the job's log
from CloudWatch Logs, serves the model from an endpoint, invokes it, and deletes what it made.

    eval "$(modelbay env)" && python examples/boto3_plain.py
"""

from __future__ import annotations

import io
import json
import random
import tarfile
import time
from pathlib import Path

import boto3

CODE = Path(__file__).parent / "code" / "sklearn"
IMAGE = "683313688378.dkr.ecr.{region}.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
FAST_WAITER = {"Delay": 2, "MaxAttempts": 150}  # boto3's own waiters, polled more often than their default


def source_archive() -> bytes:
    """The script directory as the SageMaker SDK packs it: sourcedir.tar.gz."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(CODE / "train.py", arcname="train.py")
    return buffer.getvalue()


def dataset(rows: int = 200) -> bytes:
    """y = 3a - 2b + noise, label first."""
    rng = random.Random(0)
    lines = []
    for _ in range(rows):
        a, b = rng.uniform(-1, 1), rng.uniform(-1, 1)
        lines.append(f"{3 * a - 2 * b + rng.gauss(0, 0.01):.5f},{a:.5f},{b:.5f}")
    return "\n".join(lines).encode()


def main() -> None:
    sts, iam, s3 = boto3.client("sts"), boto3.client("iam"), boto3.client("s3")
    sagemaker, runtime, logs = boto3.client("sagemaker"), boto3.client("sagemaker-runtime"), boto3.client("logs")
    region = sagemaker.meta.region_name
    account = sts.get_caller_identity()["Account"]
    role = iam.get_role(RoleName="SageMakerExecutionRole")["Role"]["Arn"]
    print("account:", account, "role:", role)

    bucket, name = f"boto3-plain-{account}", time.strftime("boto3-plain-%Y%m%d-%H%M%S")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="train/rows.csv", Body=dataset())
    s3.put_object(Bucket=bucket, Key=f"{name}/sourcedir.tar.gz", Body=source_archive())
    image = IMAGE.format(region=region)

    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn=role,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        HyperParameters={"alpha": "0.1", "sagemaker_program": json.dumps("train.py"),
                         "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/{name}/sourcedir.tar.gz")},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/train/", "S3DataDistributionType": "FullyReplicated"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=name, WaiterConfig=FAST_WAITER)
    job = sagemaker.describe_training_job(TrainingJobName=name)
    print("training job:", job["TrainingJobStatus"], job["ModelArtifacts"]["S3ModelArtifacts"])
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=name)
    for stream in streams["logStreams"]:
        events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                     logStreamName=stream["logStreamName"], startFromHead=True)["events"]
        print("log:", " | ".join(event["message"] for event in events))

    sagemaker.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer={
        "Image": image, "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"],
        "Environment": {"SAGEMAKER_PROGRAM": "train.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/{name}/sourcedir.tar.gz"}})
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    try:
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAITER)
        answer = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Accept="text/csv",
                                         Body=b"1.0,1.0\n0.5,-0.5\n")
        print("invoked:", answer["InvokedProductionVariant"], answer["Body"].read().decode().split())
        print("expected: ['1.0', '2.5'] (about)")
    finally:
        sagemaker.delete_endpoint(EndpointName=name)
        sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=FAST_WAITER)
        sagemaker.delete_endpoint_config(EndpointConfigName=name)
        sagemaker.delete_model(ModelName=name)
    print("done")


if __name__ == "__main__":
    main()
