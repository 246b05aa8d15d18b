"""The KMS keys a SageMaker request names (an output's KmsKeyId, a volume's VolumeKmsKeyId), checked when it is made.

SageMaker refuses a request whose key is missing, disabled or pending deletion with a ValidationException
naming the key; modelbay checks against the region's key ring the same way. Outputs are then written SSE-KMS
under their key (controllers/uploads.py): a training job's model and output data, a processing job's outputs,
a transform job's results, an endpoint's captured data.

A volume key (a job's VolumeKmsKeyId, an endpoint config's KmsKeyId) asks that the instances' storage volumes
be encrypted: each instance's scratch volume is then encrypted under a data key of its own, which its
controller generates under that key when the instance starts (runtime/volume_encryption.py). Where the
server's runtime cannot encrypt volumes (runtime.backends.encrypts_volumes: not root, no loop devices, a kernel
without ext4 encryption, podman) the request is refused, saying why, rather than run with its data in the clear.
"""

from __future__ import annotations

from typing import Any

from modelbay.errors import AwsError, ValidationError
from modelbay.runtime.backends import encrypts_volumes
from modelbay.services.base import Context

VOLUME_ENCRYPTION_UNAVAILABLE = (
    "{member}: encrypting an instance's storage volume with a KMS key is not available on this modelbay server "
    "(its scratch volumes can be encrypted only by the process runtime, as root, with loop devices and a kernel "
    "with ext4 encryption); leave {member} out, or encrypt the disk under the data directory.")


def check_usable(ctx: Context, key_id: str | None, member: str) -> None:
    """Refuse a key id, ARN or alias that names no Enabled key of the region (None and '' name none)."""
    if not key_id:
        return
    try:
        ctx.platform.kms.require_usable(key_id)
    except AwsError as error:
        raise ValidationError(f"{member}: the KMS key '{key_id}' cannot be used: {error.message}") from error


def check_volume_key(ctx: Context, key_id: str | None, member: str) -> None:
    """Refuse a volume key that is not usable, or that this server's runtime cannot encrypt volumes with."""
    check_usable(ctx, key_id, member)
    if key_id and not encrypts_volumes(ctx.settings):
        raise ValidationError(VOLUME_ENCRYPTION_UNAVAILABLE.format(member=member))


def check_training_keys(ctx: Context, params: dict[str, Any], where: str = "") -> None:
    """The keys of CreateTrainingJob, or of one of a tuning job's training job definitions (`where` names it):
    OutputDataConfig.KmsKeyId, and ResourceConfig's (or HyperParameterTuningResourceConfig's) VolumeKmsKeyId."""
    check_usable(ctx, params.get("OutputDataConfig", {}).get("KmsKeyId"), f"{where}OutputDataConfig.KmsKeyId")
    for resources in ("ResourceConfig", "HyperParameterTuningResourceConfig"):
        check_volume_key(ctx, params.get(resources, {}).get("VolumeKmsKeyId"), f"{where}{resources}.VolumeKmsKeyId")


def check_processing_keys(ctx: Context, params: dict[str, Any]) -> None:
    """CreateProcessingJob's keys: its outputs' and its cluster's volumes'."""
    check_usable(ctx, params.get("ProcessingOutputConfig", {}).get("KmsKeyId"), "ProcessingOutputConfig.KmsKeyId")
    check_volume_key(ctx, params["ProcessingResources"]["ClusterConfig"].get("VolumeKmsKeyId"),
                     "ProcessingResources.ClusterConfig.VolumeKmsKeyId")


def check_transform_keys(ctx: Context, params: dict[str, Any]) -> None:
    """CreateTransformJob's keys: its results' and its instances' volumes'."""
    check_usable(ctx, params["TransformOutput"].get("KmsKeyId"), "TransformOutput.KmsKeyId")
    check_volume_key(ctx, params["TransformResources"].get("VolumeKmsKeyId"), "TransformResources.VolumeKmsKeyId")


def check_endpoint_config_keys(ctx: Context, params: dict[str, Any]) -> None:
    """CreateEndpointConfig's keys: its instances' volumes' (KmsKeyId) and its captured data's."""
    check_volume_key(ctx, params.get("KmsKeyId"), "KmsKeyId")
    check_usable(ctx, params.get("DataCaptureConfig", {}).get("KmsKeyId"), "DataCaptureConfig.KmsKeyId")
