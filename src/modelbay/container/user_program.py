"""The user's code in script mode: staging the source dir, its requirements, running the entry point.

Each step raises UserProgramError with a reason fit for `/opt/ml/output/failure`.
"""

from __future__ import annotations

import collections
import importlib
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

STDERR_TAIL_LINES = 20
_STDERR_TAIL_CHARS = 2000


class UserProgramError(Exception):
    """The user's code could not be staged, installed or run; str() is the reason.
    `exit_code` is what the toolkit should exit with."""

    def __init__(self, reason: str, exit_code: int = 1) -> None:
        super().__init__(reason)
        self.exit_code = exit_code


def stage_source(submit_directory: str | None, code_dir: Path) -> None:
    """Put a local `sagemaker_submit_directory` (a directory, or a `.tar.gz`, optionally as a
    `file://` URI) into `code_dir`. None or a remote URI (`s3://…`) means the platform has
    already unpacked the source dir there, so nothing is done."""
    source = local_source(submit_directory)
    if submit_directory is None or source is None:
        return
    code_dir.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        if source.resolve() != code_dir.resolve():
            shutil.copytree(source, code_dir, dirs_exist_ok=True)
    elif source.is_file():
        try:
            with tarfile.open(source) as archive:
                archive.extractall(code_dir, filter="data")
        except (tarfile.TarError, OSError) as err:
            raise UserProgramError(f"sagemaker_submit_directory {submit_directory} could not be unpacked: "
                                   f"{err}") from err
    else:
        raise UserProgramError(f"sagemaker_submit_directory {submit_directory} does not exist")


def local_source(submit_directory: str | None) -> Path | None:
    """The local path a `sagemaker_submit_directory` names (a path or a `file://` URI); None for none
    or a remote URI."""
    if not submit_directory or ("://" in submit_directory and not submit_directory.startswith("file://")):
        return None
    return Path(submit_directory.removeprefix("file://"))


def install_requirements(code_dir: Path, env: Mapping[str, str]) -> None:
    """`pip install -r requirements.txt` with this interpreter, if the code dir has one."""
    requirements = code_dir / "requirements.txt"
    if not requirements.is_file():
        return
    command = [sys.executable, "-m", "pip", "install", "-r", str(requirements)]
    code, tail = run_passing_through(command, env, code_dir)
    if code != 0:
        raise UserProgramError(f"requirements.txt install failed (pip exit code {code}): {tail}".rstrip())


def entry_point_command(entry_point: str | None, code_dir: Path, args: Sequence[str]) -> list[str]:
    """The command for `sagemaker_program`: a `.py` file runs with this interpreter, a `.sh` file
    with `sh`, any other name as a Python module (`python -m`)."""
    if not entry_point:
        raise UserProgramError("no entry point: hyperparameter sagemaker_program is not set")
    if entry_point.endswith((".py", ".sh")):
        _check_exists(entry_point, code_dir)
        runner = sys.executable if entry_point.endswith(".py") else "sh"
        return [runner, str(code_dir / entry_point), *args]
    return [sys.executable, "-m", entry_point, *args]


def import_entry_point(entry_point: str, code_dir: Path) -> ModuleType:
    """Import the user's handler module as SageMaker's inference toolkits do: `entry_point` is a `.py`
    file in `code_dir` or a module name, imported with `code_dir` first on sys.path (so it may import
    its neighbours). Errors raised while importing propagate."""
    if entry_point.endswith(".py"):
        _check_exists(entry_point, code_dir)
    sys.path.insert(0, str(code_dir))
    return importlib.import_module(entry_point.removesuffix(".py").replace("/", "."))


def _check_exists(entry_point: str, code_dir: Path) -> None:
    if not (code_dir / entry_point).is_file():
        raise UserProgramError(f"entry point {entry_point} not found in {code_dir}")


def run_entry_point(command: Sequence[str], env: Mapping[str, str], code_dir: Path) -> None:
    """Run the user's program in `code_dir` (also first on PYTHONPATH); raise UserProgramError
    carrying its exit code and the tail of its stderr when it fails."""
    python_path = os.pathsep.join(p for p in (str(code_dir), env.get("PYTHONPATH", "")) if p)
    code, tail = run_passing_through(command, {**env, "PYTHONPATH": python_path}, code_dir)
    if code != 0:
        exit_code = code if code > 0 else 128 - code  # killed by a signal: the shell's convention
        raise UserProgramError(f'ExecuteUserScriptError:\nExitCode {exit_code}\nErrorMessage "{tail}"\n'
                               f'Command "{shlex.join(command)}"', exit_code)


def run_passing_through(command: Sequence[str], env: Mapping[str, str], cwd: Path) -> tuple[int, str]:
    """Run `command` with stdout inherited and stderr copied through line by line;
    return its exit code (negative: killed by that signal) and the tail of its stderr."""
    try:
        proc = subprocess.Popen(list(command), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
    except OSError as err:
        raise UserProgramError(f"could not start {command[0]}: {err}") from err
    tail: collections.deque[bytes] = collections.deque(maxlen=STDERR_TAIL_LINES)
    assert proc.stderr is not None  # stderr=PIPE
    with proc.stderr:
        for line in proc.stderr:
            sys.stderr.buffer.write(line)
            sys.stderr.buffer.flush()
            tail.append(line)
    text = b"".join(tail).decode("utf-8", "replace").strip()
    return proc.wait(), text[-_STDERR_TAIL_CHARS:]
