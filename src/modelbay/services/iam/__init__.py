"""IAM (botocore `iam`, AWS query protocol): one module per kind of entity, their operations gathered here."""

from __future__ import annotations

from modelbay.services.base import Handler
from modelbay.services.iam import (
    access_keys,
    attachments,
    groups,
    inline_policies,
    mfa_devices,
    policies,
    roles,
    simulation,
    users,
)

OPERATIONS: dict[str, Handler] = {
    **mfa_devices.OPERATIONS,
    **roles.OPERATIONS,
    **users.OPERATIONS,
    **groups.OPERATIONS,
    **access_keys.OPERATIONS,
    **policies.OPERATIONS,
    **attachments.OPERATIONS,
    **inline_policies.OPERATIONS,
    **simulation.OPERATIONS,
}
