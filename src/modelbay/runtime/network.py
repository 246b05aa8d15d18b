"""Instance networks: each instance in a network namespace of its own, as in a container.

So every serving instance has its own port 8080 (SageMaker's contract), the hosts of a job reach each
other by name, and nothing an instance opens is seen by another group or by the host's loopback.

The layout, built with iproute2 (`ip`) and nftables (`nft`) as root:

- A *group* is the instances that talk to each other: the hosts of one job, or one serving instance.
  It has a Linux bridge `mbr<n>` holding block n of the instance subnet (`10.213.0.0/16` by default,
  in /26 blocks of 61 instances): the bridge has the block's first address, the group's gateway, and
  member k (1-based: `algo-k`) has the address after it plus k. The bridge's name is its lock (`ip
  link add` fails for a name taken), so the servers of one machine never share a block; its alias,
  `modelbay <digest of owner and group> <when it was made>`, finds it again.
- An instance has a namespace `mb-<instance id>` (under /run/netns) with `lo` and `eth0` (the interface
  SageMaker names in resourceconfig.json), the far end of a veth pair whose near end is a port of the
  bridge; its default route is the gateway.
- Outbound traffic (a requirements.txt's package index, for one) is masqueraded by nftables table
  `modelbay`, and IPv4 forwarding is on, as container engines have it. Traffic from one group to another
  is dropped there, by one rule per bridge (commented with its name): a group's own traffic crosses its
  bridge, in and out by the same interface (br_netfilter shows bridged packets to the forward hook with
  the bridge as both), so a packet in by one bridge and out by another is between groups. An isolated
  instance (EnableNetworkIsolation) has no default route: it reaches its peers and is reached from the host
  (a model server must be), nothing else.
- The server's API is reached from an instance at `API_ADDRESS`, a link-local address on the host's loopback
  (as AWS's task endpoints are link-local): an instance with a default route gets there through its gateway,
  as to any address of the host, and an isolated one cannot, as network isolation has it in SageMaker.

A namespace goes with its instance (`detach`), a bridge with its group's last instance (`release`). What
a crash or a deleted data directory leaves behind is found without knowing whose it was (`clean`): a
namespace no process is in, and a bridge no namespace is joined to, once a minute old (younger ones may be
an instance being started). A namespace's age is its file's: the kernel stamps a namespace's inode when it is
first opened, which for an instance's is when `ip netns add` mounts it there. So the age holds for a namespace
made by a server in another network namespace (one run under `unshare --net`), whose veths this one cannot see.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_SUBNET = ipaddress.IPv4Network("10.213.0.0/16")
BLOCK_PREFIX = 26  # a group's block: its gateway, then up to 61 members
API_ADDRESS = "169.254.170.2"  # where instances reach the server's API (see the module's docstring)
NETNS_DIR = Path("/run/netns")
_BRIDGE = "mbr"
_NAMESPACE = "mb-"
_ALIAS = "modelbay"
_NFT_TABLE = "modelbay"
_TIMEOUT_S = 10


class NetworkError(RuntimeError):
    """A command that builds or removes a network failed; the message has its output."""


@dataclass(frozen=True)
class Group:
    """A group's bridge and block."""

    bridge: str
    block: ipaddress.IPv4Network

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return self.block.network_address + 1

    def address(self, member: int) -> ipaddress.IPv4Address:
        """Member `member`'s address (1-based, as algo-<member>)."""
        if not 1 <= member <= self.block.num_addresses - 3:
            raise ValueError(f"a group has members 1 to {self.block.num_addresses - 3}, not {member}")
        return self.gateway + member


@dataclass(frozen=True)
class Attachment:
    """An instance's namespace (the path `nsenter --net=` takes) and its address."""

    namespace: Path
    address: ipaddress.IPv4Address


Run = Callable[[Sequence[str], str | None], str]


def run(argv: Sequence[str], stdin: str | None = None) -> str:
    """Run a command, answer its output; raise NetworkError with what it said if it fails."""
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=_TIMEOUT_S)
    if done.returncode != 0:
        raise NetworkError(f"{' '.join(argv)}: {(done.stderr or done.stdout).strip()}")
    return done.stdout


