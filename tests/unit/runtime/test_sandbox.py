"""The sandbox's command line, the /etc/hosts it shows, and a directory image at /opt/program (the other
namespaces themselves: test_isolation.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelbay.runtime import volume_encryption
from modelbay.runtime.sandbox import Sandbox, hosts_text, namespace_prefix, sandboxed_argv

SANDBOX = Sandbox(opt_ml=Path("/d/opt_ml"), scratch=Path("/s/i.scratch"), volume=Path("/s/i.volume"),
                  hostname="algo-2", hosts_file=Path("/s/i.hosts"), cpu_online_file=Path("/s/i.online"),
                  home="/root")
UNSHARE = ("unshare", "--mount", "--uts")


def test_hosts_names_the_instance_and_its_peers_once_each() -> None:
    text = hosts_text("algo-2", ["algo-1", "algo-2"])
    assert text.splitlines()[2:] == ["127.0.0.1\talgo-2", "127.0.0.1\talgo-1"]
    assert text.startswith("127.0.0.1\tlocalhost\n")


def test_hosts_takes_each_peers_address_from_the_mapping() -> None:
    text = hosts_text("algo-1", ["algo-1", "algo-2"], address={"algo-1": "10.0.0.2", "algo-2": "10.0.0.3"}.get)
    assert text.splitlines()[2:] == ["10.0.0.2\talgo-1", "10.0.0.3\talgo-2"]


def test_the_command_joins_the_cgroups_then_unshares_and_passes_the_sandbox() -> None:
    procs = [Path("/cg/memory/x/cgroup.procs"), Path("/cg/pids/x/cgroup.procs")]
    argv = sandboxed_argv(("train", "--epochs", "2"), SANDBOX, UNSHARE, procs, affinity=None)
    assert argv[:3] == ["sh", "-c", argv[2]] and argv[3:7] == ["sh", *map(str, procs), "--"]
    unshare = argv.index("unshare")
    assert argv[unshare:unshare + 3] == list(UNSHARE)
    assert argv[unshare + 7:] == ["/d/opt_ml", "/s/i.volume", "/s/i.scratch", "algo-2", "/s/i.hosts",
                                  "/s/i.online", "/root", "", "train", "--epochs", "2"]
    assert "taskset" not in argv and "nsenter" not in argv


def test_without_a_cpuset_the_affinity_is_set_and_a_network_namespace_is_entered_inside_it() -> None:
    sandbox = Sandbox(**{**SANDBOX.__dict__, "volume": None, "home": None, "network": Path("/run/netns/i")})
    argv = sandboxed_argv(("serve",), sandbox, UNSHARE, [], affinity=[1, 3])
    assert argv[:5] == ["taskset", "--cpu-list", "1,3", "nsenter", "--net=/run/netns/i"]
    assert argv[-9:] == ["/d/opt_ml", "", "/s/i.scratch", "algo-2", "/s/i.hosts", "/s/i.online", "", "", "serve"]


def test_an_encrypted_volume_is_mounted_by_volume_encryption_before_the_mount_script() -> None:
    sandbox = Sandbox(**{**SANDBOX.__dict__, "volume_key_fd": 7})
    argv = sandboxed_argv(("train",), sandbox, UNSHARE, [], affinity=None)
    wrapper = argv.index(str(Path(volume_encryption.__file__)))
    assert argv[wrapper - 3:wrapper] == [sys.executable, "-I", "-S"]
    assert argv[wrapper + 1:wrapper + 5] == ["7", "/s/i.volume", "/s/i.scratch", "sh"]
    assert argv[-9:] == ["/d/opt_ml", "", "/s/i.scratch", "algo-2", "/s/i.hosts", "/s/i.online", "/root", "", "train"]


def test_without_namespaces_the_program_runs_as_given() -> None:
    assert sandboxed_argv(("serve",), SANDBOX, None, [], affinity=None) == ["serve"]


def test_a_directory_images_program_is_run_from_opt_program() -> None:
    sandbox = Sandbox(**{**SANDBOX.__dict__, "program": Path("/images/trees")})
    argv = sandboxed_argv(("/images/trees/serve", "--flag"), sandbox, UNSHARE, [], affinity=None)
    assert argv[-3:] == ["/images/trees", "/opt/program/serve", "--flag"]
    assert sandboxed_argv(("/usr/bin/python3", "x.py"), sandbox, UNSHARE, [], affinity=None)[-2:] == [
        "/usr/bin/python3", "x.py"]
    assert sandboxed_argv(("/images/trees/serve",), sandbox, None, [], affinity=None) == ["/images/trees/serve"]


def test_a_directory_image_is_seen_at_opt_program_as_the_working_directory_first_on_path(tmp_path: Path) -> None:
    prefix = namespace_prefix()
    if prefix is None:
        pytest.fail("this test needs mount namespaces (root on Linux)")
    image = tmp_path / "image"
    image.mkdir()
    (image / "model.txt").write_text("tree\n")
    (image / "train").write_text('#!/bin/sh\necho "$0 $(pwd) ${PATH%%:*} $(cat model.txt)"\necho new > written\n')
    (image / "train").chmod(0o755)
    (tmp_path / "hosts").write_text("127.0.0.1\tlocalhost\n")
    (tmp_path / "opt_ml").mkdir()
    sandbox = Sandbox(opt_ml=tmp_path / "opt_ml", scratch=tmp_path / "scratch", volume=None, hostname="algo-1",
                      hosts_file=tmp_path / "hosts", cpu_online_file=None, home=None, program=image)
    opt_before = sorted(os.listdir("/opt"))
    run = subprocess.run(sandboxed_argv((str(image / "train"),), sandbox, prefix, [], affinity=None),
                         capture_output=True, text=True, timeout=30, cwd=tmp_path, env={"PATH": os.defpath})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["/opt/program/train", "/opt/program", "/opt/program", "tree"]
    assert sorted(image.iterdir()) == [image / "model.txt", image / "train"]  # its writes are the instance's
    assert (tmp_path / "scratch" / "program" / "written").read_text() == "new\n"
    assert sorted(os.listdir("/opt")) == opt_before  # the host's /opt is never written to
