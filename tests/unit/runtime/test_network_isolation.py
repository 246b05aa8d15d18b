"""EnableNetworkIsolation where instances cannot have networks of their own: refused, never run on the host's."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from modelbay.runtime.base import StartFailed
from modelbay.runtime.process import ProcessRuntime
from tests.unit.runtime.test_process import python_spec


def test_an_isolated_instance_is_refused_where_instances_share_the_hosts_network(tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path / "state", networks=False)
    spec = dataclasses.replace(python_spec(tmp_path, "print('reached the network')"), isolated=True)
    with pytest.raises(StartFailed, match="EnableNetworkIsolation needs a network namespace"):
        runtime.start(spec, {"job": "isolated"})
    assert runtime.list({}) == []
    assert not [path for path in (tmp_path / "state").iterdir() if path.suffix in (".json", ".log", ".scratch")]
