"""What CreateTrainingJob, CreateProcessingJob, CreateHyperParameterTuningJob and CreateModel refuse of their network
settings.

Every instance runs on this machine, in networks modelbay makes (runtime/network.py), so a VpcConfig joins no VPC:
it is checked as SageMaker checks it (ids that EC2 could have issued) and recorded, for Describe to give back and
IAM conditions (sagemaker:VpcSubnets, sagemaker:VpcSecurityGroupIds) to read. EnableNetworkIsolation is the
runtime's to honour (the instances reach nothing outside their group). EnableInterContainerTrafficEncryption is
refused where there is traffic between instances to encrypt: the hosts of a job talk over a bridge on this machine
in the clear, and modelbay does not encrypt it; one instance has no such traffic, so its flag is accepted.
"""

from __future__ import annotations

import re
from typing import Any

from modelbay.errors import ValidationError

# EC2's ids, and one of each for the message: the prefix, then 8 hex digits (older resources) or 17 (newer ones)
_IDS = {"SecurityGroupIds": (re.compile(r"sg-(?:[0-9a-f]{8}|[0-9a-f]{17})"), "sg-0123456789abcdef0"),
        "Subnets": (re.compile(r"subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})"), "subnet-0123456789abcdef0")}


def check_network(vpc: dict[str, Any] | None, encrypted: bool, instance_count: int, member: str = "") -> None:
    """Raise ValidationError for a VpcConfig SageMaker refuses, or for EnableInterContainerTrafficEncryption on more
    than one instance. `member`: where the settings lie in the request (`NetworkConfig.`), for the message."""
    if vpc is not None:
        check_vpc(vpc, member)
    if encrypted and instance_count > 1:
        raise ValidationError(f"{member}EnableInterContainerTrafficEncryption is not available for more than one "
                              f"instance (InstanceCount is {instance_count}): modelbay runs the instances on this "
                              f"machine and their traffic crosses its bridge unencrypted. Use one instance, or leave "
                              f"the flag out")


def check_vpc(vpc: dict[str, Any], member: str = "") -> None:
    """Raise ValidationError unless the VpcConfig names security groups and subnets by ids EC2 could have issued."""
    for name, (pattern, example) in _IDS.items():
        ids: list[str] = vpc.get(name, [])
        if not ids:
            raise ValidationError(f"{member}VpcConfig.{name} must name at least one id")
        if malformed := [given for given in ids if not pattern.fullmatch(given)]:
            raise ValidationError(f"{member}VpcConfig.{name}: {', '.join(malformed)} "
                                  f"{'is not a valid id' if len(malformed) == 1 else 'are not valid ids'} "
                                  f"(like {example})")
