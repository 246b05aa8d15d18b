"""`modelbay cluster` against a real server, run as a user runs it: this machine as the one node, the server as the
leader, as a table and as JSON; the route refuses unsigned calls in iam mode, as every native route does."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx

from tests.helpers import ServerProcess, wait_until
from tests.integration.test_cli import modelbay

WIDE = {"COLUMNS": "200"}


def published_view(server: ServerProcess) -> dict[str, Any]:
    """The cluster view once the server leads and has published its nodes."""
    def view() -> dict[str, Any] | None:
        done = modelbay("cluster", "--json", url=server.url)
        assert done.returncode == 0, done.stderr
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer if answer["leader"] and answer["nodes"] else None
    found = wait_until(view, 60, "the server to lead and publish its nodes")
    assert isinstance(found, dict)
    return found


def test_this_machine_is_the_one_node_and_the_server_leads(server: ServerProcess) -> None:
    answer = published_view(server)
    [node] = answer["nodes"]
    assert (node["name"], node["zone"], node["alive"]) == (socket.gethostname(), None, True)
    assert node["resources"]["CPU"] >= 1 and node["resources"]["memory"] > 0
    assert answer["leader"]["url"] == server.url
    done = modelbay("cluster", url=server.url, env=WIDE)
    assert done.returncode == 0, done.stderr
    assert socket.gethostname() in done.stdout and f"leader: {server.url} since " in done.stdout
    assert " s ago" in done.stdout.splitlines()[-1]


def test_the_route_refuses_unsigned_calls(server: ServerProcess) -> None:
    assert httpx.get(server.url + "/_modelbay/v1/cluster").status_code == 403