@functools.cache
def networks_available() -> bool:
    """Whether this machine can give instances networks of their own: root, `ip` and `nft` (probed once)."""
    return os.geteuid() == 0 and shutil.which("ip") is not None and shutil.which("nft") is not None


def claim_api_address() -> str | None:
    """Put API_ADDRESS on the host's loopback (it stays there for every server of the machine) and answer it, for the
    server to listen on too; None where the machine cannot (instances share the host's loopback then)."""
    if not networks_available():
        return None
    try:
        run(["ip", "address", "replace", f"{API_ADDRESS}/32", "dev", "lo"])
    except NetworkError as error:
        log.warning("instances reach the API on the host's loopback only: %s", error)
        return None
    return API_ADDRESS


def instance_networks(owner: Path) -> Networks | None:
    """The owner's networks, outbound traffic enabled and what crashes left cleaned; None (said once in the
    log) where this machine cannot give instances networks of their own: they share the host's then."""
    if not networks_available():
        log.warning("instances share the host's network (networks of their own need root, ip and nft): a "
                    "model server is given a free port, not 8080")
        return None
    networks = Networks(owner)
    try:
        networks.enable_outbound()
        networks.clean()
    except NetworkError as error:
        log.warning("instances share the host's network: %s", error)
        return None
    return networks


