from __future__ import annotations

import json
import re

import pytest

from modelbay.security.managed_policies import AWS_MANAGED_POLICIES, ManagedPolicy
from modelbay.security.policy_evaluation import AuthorizationRequest, NamedPolicy, evaluate
from modelbay.security.request_context import ContextValue

POLICY = "arn:aws:iam::aws:policy/"
JOB = "arn:aws:sagemaker:us-east-1:111122223333:training-job/churn"
PACKAGE = "arn:aws:sagemaker:us-east-1:111122223333:model-package/churn/1"
ROLE = "arn:aws:iam::111122223333:role/SageMakerExecution"


def managed(name: str) -> ManagedPolicy:
    return AWS_MANAGED_POLICIES[POLICY + name]


def test_the_catalog_holds_the_policies_by_arn() -> None:
    assert sorted(policy.name for policy in AWS_MANAGED_POLICIES.values()) == sorted([
        "AmazonSageMakerFullAccess", "AmazonSageMakerReadOnly", "AdministratorAccess", "DataScientist",
        "AmazonS3FullAccess", "AmazonS3ReadOnlyAccess", "CloudWatchReadOnlyAccess", "CloudWatchFullAccess",
        "CloudWatchLogsFullAccess", "CloudWatchLogsReadOnlyAccess", "IAMFullAccess", "IAMReadOnlyAccess",
        "AWSKeyManagementServicePowerUser", "AmazonEC2ContainerRegistryFullAccess",
        "AmazonEC2ContainerRegistryReadOnly", "AWSCloudTrail_ReadOnlyAccess",
        "AmazonSageMakerModelRegistryFullAccess"])
    for arn, policy in AWS_MANAGED_POLICIES.items():
        assert arn == policy.arn == f"{POLICY}{policy.path.lstrip('/')}{policy.name}"
        assert policy.version_id == "v1" and policy.description


def test_a_job_function_policy_has_its_path() -> None:
    data_scientist = managed("job-function/DataScientist")
    assert (data_scientist.name, data_scientist.path) == ("DataScientist", "/job-function/")


def test_policy_ids_are_iams_form_and_distinct() -> None:
    ids = [policy.policy_id for policy in AWS_MANAGED_POLICIES.values()]
    assert all(re.fullmatch(r"ANPA[A-Z0-9]{17}", policy_id) for policy_id in ids)
    assert len(set(ids)) == len(ids)
    assert managed("AdministratorAccess").policy_id == "ANPAXUEARDEVTUHKHZ23E"  # the same on every machine


def test_each_document_is_its_text_and_an_identity_policy() -> None:
    for policy in AWS_MANAGED_POLICIES.values():
        assert json.loads(policy.document_text)["Version"] == "2012-10-17"
        assert policy.document.kind == "identity"
        assert len(policy.document.statements) == len(json.loads(policy.document_text)["Statement"])


