"""PodmanRuntime against the real podman of this machine: exits, logs, mounts, limits, stops, networks, adoption."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay.base_images import debian_image
from modelbay.instance_types import InstanceType, instance_type
from modelbay.runtime.base import Instance, InstanceSpec, InstanceStatus, StartFailed
from modelbay.runtime.machine import machine_cpus
from modelbay.runtime.podman import OWNER, PodmanRuntime
from tests.helpers import wait_until

pytestmark = pytest.mark.skipif(shutil.which("podman") is None or shutil.which("runc") is None,
                                reason="podman and runc are not installed (make test installs them)")

PODMAN_DIR = Path(__file__).resolve().parents[3] / ".cache" / "podman"  # the suite's, like its environments
TINY = InstanceType("ml.test.tiny", 1, 64)  # test-only: a memory limit a test exceeds fast
# A TCP server on port 8080 answering each connection with `$ANSWER`: the image has bash and perl, no python.
LISTEN = ("exec perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalPort => 8080, Listen => 5, "
          "ReuseAddr => 1) or die; while ($c = $s->accept) { print $c \"$ENV{ANSWER}\\n\"; close $c }'")


@pytest.fixture(scope="session")
def image() -> str:
    return debian_image(PODMAN_DIR)


@pytest.fixture
def runtime(tmp_path: Path, image: str) -> Iterator[PodmanRuntime]:
    """A runtime on tmp_path/state; afterwards its containers are killed and removed, with their networks."""
    made = PodmanRuntime(tmp_path / "state", PODMAN_DIR)
    try:
        yield made
    finally:
        for instance in made.list({}):
            made.stop(instance.id, grace_s=0)
            wait_until(lambda i=instance: not made.inspect(i.id).is_alive, 10, "the instance to end")
            made.remove(instance.id)
        made.close()


def spec(tmp_path: Path, image: str, script: str, name: str = "opt_ml", **options: object) -> InstanceSpec:
    return InstanceSpec(argv=("bash", "-c", script), opt_ml=tmp_path / name,
                        instance_type=options.pop("instance_type", instance_type("ml.m5.large")),  # type: ignore[arg-type]
                        image=image, **options)  # type: ignore[arg-type]


def ended(runtime: PodmanRuntime, instance_id: str, timeout_s: float = 15) -> Instance:
    def check() -> Instance | None:
        instance = runtime.inspect(instance_id)
        return None if instance.is_alive else instance
    result = wait_until(check, timeout_s, f"instance {instance_id} to end")
    assert isinstance(result, Instance)
    return result


def answer(address: str) -> str:
    """What the instance's port 8080 says, once it listens."""
    def ask() -> str | None:
        try:
            with socket.create_connection((address, 8080), timeout=1) as conn:
                return conn.makefile().readline().strip()
        except OSError:
            return None
    said = wait_until(ask, 15, f"{address}:8080 to answer")
    assert isinstance(said, str)
    return said


def test_exit_code_and_log_of_stdout_and_stderr(runtime: PodmanRuntime, tmp_path: Path, image: str) -> None:
    started = runtime.start(spec(tmp_path, image, "echo err >&2; echo out; printf no-newline; exit 3"),
                            {"job": "a"})
    instance = ended(runtime, started.id)
    assert (instance.status, instance.exit_code, instance.reason) == (InstanceStatus.EXITED, 3, None)
    assert instance.labels == {"job": "a"} and instance.ended_at is not None
    assert instance.ended_at >= instance.started_at
    text = runtime.logs(started.id).read_text()
    assert sorted(text.splitlines()) == ["err", "no-newline", "out"]
    runtime.list({})  # read again: nothing is copied twice
    assert runtime.logs(started.id).read_text() == text


def test_a_program_that_prints_nothing_has_an_empty_log(runtime: PodmanRuntime, tmp_path: Path, image: str) -> None:
    instance = ended(runtime, runtime.start(spec(tmp_path, image, "exit 0"), {}).id)
    assert instance.log_path.read_bytes() == b""


def test_environment_opt_ml_hostname_and_cpus(runtime: PodmanRuntime, tmp_path: Path, image: str) -> None:
    script = ("echo $GREETING > /opt/ml/output/greeting; hostname > /opt/ml/output/hostname; "
              "nproc > /opt/ml/output/nproc; ls /opt/ml/input > /opt/ml/output/input")
    kind = instance_type("ml.m5.large")
    started = runtime.start(spec(tmp_path, image, script, env={"GREETING": "hello"}, hostname="algo-1",
                                 instance_type=kind), {})
    assert ended(runtime, started.id).exit_code == 0
    output = tmp_path / "opt_ml" / "output"
    assert (output / "greeting").read_text() == "hello\n"
    assert (output / "hostname").read_text() == "algo-1\n"
    assert (output / "nproc").read_text() == f"{min(kind.vcpus, len(machine_cpus()))}\n"
    assert "config" in (output / "input").read_text().split()  # the caller's tree, at /opt/ml


def test_the_memory_limit_kills_as_oom(runtime: PodmanRuntime, tmp_path: Path, image: str) -> None:
    started = runtime.start(spec(tmp_path, image, "perl -e '$x = \"a\" x 300_000_000'", instance_type=TINY), {})
    instance = ended(runtime, started.id)
    assert instance.status is InstanceStatus.OOM_KILLED
    assert instance.reason is not None and "ml.test.tiny" in instance.reason


