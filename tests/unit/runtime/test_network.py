"""Instance networks on this machine (root, ip, nft): namespaces, bridges, addresses, what reaches what."""

from __future__ import annotations

import errno
import ipaddress
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from modelbay.runtime.network import (
    API_ADDRESS,
    Attachment,
    Group,
    NetworkError,
    Networks,
    claim_api_address,
    networks_available,
    run,
)
from modelbay.runtime.process import ProcessRuntime
from tests.helpers import wait_until

needs_networks = pytest.mark.skipif(not networks_available(), reason="instance networks need root, ip and nft")
SERVER = "import http.server; http.server.HTTPServer(('0.0.0.0', 8080), http.server.SimpleHTTPRequestHandler)" \
         ".serve_forever()"


def test_members_have_the_addresses_after_their_groups_gateway() -> None:
    group = Group("mbr3", ipaddress.IPv4Network("10.213.0.192/26"))
    assert (str(group.gateway), str(group.address(1)), str(group.address(61))) == (
        "10.213.0.193", "10.213.0.194", "10.213.0.254")
    with pytest.raises(ValueError):
        group.address(62)


def test_clean_removes_only_what_is_old_and_unused(tmp_path: Path) -> None:
    calls: list[str] = []

    def command(argv: Sequence[str], stdin: str | None) -> str:
        calls.append(" ".join(argv))
        if argv[:3] == ["ip", "-j", "-d"] and argv[-1] == "bridge":
            return ('[{"ifname": "mbr1", "ifalias": "modelbay abc 1000"}, {"ifname": "mbr2", "ifalias": "modelbay d '
                    f'{time.time():.0f}"}}, {{"ifname": "other0"}}]')
        return "[]" if "-j" in argv else ""

    removed = Networks(tmp_path, command=command).clean(min_age_s=60)
    assert removed[-1] == "mbr1"  # after any unused namespace of this machine; not mbr2, made a moment ago
    deleted = [call for call in calls if " del " in call]
    assert "ip link del mbr1" in deleted and not any("mbr2" in call or "other0" in call for call in deleted)


@needs_networks
def test_a_young_namespace_is_spared_even_where_its_veth_cannot_be_seen(tmp_path: Path) -> None:
    """A server run under `unshare --net` makes its instances' veths in its own network namespace, and their
    namespaces under the /run/netns that every server cleans: one being made is young all the same (a server
    starting beside a SageMaker example run so removed its training host's namespace), and old once unused."""
    name = f"mb-{uuid.uuid4().hex[:16]}"
    calls: list[str] = []

    def command(argv: Sequence[str], stdin: str | None) -> str:  # sees no link, no process; deletes nothing
        calls.append(" ".join(argv))
        return "[]" if "-j" in argv else ""
    run(["ip", "netns", "add", name], None)  # as that server's attach makes it: its veth is not in this namespace
    try:
        networks = Networks(tmp_path, command=command)
        assert name not in networks.clean(min_age_s=60) and f"ip netns del {name}" not in calls
        assert name in networks.clean(min_age_s=0) and f"ip netns del {name}" in calls
    finally:
        run(["ip", "netns", "del", name], None)


@pytest.fixture
def networks(tmp_path: Path) -> Iterator[Networks]:
    networks = Networks(tmp_path / "runtime", subnet=ipaddress.IPv4Network("10.214.0.0/20"))
    networks.enable_outbound()
    yield networks
    for name in ("job", "other"):
        networks.release(name)


def in_namespace(namespace: Path, *argv: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net={namespace}", *argv], capture_output=True, text=True, timeout=20,
                          **kwargs)  # type: ignore[call-overload]


def connect_from(attachment: Attachment, host: str, port: int) -> str:
    """What connect_ex answers in the instance's namespace for host:port: "0" when connected, else the errno."""
    probe = ("import socket, sys; s = socket.socket(); s.settimeout(2)\n"
             "print(s.connect_ex((sys.argv[1], int(sys.argv[2]))))")
    return in_namespace(attachment.namespace, sys.executable, "-c", probe, host, str(port)).stdout.strip()


def interface_index(name: str) -> int | None:
    """The kernel's index of the network interface of this name, None if there is none."""
    found = Path(f"/sys/class/net/{name}/ifindex")
    return int(found.read_text()) if found.exists() else None


