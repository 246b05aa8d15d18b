"""Network settings of training, processing and tuning jobs and of models: VpcConfig checked, recorded and given
back; EnableInterContainerTrafficEncryption refused where instances would talk in the clear."""

from __future__ import annotations

from typing import Any

import pytest

from modelbay.errors import ValidationError
from modelbay.services.base import Context
from modelbay.services.sagemaker import OPERATIONS
from tests.unit.services.sagemaker.test_processing_jobs import _request as processing_request
from tests.unit.services.sagemaker.test_training_jobs import _request as training_request
from tests.unit.services.sagemaker.test_tuning_jobs import DEFINITION
from tests.unit.services.sagemaker.test_tuning_jobs import _request as tuning_request

VPC = {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-0a1b2c3d", "subnet-0123456789abcdef0"]}
TWO_INSTANCES = {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 1}


def call(ctx: Context, operation: str, **params: Any) -> Any:
    return OPERATIONS[operation](ctx, params)


def test_a_vpc_config_is_recorded_and_given_back_by_each_describe(ctx: Context) -> None:
    call(ctx, "CreateTrainingJob", **training_request("t", VpcConfig=VPC))
    assert call(ctx, "DescribeTrainingJob", TrainingJobName="t")["VpcConfig"] == VPC
    call(ctx, "CreateProcessingJob", **processing_request("p", NetworkConfig={"VpcConfig": VPC}))
    assert call(ctx, "DescribeProcessingJob", ProcessingJobName="p")["NetworkConfig"]["VpcConfig"] == VPC
    call(ctx, "CreateModel", ModelName="m", PrimaryContainer={"Image": "modelbay/sklearn"}, VpcConfig=VPC,
         ExecutionRoleArn="arn:aws:iam::123456789012:role/r")
    assert call(ctx, "DescribeModel", ModelName="m")["VpcConfig"] == VPC
    call(ctx, "CreateHyperParameterTuningJob", **tuning_request("h", TrainingJobDefinition=DEFINITION | {
        "VpcConfig": VPC}))
    described = call(ctx, "DescribeHyperParameterTuningJob", HyperParameterTuningJobName="h")
    assert described["TrainingJobDefinition"]["VpcConfig"] == VPC


@pytest.mark.parametrize(("vpc", "words"), [
    ({"SecurityGroupIds": [], "Subnets": ["subnet-0a1b2c3d"]}, "VpcConfig.SecurityGroupIds must name at least one"),
    ({"SecurityGroupIds": ["sg-0a1b2c3d"], "Subnets": []}, "VpcConfig.Subnets must name at least one"),
    ({"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-0a1b2c3d"]}, "sg-1 is not a valid id"),
    ({"SecurityGroupIds": ["sg-0a1b2c3d"], "Subnets": ["vpc-0a1b2c3d", "subnet-xyz"]}, "are not valid ids")])
def test_a_vpc_config_sagemaker_refuses_is_refused_by_each_create(ctx: Context, vpc: dict[str, Any],
                                                                  words: str) -> None:
    creations = [("CreateTrainingJob", training_request("t", VpcConfig=vpc)),
                 ("CreateProcessingJob", processing_request("p", NetworkConfig={"VpcConfig": vpc})),
                 ("CreateModel", {"ModelName": "m", "PrimaryContainer": {"Image": "modelbay/sklearn"},
                                  "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r", "VpcConfig": vpc}),
                 ("CreateHyperParameterTuningJob", tuning_request("h", TrainingJobDefinition=DEFINITION | {
                     "VpcConfig": vpc}))]
    for operation, params in creations:
        with pytest.raises(ValidationError, match=words):
            call(ctx, operation, **params)


def test_traffic_encryption_is_refused_between_instances_and_accepted_for_one(ctx: Context) -> None:
    refused = [("CreateTrainingJob", training_request("t2", EnableInterContainerTrafficEncryption=True,
                                                      ResourceConfig=TWO_INSTANCES)),
               ("CreateProcessingJob", processing_request("p2", NetworkConfig={
                   "EnableInterContainerTrafficEncryption": True}, ProcessingResources={"ClusterConfig": {
                       "InstanceCount": 2, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}})),
               ("CreateHyperParameterTuningJob", tuning_request("h2", TrainingJobDefinition=DEFINITION | {
                   "EnableInterContainerTrafficEncryption": True, "ResourceConfig": TWO_INSTANCES}))]
    for operation, params in refused:
        with pytest.raises(ValidationError, match="EnableInterContainerTrafficEncryption is not available for "
                                                  "more than one instance"):
            call(ctx, operation, **params)
    call(ctx, "CreateTrainingJob", **training_request("t1", EnableInterContainerTrafficEncryption=True))
    assert call(ctx, "DescribeTrainingJob", TrainingJobName="t1")["EnableInterContainerTrafficEncryption"] is True
    call(ctx, "CreateTrainingJob", **training_request("t3", ResourceConfig=TWO_INSTANCES))  # unencrypted: runs