def test_stop_sends_sigterm_then_sigkill_after_the_grace(runtime: PodmanRuntime, tmp_path: Path, image: str) -> None:
    script = "trap 'echo got TERM' TERM; echo ready; while true; do sleep 0.1; done"
    started = runtime.start(spec(tmp_path, image, script), {})
    wait_until(lambda: "ready" in runtime.logs(started.id).read_text(), 10, "the program to start")
    runtime.stop(started.id, grace_s=1, reason="asked by a test")
    runtime.stop(started.id, grace_s=1, reason="a second stop")  # keeps the first reason
    instance = ended(runtime, started.id)
    assert (instance.status, instance.reason) == (InstanceStatus.STOPPED, "asked by a test")
    assert instance.exit_code == 137  # it ignored the SIGTERM, so the SIGKILL ended it
    assert "got TERM" in runtime.logs(started.id).read_text()


def test_a_group_resolves_by_name_and_an_isolated_instance_is_reached_only_from_the_host(
        runtime: PodmanRuntime, tmp_path: Path, image: str) -> None:
    peers = ("algo-1", "algo-2")
    first, second = (runtime.start(spec(tmp_path, image, LISTEN if host == "algo-1" else
                                        "exec 3<>/dev/tcp/algo-1/8080 && cat <&3 > /opt/ml/output/peer; " + LISTEN,
                                        name=host, hostname=host, peers=peers, network_group="job",
                                        env={"ANSWER": host}), {"host": host})
                     for host in peers)
    host_service = socket.create_server(("0.0.0.0", 0))  # a service of the host's, on every address
    gateway = "$(ip_gateway)"  # the host's address on the instance's bridge: its network's first
    isolated = runtime.start(spec(tmp_path, image, f"(exec 3<>/dev/tcp/{first.address}/8080) 2>/dev/null; "
                                  f"echo $? > /opt/ml/output/reached; cat /proc/net/route > /opt/ml/output/routes; "
                                  "ip_gateway() { hostname -I | awk -F. '{print $1\".\"$2\".\"$3\".1\"}'; }; "
                                  f"(exec 3<>/dev/tcp/{gateway}/{host_service.getsockname()[1]}) 2>/dev/null; "
                                  "echo $? > /opt/ml/output/host; " + LISTEN,
                                  name="isolated", isolated=True, env={"ANSWER": "isolated"}), {})
    assert [answer(i.address) for i in (first, second, isolated)] == ["algo-1", "algo-2", "isolated"]
    assert first.address != second.address
    assert wait_until(lambda: (tmp_path / "algo-2/output/peer").is_file(), 10, "algo-2 to reach algo-1")
    assert (tmp_path / "algo-2/output/peer").read_text() == "algo-1\n"
    wait_until(lambda: (tmp_path / "isolated/output/routes").is_file(), 10, "the isolated instance's routes")
    assert (tmp_path / "isolated/output/reached").read_text() != "0\n"
    with host_service:
        wait_until(lambda: (tmp_path / "isolated/output/host").is_file(), 10, "the isolated instance to try the host")
    assert (tmp_path / "isolated/output/host").read_text() != "0\n"  # not even the host's services
    destinations = [line.split()[1] for line in (tmp_path / "isolated/output/routes").read_text().splitlines()[1:]]
    assert "00000000" not in destinations  # no default route: no way out


def test_a_new_runtime_on_the_same_state_adopts_what_runs(runtime: PodmanRuntime, tmp_path: Path, image: str) -> None:
    started = runtime.start(spec(tmp_path, image, "echo up; sleep 60"), {"endpoint": "e"})
    wait_until(lambda: "up" in runtime.logs(started.id).read_text(), 10, "the program to start")
    later = PodmanRuntime(tmp_path / "state", PODMAN_DIR)
    try:
        [adopted] = later.list({"endpoint": "e"})
        assert (adopted.id, adopted.is_alive, adopted.address) == (started.id, True, started.address)
        assert later.logs(started.id).read_text() == "up\n"
        assert later.list({"endpoint": "other"}) == []
    finally:
        later.close()


def test_remove_leaves_no_container_and_no_network(runtime: PodmanRuntime, tmp_path: Path, image: str) -> None:
    started = runtime.start(spec(tmp_path, image, "exit 0", network_group="g"), {})
    ended(runtime, started.id)
    runtime.remove(started.id)
    mine = {"label": [f"{OWNER}={runtime.owner}"]}
    assert runtime.api.containers(all=True, filters=mine) == []
    assert runtime.api.networks(filters=mine) == []
    assert not list((tmp_path / "state").glob(f"{started.id}*"))


def test_an_unknown_image_none_or_a_volume_key_fails_to_start_and_leaves_nothing(runtime: PodmanRuntime,
                                                                                 tmp_path: Path) -> None:
    with pytest.raises(StartFailed, match="no image localhost/modelbay/no-such-image"):
        runtime.start(spec(tmp_path, "localhost/modelbay/no-such-image:1", "true"), {})
    with pytest.raises(StartFailed, match="runs images"):
        runtime.start(InstanceSpec(("true",), tmp_path / "opt_ml", instance_type("ml.m5.large")), {})
    assert not runtime.encrypts_volumes
    with pytest.raises(StartFailed, match="cannot encrypt an instance's scratch volume"):
        runtime.start(spec(tmp_path, image, "true", volume_key=bytes(64)), {})
    mine = {"label": [f"{OWNER}={runtime.owner}"]}
    assert runtime.api.containers(all=True, filters=mine) == [] and runtime.api.networks(filters=mine) == []
