"""AWS managed policies: the ones a SageMaker user attaches, scoped to the services modelbay answers.

Each document is in `managed_policies/<name>.json` beside this module, written for modelbay's actions with the
decisions AWS's policy of that name makes (read-only ones grant Describe*, List*, Get*, Search and the like; SageMaker's
keep iam:PassRole only when passed to sagemaker.amazonaws.com). The catalog is read on first use, once.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources

from modelbay.security.policy_document import PolicyDocument, parse_policy

_FOLDER = "managed_policies"
_JOB_FUNCTION = "/job-function/"
_POLICY_ID_PREFIX = "ANPA"  # IAM's prefix of a managed policy's id
_POLICY_ID_LENGTH = 21

# name, path, description
_CATALOG = (
    ("AdministratorAccess", "/", "Provides full access to AWS services and resources."),
    ("AmazonSageMakerFullAccess", "/",
     "Provides full access to Amazon SageMaker, and select access to related services (S3, ECR, CloudWatch, "
     "CloudWatch Logs, Application Auto Scaling, KMS)."),
    ("AmazonSageMakerReadOnly", "/", "Provides read-only access to Amazon SageMaker."),
    ("DataScientist", _JOB_FUNCTION,
     "Grants permissions to AWS data analytics and machine learning services: SageMaker, its data in S3, "
     "its images, metrics and logs."),
    ("AmazonS3FullAccess", "/", "Provides full access to all buckets."),
    ("AmazonS3ReadOnlyAccess", "/", "Provides read-only access to all buckets."),
    ("CloudWatchReadOnlyAccess", "/", "Provides read-only access to CloudWatch metrics, alarms and logs."),
    ("CloudWatchFullAccess", "/", "Provides full access to CloudWatch metrics, alarms and logs."),
    ("CloudWatchLogsFullAccess", "/", "Provides full access to CloudWatch Logs."),
    ("CloudWatchLogsReadOnlyAccess", "/", "Provides read-only access to CloudWatch Logs."),
    ("IAMFullAccess", "/", "Provides full access to IAM."),
    ("IAMReadOnlyAccess", "/", "Provides read-only access to IAM."),
    ("AWSKeyManagementServicePowerUser", "/",
     "Provides access to AWS Key Management Service (KMS) keys' management, without the use of the keys."),
    ("AmazonEC2ContainerRegistryFullAccess", "/", "Provides full access to Amazon ECR repositories and images."),
    ("AmazonEC2ContainerRegistryReadOnly", "/", "Provides read-only access to Amazon ECR repositories and images."),
    ("AWSCloudTrail_ReadOnlyAccess", "/", "Provides read-only access to AWS CloudTrail's trails and events."),
    ("AmazonSageMakerModelRegistryFullAccess", "/",
     "Provides full access to SageMaker's Model Registry: model packages, their groups and their artifacts."),
)


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    path: str  # "/" or "/job-function/"
    arn: str  # arn:aws:iam::aws:policy/<path without its leading slash><name>
    policy_id: str  # ANPA…, the same on every machine
    description: str
    document_text: str
    document: PolicyDocument
    version_id: str = "v1"


class _Catalog(Mapping[str, ManagedPolicy]):
    """The managed policies by ARN; the files are read on first use, so that importing reads nothing."""

    def __getitem__(self, arn: str) -> ManagedPolicy:
        return _policies()[arn]

    def __iter__(self) -> Iterator[str]:
        return iter(_policies())

    def __len__(self) -> int:
        return len(_policies())


AWS_MANAGED_POLICIES: Mapping[str, ManagedPolicy] = _Catalog()


@functools.cache
def _policies() -> dict[str, ManagedPolicy]:
    policies = (_policy(name, path, description) for name, path, description in _CATALOG)
    return {policy.arn: policy for policy in policies}


def _policy(name: str, path: str, description: str) -> ManagedPolicy:
    text = resources.files(__package__).joinpath(_FOLDER).joinpath(f"{name}.json").read_text(encoding="utf-8")
    arn = f"arn:aws:iam::aws:policy{path}{name}"
    return ManagedPolicy(name, path, arn, _policy_id(arn), description, text, parse_policy(text))


def _policy_id(arn: str) -> str:
    """A stable id in IAM's form: ANPA and 17 upper-case letters and digits, derived from the ARN."""
    digest = base64.b32encode(hashlib.sha256(arn.encode()).digest()).decode()
    return (_POLICY_ID_PREFIX + digest)[:_POLICY_ID_LENGTH]