class Networks:
    """The instance networks of one owner (a runtime's state directory) on this machine."""

    def __init__(self, owner: Path, subnet: ipaddress.IPv4Network = DEFAULT_SUBNET, command: Run = run) -> None:
        self.owner = str(owner)
        self.subnet = subnet
        self._run = command

    # -- groups -----------------------------------------------------------------------------

    def group(self, name: str, isolated: bool = False) -> Group:
        """The group's bridge: the owner's existing one, else a new one on the first free block (`isolated`: its
        instances cannot open connections to the host)."""
        for bridge, (digest, _) in self._bridges().items():
            if digest == self._digest(name):
                return self._group(bridge)
        blocks = list(self.subnet.subnets(new_prefix=BLOCK_PREFIX))
        taken = set(self._bridges())
        for index, block in enumerate(blocks):
            bridge = f"{_BRIDGE}{index}"
            if bridge not in taken and self._claim(bridge, block, name, isolated):
                return Group(bridge, block)
        raise NetworkError(f"every block of {self.subnet} is taken: too many instance groups on this machine")

    def release(self, name: str) -> None:
        """Remove the group's bridge once no instance is attached to it."""
        for bridge, (digest, _) in self._bridges().items():
            if digest == self._digest(name) and not self._ports(bridge):
                self._remove_bridge(bridge)

    def clean(self, min_age_s: float = 60.0) -> list[str]:
        """Remove, of every owner, the namespaces no process is in and the bridges nothing is joined to, older
        than `min_age_s`; answer their names."""
        now = time.time()
        removed = []
        for path in sorted(NETNS_DIR.glob(_NAMESPACE + "*")):
            try:
                age = now - path.stat().st_mtime  # the namespace's inode's (the module's docstring)
            except FileNotFoundError:  # removed meanwhile, by its owner or another server's clean
                continue
            if age > min_age_s and not self._run(["ip", "netns", "pids", path.name], None).strip():
                self.detach(path.name.removeprefix(_NAMESPACE))
                removed.append(path.name)
        for bridge, (_, created) in self._bridges().items():
            if now - created > min_age_s and not self._ports(bridge):
                self._remove_bridge(bridge)
                removed.append(bridge)
        return removed

    # -- instances ----------------------------------------------------------------------------

    def attach(self, instance_id: str, group: Group, member: int = 1, outbound: bool = True) -> Attachment:
        """A namespace for the instance, joined to the group's bridge as `member`; with `outbound`, routed to the
        world through the gateway."""
        name, veth, peer = _NAMESPACE + instance_id, _veth(instance_id), _peer(instance_id)
        address = group.address(member)
        try:
            self._run(["ip", "-batch", "-"], f"link add {veth} type veth peer name {peer}\n"
                                             f"link set {veth} master {group.bridge} up\n")
            self._run(["ip", "netns", "add", name], None)
            self._run(["ip", "link", "set", peer, "netns", name], None)
            route = f"route add default via {group.gateway}\n" if outbound else ""
            self._run(["ip", "-n", name, "-batch", "-"],
                      f"link set {peer} name eth0\nlink set lo up\n"
                      f"addr add {address}/{group.block.prefixlen} dev eth0\nlink set eth0 up\n{route}")
        except NetworkError:
            self.detach(instance_id)
            raise
        return Attachment(NETNS_DIR / name, address)

    def detach(self, instance_id: str) -> None:
        """Remove the instance's veth pair and namespace; nothing if they are gone already. The pair goes first, at
        once: a namespace's own links go only when the kernel gets round to freeing it."""
        veth, name = _veth(instance_id), _NAMESPACE + instance_id
        if (Path("/sys/class/net") / veth).exists():
            self._run(["ip", "link", "del", veth], None)
        if (NETNS_DIR / name).exists():
            self._run(["ip", "netns", "del", name], None)

    def join(self, instance_id: str, group: str, member: int, isolated: bool) -> Attachment:
        """Attach the instance as `member` of `group` (made if need be); `isolated`: with no way out of it."""
        return self.attach(instance_id, self.group(group, isolated), member, outbound=not isolated)

    def leave(self, instance_id: str, group: str | None) -> None:
        """Detach the instance, and remove its group's bridge if it was the last one on it."""
        self.detach(instance_id)
        if group is not None:
            self.release(group)

    # -- the host's part ------------------------------------------------------------------------

    def enable_outbound(self) -> None:
        """Masquerade the subnet's traffic to the world (nftables table `modelbay`, made if missing, shared by
        every server of the machine), with IPv4 forwarding on."""
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        make_table(self._run)
        # only traffic to the world needs connection tracking (to be masqueraded): the front door's calls to the
        # model servers, and a group's own traffic, skip it
        local = f"ip saddr {self.subnet} ip daddr {self.subnet} notrack"
        for chain, rule in (("postrouting", f"ip saddr {self.subnet} ip daddr != {self.subnet} masquerade"),
                            ("prerouting", local), ("output", local)):
            if rule not in self._run(["nft", "list", "chain", "ip", _NFT_TABLE, chain], None):
                self._run(["nft", "add", "rule", "ip", _NFT_TABLE, chain, *rule.split()], None)

    # -- helpers --------------------------------------------------------------------------------

    def _claim(self, bridge: str, block: ipaddress.IPv4Network, name: str, isolated: bool) -> bool:
        """Create the bridge (False if another owner took the name first) with its gateway and alias."""
        try:
            # bridged traffic (a group's own) skips netfilter, whatever br_netfilter does to other bridges: the
            # forward rule that drops traffic between groups sees routed traffic only
            self._run(["ip", "link", "add", bridge, "type", "bridge", "nf_call_iptables", "0"], None)
        except NetworkError as error:
            if "File exists" in str(error):
                return False
            raise
        group = Group(bridge, block)
        alias = f"{_ALIAS} {self._digest(name)} {time.time():.0f}"
        self._run(["ip", "-batch", "-"], f"link set {bridge} alias \"{alias}\"\n"
                                         f"addr add {group.gateway}/{block.prefixlen} dev {bridge}\n"
                                         f"link set {bridge} up\n")
        if self._has_table():
            drop_rules(bridge, self._run)  # of an earlier bridge of that name, removed without them
            self._run(["nft", "add", "rule", "ip", _NFT_TABLE, "forward", "iifname", bridge, "oifname", f"{_BRIDGE}*",
                       "oifname", "!=", bridge, "drop", "comment", f'"{bridge}"'], None)
            if isolated:
                close_host(bridge, self._run)
        return True

    def _remove_bridge(self, bridge: str) -> None:
        """Delete the bridge's forward rule, then the bridge: in that order, as the bridge's name is its lock, so the
        next owner of the name never has its new rule deleted. Another server may be removing it too (its owner
        releasing it while a starting server cleans it): what is gone already is no error."""
        if self._has_table():
            drop_rules(bridge, self._run)
        _unless_gone(functools.partial(self._run, ["ip", "link", "del", bridge], None), "Cannot find device")

    def _has_table(self) -> bool:
        return f"table ip {_NFT_TABLE}" in self._run(["nft", "list", "tables", "ip"], None)

    def _digest(self, group: str) -> str:
        """What names the owner's group on its bridge (a digest: an alias holds 255 bytes, a path more)."""
        return hashlib.sha256("\0".join((self.owner, group)).encode()).hexdigest()[:32]

    def _bridges(self) -> dict[str, tuple[str, float]]:
        """modelbay's bridges on this machine, every owner's, by their alias (`modelbay <group digest> <epoch
        seconds>`): name → (group digest, when it was made)."""
        links = json.loads(self._run(["ip", "-j", "-d", "link", "show", "type", "bridge"], None) or "[]")
        found = {}
        for link in links:
            parts = link.get("ifalias", "").split()
            if link["ifname"].startswith(_BRIDGE) and len(parts) == 3 and parts[0] == _ALIAS and parts[2].isdigit():
                found[link["ifname"]] = (parts[1], float(parts[2]))
        return found

    def _group(self, bridge: str) -> Group:
        blocks = list(self.subnet.subnets(new_prefix=BLOCK_PREFIX))
        return Group(bridge, blocks[int(bridge.removeprefix(_BRIDGE))])

    def _ports(self, bridge: str) -> list[str]:
        links = json.loads(self._run(["ip", "-j", "link", "show", "master", bridge], None) or "[]")
        return [link["ifname"] for link in links]


