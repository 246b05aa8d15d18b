"""HAProxy's configuration, routes and log as modelbay writes and reads them (serving/haproxy.py)."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections import Counter
from pathlib import Path

from modelbay.serving import haproxy

LIMITS = haproxy.Limits(model_timeout_s=60, idle_timeout_s=75, head_timeout_s=60)


def buckets(entries: list[tuple[str, str]]) -> Counter[str]:
    """How many of the weighted buckets each slot has."""
    return Counter(slot for key, slot in entries if "/=" not in key)


def test_a_variant_has_buckets_in_proportion_to_its_weight() -> None:
    entries = haproxy.route_entries("us-east-1", "ep", [("a", "slot0", 1.0), ("b", "slot1", 2.0)])
    assert buckets(entries) == {"slot0": 333, "slot1": 667}  # the larger remainder takes the last bucket
    assert sorted(key.rsplit("/", 1)[1] for key, _ in entries if "/=" not in key) == sorted(
        str(bucket) for bucket in range(haproxy.BUCKETS))


def test_target_variant_keys_name_every_variant_also_unweighted() -> None:
    entries = dict(haproxy.route_entries("eu-west-1", "ep", [("a", "slot3", 1.0), ("b", "slot4", 0.0)]))
    assert entries["eu-west-1/ep/=a"] == "slot3"
    assert entries["eu-west-1/ep/=b"] == "slot4"
    assert buckets(list(entries.items())) == {"slot3": haproxy.BUCKETS}


def test_an_endpoint_of_no_weight_is_routed_only_by_target_variant() -> None:
    entries = haproxy.route_entries("us-east-1", "ep", [("a", "slot0", 0.0)])
    assert entries == [("us-east-1/ep/=a", "slot0")]


def test_plain_calls_may_have_only_their_headers() -> None:
    checked = {header: (max_length, ascii_only) for header, max_length, ascii_only in haproxy.checked_headers()}
    assert checked["content-type"] == (1024, True)
    assert checked["x-amzn-sagemaker-target-variant"] == (63, False)
    assert checked["x-amzn-sagemaker-inference-id"] == (None, False)  # refused: the front door answers it


def test_log_lines_are_read_across_chunk_boundaries() -> None:
    lines = ["invocation us-east-1 ep slot0 200 1 2 3 4", "Proxy api started.", "é"]
    framed = b"".join(f"{len(line.encode())} ".encode() + line.encode() for line in lines)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        def send() -> None:
            for index in range(0, len(framed), 7):  # in pieces that cut frames apart
                theirs.sendall(framed[index:index + 7])
            theirs.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        assert list(haproxy.log_lines(ours)) == lines
        sender.join()


def test_haproxy_accepts_the_configuration(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        config = tmp_path / "haproxy.cfg"
        config.write_text(haproxy.configuration(listening.fileno(), 9, 10, tmp_path, "000000000000", "us-east-1",
                                                LIMITS, threads=2))
        checked = subprocess.run(["haproxy", "-c", "-f", str(config)], pass_fds=(listening.fileno(),),
                                 capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