# (policy, action, resource, context, allowed)
DECISIONS: list[tuple[str, str, str, dict[str, ContextValue], bool]] = [
    ("AdministratorAccess", "iam:CreateUser", "arn:aws:iam::111122223333:user/bob", {}, True),
    ("AmazonSageMakerReadOnly", "sagemaker:ListTrainingJobs", "*", {}, True),
    ("AmazonSageMakerReadOnly", "sagemaker:DescribeTrainingJob", JOB, {}, True),
    ("AmazonSageMakerReadOnly", "sagemaker:Search", "*", {}, True),
    ("AmazonSageMakerReadOnly", "sagemaker:CreateTrainingJob", JOB, {}, False),
    ("AmazonSageMakerReadOnly", "sagemaker:InvokeEndpoint", "arn:aws:sagemaker:us-east-1:1:endpoint/e", {}, False),
    ("AmazonSageMakerFullAccess", "sagemaker:CreateTrainingJob", JOB, {}, True),
    ("AmazonSageMakerFullAccess", "iam:PassRole", ROLE, {"iam:PassedToService": "sagemaker.amazonaws.com"}, True),
    ("AmazonSageMakerFullAccess", "iam:PassRole", ROLE, {"iam:PassedToService": "ec2.amazonaws.com"}, False),
    ("AmazonSageMakerFullAccess", "iam:PassRole", ROLE, {}, False),
    ("AmazonSageMakerFullAccess", "s3:PutObject", "arn:aws:s3:::sagemaker-us-east-1-111122223333/out/model.tar.gz",
     {}, True),
    ("AmazonSageMakerFullAccess", "s3:GetObject", "arn:aws:s3:::data/train.csv", {}, False),
    ("AmazonSageMakerFullAccess", "s3:GetObject", "arn:aws:s3:::data/train.csv",
     {"s3:ExistingObjectTag/SageMaker": "True"}, True),
    ("AmazonSageMakerFullAccess", "logs:PutLogEvents",
     "arn:aws:logs:us-east-1:111122223333:log-group:/aws/sagemaker/TrainingJobs:log-stream:churn/algo-1", {}, True),
    ("AmazonSageMakerFullAccess", "logs:PutLogEvents",
     "arn:aws:logs:us-east-1:111122223333:log-group:/app:log-stream:x", {}, False),
    ("AmazonSageMakerFullAccess", "iam:CreateRole", ROLE, {}, False),
    ("job-function/DataScientist", "sagemaker:CreateTrainingJob", JOB, {}, True),
    ("job-function/DataScientist", "s3:GetObject", "arn:aws:s3:::data/train.csv", {}, True),
    ("job-function/DataScientist", "iam:PassRole", ROLE, {"iam:PassedToService": "sagemaker.amazonaws.com"}, True),
    ("job-function/DataScientist", "iam:CreateRole", ROLE, {}, False),
    ("AmazonS3FullAccess", "s3:DeleteBucket", "arn:aws:s3:::data", {}, True),
    ("AmazonS3ReadOnlyAccess", "s3:GetObject", "arn:aws:s3:::data/train.csv", {}, True),
    ("AmazonS3ReadOnlyAccess", "s3:ListAllMyBuckets", "*", {}, True),
    ("AmazonS3ReadOnlyAccess", "s3:PutObject", "arn:aws:s3:::data/train.csv", {}, False),
    ("CloudWatchReadOnlyAccess", "cloudwatch:GetMetricData", "*", {}, True),
    ("CloudWatchReadOnlyAccess", "logs:FilterLogEvents", "*", {}, True),
    ("CloudWatchReadOnlyAccess", "cloudwatch:PutMetricAlarm", "*", {}, False),
    ("CloudWatchFullAccess", "cloudwatch:PutMetricAlarm", "*", {}, True),
    ("CloudWatchLogsFullAccess", "logs:DeleteLogGroup", "*", {}, True),
    ("CloudWatchLogsFullAccess", "cloudwatch:PutMetricData", "*", {}, False),
    ("CloudWatchLogsReadOnlyAccess", "logs:GetLogEvents", "*", {}, True),
    ("CloudWatchLogsReadOnlyAccess", "logs:PutLogEvents", "*", {}, False),
    ("IAMFullAccess", "iam:CreateRole", ROLE, {}, True),
    ("IAMFullAccess", "sts:AssumeRole", ROLE, {}, False),
    ("IAMReadOnlyAccess", "iam:GetRole", ROLE, {}, True),
    ("IAMReadOnlyAccess", "iam:SimulatePrincipalPolicy", ROLE, {}, True),
    ("IAMReadOnlyAccess", "iam:CreateRole", ROLE, {}, False),
    ("AWSKeyManagementServicePowerUser", "kms:CreateKey", "*", {}, True),
    ("AWSKeyManagementServicePowerUser", "kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/k", {}, False),
    ("AWSKeyManagementServicePowerUser", "kms:ScheduleKeyDeletion", "arn:aws:kms:us-east-1:1:key/k", {}, False),
    ("AmazonEC2ContainerRegistryFullAccess", "ecr:PutImage", "arn:aws:ecr:us-east-1:1:repository/r", {}, True),
    ("AmazonEC2ContainerRegistryReadOnly", "ecr:BatchGetImage", "arn:aws:ecr:us-east-1:1:repository/r", {}, True),
    ("AmazonEC2ContainerRegistryReadOnly", "ecr:PutImage", "arn:aws:ecr:us-east-1:1:repository/r", {}, False),
    ("AWSCloudTrail_ReadOnlyAccess", "cloudtrail:LookupEvents", "*", {}, True),
    ("AWSCloudTrail_ReadOnlyAccess", "cloudtrail:CreateTrail", "*", {}, False),
    ("AmazonSageMakerModelRegistryFullAccess", "sagemaker:CreateModelPackage", PACKAGE, {}, True),
    ("AmazonSageMakerModelRegistryFullAccess", "sagemaker:ListModelPackages", "*", {}, True),
    ("AmazonSageMakerModelRegistryFullAccess", "sagemaker:CreateTrainingJob", JOB, {}, False),
]


@pytest.mark.parametrize(("name", "action", "resource", "context", "allowed"), DECISIONS)
def test_managed_policy_decisions(name: str, action: str, resource: str, context: dict[str, ContextValue],
                                  allowed: bool) -> None:
    policy = managed(name)
    evaluation = evaluate([NamedPolicy(policy.arn, policy.document)], AuthorizationRequest(action, resource, context))
    assert evaluation.allowed is allowed