@needs_networks
def test_a_groups_members_reach_each_other_on_port_8080_and_other_groups_do_not(networks: Networks) -> None:
    networks.enable_outbound()
    job, other = networks.group("job"), networks.group("other")
    assert networks.group("job") == job and other.bridge != job.bridge
    ids = [uuid.uuid4().hex[:12] for _ in range(3)]
    first, second = networks.attach(ids[0], job, 1), networks.attach(ids[1], job, 2)
    stranger = networks.attach(ids[2], other, 1)
    server = subprocess.Popen(["nsenter", f"--net={second.namespace}", sys.executable, "-c", SERVER],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        fetch = [sys.executable, "-c", "import sys, urllib.request\nurllib.request.urlopen(sys.argv[1], timeout=5)\n"
                 "print('ok')", f"http://{second.address}:8080/"]
        wait_until(lambda: subprocess.run(fetch, capture_output=True, text=True, timeout=20).stdout.strip() == "ok",
                   20, "the server in the second namespace to answer the host")
        assert in_namespace(first.namespace, *fetch).stdout.strip() == "ok"  # a peer, by its address
        blocked = in_namespace(stranger.namespace, sys.executable, "-c",
                               "import socket; s = socket.socket(); s.settimeout(1)\n"
                               f"print(s.connect_ex(('{second.address}', 8080)))")
        assert blocked.stdout.strip() != "0"  # another group: dropped
    finally:
        server.kill()
        server.wait()
        for instance_id in ids:
            networks.detach(instance_id)
    made = interface_index(job.bridge)
    networks.release("job")
    assert interface_index(job.bridge) != made  # gone (another server on the machine may make one of its name anew)


@needs_networks
def test_an_isolated_instance_has_no_way_out_of_its_group_not_even_to_the_host(networks: Networks) -> None:
    """Its peers and the host's connections to it are all it has: the host's services, listening on every address
    (its address on the bridge too), refuse it, while they take an open instance's connection."""
    isolated_id, open_id = uuid.uuid4().hex[:12], uuid.uuid4().hex[:12]
    isolated, opened = networks.join(isolated_id, "job", 1, isolated=True), networks.join(open_id, "other", 1, False)
    listener = socket.create_server(("0.0.0.0", 0))

    def connect(attachment: Attachment, host: str) -> str:
        return connect_from(attachment, host, listener.getsockname()[1])
    try:
        routes = in_namespace(isolated.namespace, "ip", "route").stdout
        assert "default" not in routes and str(networks.group("job").block) in routes
        assert connect(isolated, str(networks.group("job").gateway)) == str(errno.ECONNREFUSED)
        assert connect(opened, str(networks.group("other").gateway)) == "0"
    finally:
        listener.close()
        networks.leave(isolated_id, "job")
        networks.leave(open_id, "other")
    assert not isolated.namespace.exists()


def test_a_runtime_gives_instances_networks_where_the_machine_allows_unless_told_not_to(tmp_path: Path) -> None:
    assert ProcessRuntime(tmp_path / "default").private_networks == networks_available()
    assert not ProcessRuntime(tmp_path / "shared", networks=False).private_networks


@needs_networks
def test_another_servers_clean_while_an_instance_is_attached_spares_it(tmp_path: Path) -> None:
    """A server starting cleans every owner's abandoned namespaces: one being made is not abandoned."""
    other, cleaned = Networks(tmp_path / "other"), []

    def command(argv: Sequence[str], stdin: str | None) -> str:
        said = run(argv, stdin)
        if list(argv[:3]) == ["ip", "netns", "add"]:
            cleaned.extend(other.clean())
        return said
    networks = Networks(tmp_path / "runtime", subnet=ipaddress.IPv4Network("10.214.0.0/20"), command=command)
    instance_id = uuid.uuid4().hex[:16]
    attachment = networks.join(instance_id, "job", 1, isolated=False)
    try:
        assert attachment.namespace.exists() and attachment.namespace.name not in cleaned
        assert "eth0" in in_namespace(attachment.namespace, "ip", "-o", "link").stdout
    finally:
        networks.leave(instance_id, "job")


def test_a_bridge_another_server_removes_meanwhile_is_removed_without_error_rule_first(tmp_path: Path) -> None:
    """Its owner releasing it while a starting server cleans it: each finds part of it gone. Its rule goes before
    its name is free for the next owner, whose new rule must survive."""
    calls: list[str] = []

    def command(argv: Sequence[str], stdin: str | None) -> str:
        calls.append(" ".join(argv))
        if argv[:3] == ["ip", "-j", "-d"] and argv[-1] == "bridge":
            return '[{"ifname": "mbr1", "ifalias": "modelbay abc 1000"}]'
        if argv[:3] == ["nft", "list", "tables"]:
            return "table ip modelbay\n"
        if argv[:3] == ["nft", "-j", "-a"]:
            return '{"nftables": [{"rule": {"comment": "mbr1", "handle": 7}}]}'
        if argv[:3] == ["nft", "delete", "rule"]:
            raise NetworkError("Error: Could not process rule: No such file or directory")
        if list(argv) == ["ip", "link", "del", "mbr1"]:
            raise NetworkError('Cannot find device "mbr1"')
        return "[]" if "-j" in argv else ""

    assert Networks(tmp_path, command=command).clean(min_age_s=60)[-1] == "mbr1"
    deletions = [call for call in calls if call.startswith(("nft delete", "ip link del mbr"))]  # (not the namespaces
    # of instances other tests run meanwhile, which clean finds on this machine)
    assert deletions == ["nft delete rule ip modelbay forward handle 7", "nft delete rule ip modelbay input handle 7",
                         "ip link del mbr1"]


@needs_networks
def test_an_instance_with_a_way_out_reaches_the_api_address_and_an_isolated_one_does_not(networks: Networks) -> None:
    """The server listens on API_ADDRESS (on the host's loopback) for jobs' programs that call the API."""
    assert claim_api_address() == API_ADDRESS == claim_api_address()  # claimed again by each server: no error
    isolated_id, open_id = uuid.uuid4().hex[:12], uuid.uuid4().hex[:12]
    isolated, opened = networks.join(isolated_id, "job", 1, isolated=True), networks.join(open_id, "other", 1, False)
    listener = socket.create_server((API_ADDRESS, 0))
    try:
        assert connect_from(opened, API_ADDRESS, listener.getsockname()[1]) == "0"
        assert connect_from(isolated, API_ADDRESS, listener.getsockname()[1]) != "0"
    finally:
        listener.close()
        networks.leave(isolated_id, "job")
        networks.leave(open_id, "other")
