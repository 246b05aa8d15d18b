"""`modelbay images build`, `base` and `mirror` without podman at work: the registries.conf, names, bad input."""

from __future__ import annotations

import tomllib
from pathlib import Path

from typer.testing import CliRunner

from modelbay.cli.image_builds import Registry, image_name, registries_conf
from modelbay.cli.main import app


def test_registries_conf_mirrors_docker_hubs_base_images_to_the_servers_region() -> None:
    conf = tomllib.loads(registries_conf(Registry("127.0.0.1:7070", "us-east-1", tls_verify=False)))
    assert conf["unqualified-search-registries"] == ["docker.io"]
    python = next(entry for entry in conf["registry"] if entry["prefix"] == "docker.io/library/python")
    assert python["location"] == "docker.io/library/python"
    assert python["mirror"] == [{"location": "127.0.0.1:7070/us-east-1/library/python", "insecure": True}]
    assert {entry["prefix"] for entry in conf["registry"]} == {f"docker.io/library/{name}"
                                                               for name in ("debian", "python", "ubuntu")}


def test_a_server_behind_tls_is_no_insecure_mirror() -> None:
    conf = tomllib.loads(registries_conf(Registry("models.example:443", "eu-west-3", tls_verify=True)))
    assert {mirror["insecure"] for entry in conf["registry"] for mirror in entry["mirror"]} == {False}


def test_image_names_default_to_latest() -> None:
    assert image_name("team/model:v1") == ("team/model", "v1")
    assert image_name("model") == ("model", "latest")


def test_mirror_prints_the_conf_for_the_url_and_region() -> None:
    done = CliRunner().invoke(app, ["images", "mirror", "--url", "http://127.0.0.1:9", "--region", "eu-west-3"])
    assert done.exit_code == 0, done.output
    assert 'location = "127.0.0.1:9/eu-west-3/library/debian"' in done.stdout


def test_mirror_writes_a_file(tmp_path: Path) -> None:
    path = tmp_path / "registries.conf"
    done = CliRunner().invoke(app, ["images", "mirror", "--url", "http://127.0.0.1:9", "--output", str(path)])
    assert done.exit_code == 0, done.output
    assert tomllib.loads(path.read_text())["registry"][0]["mirror"][0]["location"].startswith("127.0.0.1:9/")


def test_build_without_a_dockerfile_says_so(tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["images", "build", "--url", "http://127.0.0.1:9", "-t", "m:v1", str(tmp_path)])
    assert done.exit_code == 2
    assert f"{tmp_path} holds no Dockerfile or Containerfile" in done.output


def test_build_of_a_missing_directory_says_so(tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["images", "build", "-t", "m:v1", str(tmp_path / "nowhere")])
    assert done.exit_code == 2
    assert "is not a directory" in done.output


def test_base_refuses_an_image_it_cannot_build() -> None:
    done = CliRunner().invoke(app, ["images", "base", "--url", "http://127.0.0.1:9", "nginx:1.25"])
    assert done.exit_code == 2
    assert "modelbay builds no base image nginx:1.25" in done.output
