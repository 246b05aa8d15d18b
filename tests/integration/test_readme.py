"""README.md runs as written: the shell blocks it marks `<!-- runnable -->` run in order, in one shell, as a new
user runs them in the second terminal of "Using it", against a fresh server standing for the first terminal's."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.helpers import SHARED_ENVIRONMENTS, modelbay_server

ROOT = Path(__file__).resolve().parents[2]
RUNNABLE = re.compile(r"^<!-- runnable -->\n```(?:sh|bash)?\n(.*?)^```", re.MULTILINE | re.DOTALL)


def runnable_blocks(readme: str) -> list[str]:
    """The shell blocks marked runnable, in the README's order."""
    return RUNNABLE.findall(readme)


def test_runnable_blocks_are_found_only_where_marked() -> None:
    readme = ("```\nnot this\n```\n<!-- runnable -->\n```sh\necho one\n```\ntext\n"
              "<!-- runnable -->\n```\necho two\n```\n")
    assert runnable_blocks(readme) == ["echo one\n", "echo two\n"]


def test_the_readme_runs_as_written(tmp_path: Path) -> None:
    blocks = runnable_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 1, "README.md marks no block <!-- runnable -->"
    clone, home = tmp_path / "clone", tmp_path / "home"
    data = home / ".modelbay"  # the server's default data directory, where `modelbay env` finds its root key
    for folder in (clone, home, data):
        folder.mkdir()
    for shared in (".venv", "examples"):  # what the blocks use of the clone; the files they write stay here
        (clone / shared).symlink_to(ROOT / shared)
    with modelbay_server(data) as server:
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8", "MODELBAY_URL": server.url,
               "MODELBAY_ENVIRONMENTS_DIR": str(SHARED_ENVIRONMENTS), "COLUMNS": "120"}
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(blocks)], cwd=clone, env=env,
                              capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "endpoint deleted: done" in done.stdout  # the demo ran to its end on this server
    assert "ridge-a-" in done.stdout and "ridge-b-" in done.stdout  # and `modelbay jobs list` shows its jobs
