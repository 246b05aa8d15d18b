"""What a podman build's pip gets of this machine's pip configuration."""

from __future__ import annotations

from pathlib import Path

from modelbay.pip_in_builds import BUILD_MOUNTS, HOST_CA, PIP_CONF, host_pip_config, parse_pip_config, pip_volumes


def fake_pip(tmp_path: Path, listed: str) -> list[str]:
    """A `pip` whose `config list` prints `listed`."""
    listing = tmp_path / "pip"
    listing.write_text(f"#!/bin/sh\ncat <<'EOF'\n{listed}EOF\n")
    listing.chmod(0o755)
    return [str(listing)]


def test_the_pip_configuration_keeps_indexes_and_moves_the_ca_bundle(tmp_path: Path) -> None:
    (tmp_path / "index/simple").mkdir(parents=True)
    (tmp_path / "wheels").mkdir()
    (tmp_path / "ca.crt").write_text("certificate")
    listed = (f"global.extra-index-url='file://{tmp_path}/index/simple https://mirror.example/simple'\n"
              f"global.cert='{tmp_path}/ca.crt'\nglobal.find-links='{tmp_path}/wheels'\nglobal.cache-dir='/c'\n"
              "global.index-url='https://a.example/simple'\n:env:.index-url='https://b.example/simple'\n")
    config = host_pip_config(pip=fake_pip(tmp_path, listed))
    assert config.ca_bundle == tmp_path / "ca.crt"
    assert config.paths == (tmp_path / "index", tmp_path / "wheels")  # a local index's files lie beside it
    assert config.text == ("[global]\n"  # local paths as the build sees them
                           f"extra-index-url = file://{BUILD_MOUNTS}{tmp_path}/index/simple "
                           "https://mirror.example/simple\n"
                           f"find-links = {BUILD_MOUNTS}{tmp_path}/wheels\nindex-url = https://b.example/simple\n"
                           f"cert = {HOST_CA}\n")


def test_pip_config_lines_are_read_with_the_environment_last() -> None:
    assert parse_pip_config("global.timeout='60'\nnoise\n:env:.timeout='5'\n") == {"timeout": "5"}


def test_the_volumes_show_the_build_its_pip_conf_and_ca_bundle(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("certificate")
    volumes = pip_volumes(tmp_path, fake_pip(tmp_path, f"global.cert='{tmp_path}/ca.crt'\n"))
    assert volumes == ["--volume", f"{tmp_path}/pip.conf:{PIP_CONF}:ro", "--volume", f"{tmp_path}/ca.crt:{HOST_CA}:ro"]
    assert (tmp_path / "pip.conf").read_text() == f"[global]\ncert = {HOST_CA}\n"
