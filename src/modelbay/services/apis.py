"""Which AWS APIs modelbay answers, by botocore service name, and the operations of each.

An operation of a served API that has no function here is answered with a clear
"not implemented yet" error naming it.
"""

from __future__ import annotations

from collections.abc import Mapping

from modelbay.services import (
    application_autoscaling,
    cloudtrail,
    cloudwatch,
    cloudwatch_alarms,
    ecr,
    iam,
    kms,
    logs,
    s3,
    sagemaker,
    sagemaker_edge,
    sagemaker_metrics,
    sagemaker_runtime,
    sts,
)
from modelbay.services.base import Handler


def served_operations() -> dict[str, Mapping[str, Handler]]:
    return {
        "sagemaker": sagemaker.OPERATIONS,
        "sagemaker-runtime": sagemaker_runtime.OPERATIONS,
        "sagemaker-metrics": sagemaker_metrics.OPERATIONS,
        "sagemaker-edge": sagemaker_edge.OPERATIONS,
        "logs": logs.OPERATIONS,
        "s3": s3.OPERATIONS,
        "sts": sts.OPERATIONS,
        "ecr": ecr.OPERATIONS,
        "iam": iam.OPERATIONS,
        "kms": kms.OPERATIONS,
        "cloudwatch": {**cloudwatch.OPERATIONS, **cloudwatch_alarms.OPERATIONS},
        "cloudtrail": cloudtrail.OPERATIONS,
        "application-autoscaling": application_autoscaling.OPERATIONS,
    }