def make_table(command: Run = run) -> None:
    """nftables table `modelbay` and its chains, made if missing (every server of the machine shares them)."""
    command(["nft", "-f", "-"], f"add table ip {_NFT_TABLE}\n"
            f"add chain ip {_NFT_TABLE} forward {{ type filter hook forward priority filter; }}\n"
            f"add chain ip {_NFT_TABLE} input {{ type filter hook input priority filter; }}\n"
            f"add chain ip {_NFT_TABLE} postrouting {{ type nat hook postrouting priority srcnat; }}\n"
            f"add chain ip {_NFT_TABLE} prerouting {{ type filter hook prerouting priority raw; }}\n"
            f"add chain ip {_NFT_TABLE} output {{ type filter hook output priority raw; }}\n")


def close_host(bridge: str, command: Run = run) -> None:
    """Refuse what the instances behind `bridge` start towards the host (TCP connections, UDP): an isolated group
    reaches its peers (bridged, so never here) and answers the host's connections (its SYN-ACKs pass), nothing more,
    also not the host's services on its address on the bridge. Rules in table `modelbay`'s input chain (make_table),
    commented with the bridge's name (drop_rules removes them). The process runtime's isolated groups and the podman
    runtime's isolated networks both have them."""
    for refusal in (["tcp", "flags", "&", "(syn", "|", "ack)", "==", "syn", "reject", "with", "tcp", "reset"],
                    ["meta", "l4proto", "udp", "reject"]):  # refused at once, as a closed port is
        command(["nft", "add", "rule", "ip", _NFT_TABLE, "input", "iifname", bridge, *refusal, "comment",
                 f'"{bridge}"'], None)


def drop_rules(bridge: str, command: Run = run) -> None:
    """Delete the rules of table `modelbay` commented with the bridge's name (and those another server deletes
    meanwhile)."""
    for chain in ("forward", "input"):
        listing = json.loads(command(["nft", "-j", "-a", "list", "chain", "ip", _NFT_TABLE, chain], None))
        for item in listing["nftables"]:
            rule = item.get("rule")
            if rule is not None and rule.get("comment") == bridge:
                delete = ["nft", "delete", "rule", "ip", _NFT_TABLE, chain, "handle", str(rule["handle"])]
                _unless_gone(functools.partial(command, delete, None), "No such file or directory")


def _unless_gone(command: Callable[[], object], gone: str) -> None:
    """Run `command`; a NetworkError saying `gone` (what it removes is gone already) is no error."""
    try:
        command()
    except NetworkError as error:
        if gone not in str(error):
            raise


def _veth(instance_id: str) -> str:
    """The host's end of an instance's veth pair (interface names have at most 15 bytes)."""
    return f"mbv{instance_id[:12]}"


def _peer(instance_id: str) -> str:
    """The instance's end of its veth pair until it moves into the instance's namespace as eth0."""
    return f"mbp{instance_id[:12]}"
