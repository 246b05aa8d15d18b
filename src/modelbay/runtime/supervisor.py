"""The supervisor: the first process of every process instance; it runs the program and records how it ended.

    python -I -S supervisor.py EXIT_FILE PID_FD CGROUP_PROCS COMMAND [ARG...]    (the environment on stdin)

The supervisor starts COMMAND in a process group of its own (the group's id is the program's
pid, written to PID_FD), waits for it, kills what remains of the instance (it ends with its main
program): its process group, and every process in the cgroup whose procs file is CGROUP_PROCS
(blank: none), which holds what left the group too (setsid, double forks, daemons); then it
writes `{"exit_code": ..., "ended_at": <epoch seconds>}` to EXIT_FILE
atomically, `exit_code` as subprocess reports it (negative: the signal that ended the program;
127: it could not start). Only a parent can collect a wait status; a file can be read by any
runtime, e.g. one started after a server crash. The supervisor has a session of its own and stays
outside the program's group and cgroups, so signals and limits aimed at the program do not
end it. SIGTERM sent to the supervisor itself is passed on to the program's group.

It runs by path with `-I -S` and imports only light standard modules: it starts in about
20 milliseconds and neither the server's nor the program's PYTHON* variables can break it. The
environment comes on stdin because Python alters its own at start-up (locale coercion).
"""

from __future__ import annotations

import os
import signal
import sys
import time

# Python ignores these; a program started through exec would inherit that (subprocess resets them too).
_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)
CANNOT_START = 127  # what a shell answers for a command it cannot run


KILL_TIMEOUT_S = 10.0  # a process stuck in the kernel (D state) must not keep the exit unrecorded


def supervisor_argv(exit_file: str, pid_fd: int, cgroup_procs: str = "") -> list[str]:
    """The supervisor's command line up to COMMAND (see the module docstring)."""
    return [sys.executable, "-I", "-S", __file__, exit_file, str(pid_fd), cgroup_procs]


def encode_environment(env: dict[str, str]) -> bytes:
    """The environment as the supervisor reads it on stdin: NAME=value entries, each ended by NUL."""
    return b"".join(os.fsencode(f"{name}={value}") + b"\0" for name, value in env.items())


def main(argv: list[str]) -> None:
    exit_file, pid_fd, cgroup_procs, command = argv[0], int(argv[1]), argv[2], argv[3:]
    os.set_inheritable(pid_fd, False)
    os.environ.clear()  # the program's environment, also for posix_spawnp's PATH search
    for entry in sys.stdin.buffer.read().split(b"\0")[:-1]:
        name, _, value = os.fsdecode(entry).partition("=")
        os.environ[name] = value
    try:
        pid = os.posix_spawnp(command[0], command, os.environ, setpgroup=0, setsigdef=_DEFAULT_SIGNALS,
                              file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)])
    except OSError as err:
        print(f"modelbay: cannot run {command[0]}: {err.strerror}", file=sys.stderr, flush=True)
        _record(exit_file, CANNOT_START)  # before PID_FD closes: the runtime then finds the exit
        return
    os.write(pid_fd, f"{pid}\n".encode())
    os.close(pid_fd)
    signal.signal(signal.SIGTERM, lambda *_: signal_group(pid, signal.SIGTERM))
    _, status = os.waitpid(pid, 0)
    signal_group(pid, signal.SIGKILL)
    if cgroup_procs:
        kill_cgroup(cgroup_procs)
    _record(exit_file, os.waitstatus_to_exitcode(status))


def _record(exit_file: str, exit_code: int) -> None:
    """Write the exit file: JSON by hand, as json (with re) would double the supervisor's start-up."""
    tmp = f"{exit_file}.tmp"
    with open(tmp, "w") as file:
        file.write(f'{{"exit_code": {exit_code}, "ended_at": {time.time()!r}}}')
    os.replace(tmp, exit_file)  # same directory: readers see no file or the whole one


def kill_cgroup(procs_file: str) -> None:
    """SIGKILL the processes in a cgroup until none is left (one may fork meanwhile), or KILL_TIMEOUT_S."""
    deadline = time.monotonic() + KILL_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with open(procs_file) as procs:
                pids = procs.read().split()
        except OSError:  # the group is gone
            return
        if not pids:
            return
        for pid in pids:
            try:  # noqa: SIM105 - as in signal_group
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def signal_group(pgid: int, sig: int) -> None:
    """Send `sig` to a process group, if it still exists."""
    try:  # noqa: SIM105 - contextlib would import re, slowing the supervisor's start-up
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    main(sys.argv[1:])
