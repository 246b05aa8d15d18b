"""Why a job's hosts failed, in SageMaker's words.

Jobs that run a user's program on hosts (training, processing) fail as a whole when one host
fails, and say why from the first that did: out of memory, lost (no recorded exit; on a cluster, lost with the
node it ran on, which the reason names), stopped for a reason of someone else's (the server shutting down), or the
program's own error and exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from modelbay.runtime.base import Instance, InstanceStatus


def has_failed(instance: Instance) -> bool:
    """Whether the host failed; one stopped for a reason of someone else's (its server shutting down) did."""
    return instance.status in (InstanceStatus.OOM_KILLED, InstanceStatus.LOST) or (
        instance.status is InstanceStatus.EXITED and instance.exit_code != 0) or (
        instance.status is InstanceStatus.STOPPED and instance.reason is not None)


def lost_with_node(found: Sequence[Instance]) -> Instance | None:
    """The first host lost with the cluster node it ran on (the runtime's reason names the node); None if none was."""
    return next((i for i in found if i.status is InstanceStatus.LOST and i.node is not None and i.reason), None)


def node_loss(lost: Instance, job: str) -> str:
    """What befell a host lost with its node, e.g. "host algo-2 of the training job was lost: the node 5f0c1e9a2b3d
    (10.0.0.12, zone us-east-1b) running it was lost"."""
    return f"host {lost.labels.get('host', lost.id)} of {job} was lost: {lost.reason}"


def failure_reason(found: Sequence[Instance], program: str, job: str, lost: str,
                   last_words: Callable[[Instance], str]) -> str | None:
    """Why the job failed, from its first failed host; None if none did (a stop is not a failure). A host lost with
    its node comes first: the others' programs may have failed only for losing their peer.

    `program` and `job` name them in the reason ("the training process", "the training job"), `lost` is
    the reason for a host that vanished, `last_words` what a failed program left to say.
    """
    with_node = lost_with_node(found)
    if with_node is not None:
        return f"InternalServerError: {node_loss(with_node, job)}"
    failed = next((i for i in found if has_failed(i)), None)
    if failed is None:
        return None
    if failed.status is InstanceStatus.OOM_KILLED:
        return f"OutOfMemoryError: {program} {failed.reason}"
    if failed.status is InstanceStatus.LOST:
        return lost
    if failed.status is InstanceStatus.STOPPED:
        return f"InternalServerError: {job}'s instances were {failed.reason}"
    return f"AlgorithmError: {last_words(failed)}, exit code: {failed.exit_code}"
