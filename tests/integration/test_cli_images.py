"""`modelbay images` against a real server, run as a user runs it: a subprocess with no AWS credentials."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import client
from tests.helpers import ServerProcess
from tests.integration.test_cli import modelbay

URI_PREFIX = "000000000000.dkr.ecr.us-east-1.amazonaws.com/"


@pytest.fixture(scope="module")
def ecr(server: ServerProcess) -> Any:
    return client(server.url, "ecr")


def one_line(text: str) -> str:
    """The text with rich's line wrapping undone."""
    return " ".join(text.split())


def repository_names(ecr: Any) -> list[str]:
    pages = ecr.get_paginator("describe_repositories").paginate()
    return [repository["repositoryName"] for page in pages for repository in page["repositories"]]


def image_dir(path: Path, program: str = "train") -> Path:
    path.mkdir()
    (path / program).write_text("#!/bin/sh\necho hello\n")
    (path / program).chmod(0o755)
    return path


def test_register_prints_the_uri_and_stores_the_directory_image(ecr: Any, server: ServerProcess, unique: str,
                                                                 tmp_path: Path) -> None:
    directory = image_dir(tmp_path / "image")
    done = modelbay("images", "register", f"team/{unique}", str(directory), "--tag", "v1", url=server.url)
    assert (done.returncode, done.stdout) == (0, f"{URI_PREFIX}team/{unique}:v1\n"), done.stderr
    [image] = ecr.batch_get_image(repositoryName=f"team/{unique}", imageIds=[{"imageTag": "v1"}])["images"]
    assert json.loads(image["imageManifest"]) == {
        "schemaVersion": 1, "mediaType": "application/vnd.modelbay.directory.v1+json", "directory": str(directory)}
    again = modelbay("images", "register", f"team/{unique}", str(directory), "--tag", "v1", url=server.url)
    assert (again.returncode, again.stdout) == (0, done.stdout), again.stderr


def test_register_defaults_to_latest_and_accepts_a_serve_only_directory(server: ServerProcess, unique: str,
                                                                        tmp_path: Path) -> None:
    done = modelbay("images", "register", unique, str(image_dir(tmp_path / "image", "serve")), url=server.url)
    assert (done.returncode, done.stdout) == (0, f"{URI_PREFIX}{unique}:latest\n"), done.stderr


def test_register_refuses_a_directory_without_a_program(ecr: Any, server: ServerProcess, unique: str,
                                                        tmp_path: Path) -> None:
    (tmp_path / "train").write_text("not executable")
    done = modelbay("images", "register", unique, str(tmp_path), url=server.url)
    assert done.returncode == 2
    assert f"{tmp_path} holds no executable 'train' or 'serve'" in one_line(done.stderr)
    assert "Traceback" not in done.stderr
    missing = modelbay("images", "register", unique, str(tmp_path / "absent"), url=server.url)
    assert missing.returncode == 2 and f"{tmp_path / 'absent'} is not a directory" in one_line(missing.stderr)
    assert unique not in repository_names(ecr)


def test_list_shows_each_tag_with_its_directory(server: ServerProcess, unique: str, tmp_path: Path) -> None:
    directory = image_dir(tmp_path / "image")
    for tag in ("one", "two"):
        assert modelbay("images", "register", unique, str(directory), "--tag", tag, url=server.url).returncode == 0
    listed = modelbay("images", "list", "--json", url=server.url)
    assert listed.returncode == 0, listed.stderr
    mine = [row for row in json.loads(listed.stdout) if row["repositoryName"] == unique]
    assert [(row["imageTag"], row["directory"], row["imageUri"]) for row in mine] == [
        ("one", str(directory), f"{URI_PREFIX}{unique}:one"), ("two", str(directory), f"{URI_PREFIX}{unique}:two")]
    table = modelbay("images", "list", url=server.url)
    short_digest = mine[0]["imageDigest"].removeprefix("sha256:")[:12]
    assert table.returncode == 0 and "Repository" in table.stdout
    assert [line.split()[:3] for line in table.stdout.splitlines() if unique in line] == [
        [unique, "one", short_digest], [unique, "two", short_digest]]


def test_remove_a_tag_then_the_repository(ecr: Any, server: ServerProcess, unique: str, tmp_path: Path) -> None:
    directory = image_dir(tmp_path / "image")
    for tag in ("one", "two"):
        modelbay("images", "register", unique, str(directory), "--tag", tag, url=server.url)
    removed = modelbay("images", "remove", f"{unique}:one", url=server.url)
    assert (removed.returncode, removed.stdout) == (0, f"removed {unique}:one\n"), removed.stderr
    assert [i.get("imageTag") for i in ecr.list_images(repositoryName=unique)["imageIds"]] == ["two"]
    absent_tag = modelbay("images", "remove", f"{unique}:one", url=server.url)
    assert absent_tag.returncode == 1 and "Requested image not found" in absent_tag.stderr
    assert modelbay("images", "remove", unique, url=server.url).returncode == 0
    assert unique not in repository_names(ecr)
    gone = modelbay("images", "remove", unique, url=server.url)
    assert gone.returncode == 1 and "RepositoryNotFoundException" in gone.stderr and "Traceback" not in gone.stderr
