"""The base images modelbay builds for FROM lines: which references they serve, what they warn, and how a
Dockerfile's FROM lines are read."""

from __future__ import annotations

import pytest

from modelbay.base_images import BaseImage, base_image, from_images


@pytest.mark.parametrize(("reference", "expected"), [
    ("python:3.11-slim", BaseImage("python", "3.11-slim")),
    ("python", BaseImage("python", "latest")),
    ("docker.io/library/debian:12", BaseImage("debian", "12")),
    ("library/ubuntu:22.04", BaseImage("ubuntu", "22.04")),
    ("index.docker.io/library/python:3", BaseImage("python", "3")),
])
def test_docker_hubs_library_images_are_served(reference: str, expected: BaseImage) -> None:
    assert base_image(reference) == expected


@pytest.mark.parametrize("reference", ["nginx:1.25", "quay.io/team/python:3.11", "python@sha256:" + "a" * 64,
                                       "myorg/python:3.11", "python:bad/tag"])
def test_other_images_are_not(reference: str) -> None:
    assert base_image(reference) is None


def test_names_in_the_store_and_the_registry() -> None:
    image = BaseImage("python", "3.11-slim")
    assert image.reference == "localhost/modelbay/python:3.11-slim"
    assert image.repository == "library/python"


@pytest.mark.parametrize("tag", ["3.11-slim", "3.11", "3", "latest", "slim", "3.11-slim-bookworm", "3.11.2"])
def test_the_machines_python_as_asked_warns_nothing(tag: str) -> None:
    assert BaseImage("python", tag).warnings("bookworm", "3.11.2") == []


def test_another_python_is_served_as_debian_has_it_saying_so() -> None:
    assert BaseImage("python", "3.12-slim").warnings("bookworm", "3.11.2") == [
        "python:3.12-slim is served with Debian bookworm's Python 3.11.2, not Python 3.12"]
    assert BaseImage("python", "3.1").warnings("bookworm", "3.11.2") != []  # 3.1 is no prefix of 3.11
    assert BaseImage("python", "3.11-alpine").warnings("bookworm", "3.11.2") == [
        "python:3.11-alpine is served with Debian bookworm's packages, not alpine's"]


@pytest.mark.parametrize("tag", ["12", "12.5-slim", "bookworm", "bookworm-slim", "bookworm-20240110-slim", "stable",
                                 "latest"])
def test_the_machines_debian_release_warns_nothing(tag: str) -> None:
    assert BaseImage("debian", tag).warnings("bookworm") == []


@pytest.mark.parametrize("tag", ["11", "bullseye-slim", "sid"])
def test_another_debian_release_warns(tag: str) -> None:
    [warning] = BaseImage("debian", tag).warnings("bookworm")
    assert warning.startswith(f"debian:{tag} is served with Debian bookworm's packages")


def test_ubuntu_always_warns_its_content_is_debians() -> None:
    assert BaseImage("ubuntu", "22.04").warnings("bookworm") == [
        "ubuntu:22.04 is served with Debian bookworm's packages, not Ubuntu's"]


def test_from_lines_skip_scratch_stages_options_and_comments() -> None:
    dockerfile = """\
# syntax=docker/dockerfile:1
FROM --platform=linux/amd64 python:3.11-slim AS build
RUN echo \\
  FROM not-an-image
from build
FROM scratch
FROM debian:12 as final
FROM python:3.11-slim
"""
    assert from_images(dockerfile) == ["python:3.11-slim", "debian:12"]


def test_from_lines_take_args_declared_before_the_first_from() -> None:
    dockerfile = "ARG PY=3.11\nARG BASE\nFROM python:${PY}-slim\nFROM ${BASE:-debian:12}\nFROM $BASE\n"
    assert from_images(dockerfile) == ["python:3.11-slim", "debian:12"]
    assert from_images(dockerfile, {"PY": "3.12", "BASE": "ubuntu:24.04"}) == ["python:3.12-slim", "ubuntu:24.04"]
