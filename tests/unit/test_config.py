from __future__ import annotations

from pathlib import Path

import pytest

from modelbay.config import Settings, UnsafeMode


def test_environment_then_overrides() -> None:
    env = {"MODELBAY_PORT": "9000", "MODELBAY_DATA_DIR": "/srv/mb", "MODELBAY_ACCOUNT_ID": "123456789012",
           "MODELBAY_HOST": ""}
    settings = Settings.from_env(env, port=0, host=None)
    assert settings.port == 0  # an explicit override wins
    assert settings.host == "127.0.0.1"  # empty variables and None overrides leave the default
    assert settings.data_dir == Path("/srv/mb")
    assert settings.account_id == "123456789012"


def test_default_metadata_url_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({}, data_dir=tmp_path)
    assert settings.metadata_url == f"sqlite:///{tmp_path}/metadata.db"
    assert Settings.from_env({"MODELBAY_DATABASE_URL": "postgresql://db/x"}).metadata_url == "postgresql://db/x"


def test_booleans_from_the_environment() -> None:
    assert Settings.from_env({"MODELBAY_FSYNC": "true"}).fsync is True
    assert Settings.from_env({"MODELBAY_FSYNC": "0"}).fsync is False
    with pytest.raises(ValueError, match="boolean"):
        Settings.from_env({"MODELBAY_FSYNC": "maybe"})


def test_paths_and_floats_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env({"MODELBAY_ENVIRONMENTS_DIR": "~/envs", "MODELBAY_STOP_GRACE_S": "2.5"},
                                 data_dir=tmp_path)
    assert settings.environments_dir == Path.home() / "envs"
    assert settings.stop_grace_s == 2.5


def test_framework_environments_are_cached_per_user_whatever_the_data_dir(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    environ = {"XDG_CACHE_HOME": str(cache)}
    first, second = (Settings.from_env(environ, data_dir=tmp_path / name) for name in ("a", "b"))
    assert first.environments_dir == second.environments_dir == cache / "modelbay" / "environments"
    default = Path.home() / ".cache" / "modelbay" / "environments"
    assert Settings.from_env({}, data_dir=tmp_path).environments_dir == default
    assert Settings.from_env({"XDG_CACHE_HOME": "relative/cache"}).environments_dir == default  # XDG says so
    assert Settings.from_env({**environ, "MODELBAY_ENVIRONMENTS_DIR": str(tmp_path / "envs")}
                             ).environments_dir == tmp_path / "envs"


def test_availability_zones() -> None:
    assert Settings.from_env({}).availability_zones == ("us-east-1a", "us-east-1b", "us-east-1c")
    assert Settings.from_env({"MODELBAY_ZONES": "z1, z2"}).availability_zones == ("z1", "z2")


def test_another_region_keeps_its_data_under_the_data_directory_and_on_postgresql_in_a_schema(tmp_path: Path) -> None:
    home = Settings(data_dir=tmp_path, zones="us-east-1a")
    paris = home.in_region("eu-west-3")
    assert (paris.region, paris.data_dir, paris.database_schema) == ("eu-west-3", tmp_path / "regions/eu-west-3", None)
    assert paris.metadata_url == f"sqlite:///{tmp_path / 'regions/eu-west-3/metadata.db'}"
    assert paris.availability_zones == ("eu-west-3a", "eu-west-3b", "eu-west-3c")

    on_postgres = Settings(data_dir=tmp_path, database_url="postgresql://u@h/db").in_region("eu-west-3")
    assert (on_postgres.metadata_url, on_postgres.database_schema) == ("postgresql://u@h/db", "modelbay_eu_west_3")
    on_one_sqlite_file = Settings(data_dir=tmp_path, database_url="sqlite:////x/m.db").in_region("eu-west-3")
    assert on_one_sqlite_file.metadata_url == f"sqlite:///{tmp_path / 'regions/eu-west-3/metadata.db'}"


def test_the_runtime_is_process_podman_or_ray() -> None:
    assert Settings.from_env({}).runtime == "process"
    assert Settings.from_env({"MODELBAY_RUNTIME": "podman"}).runtime == "podman"
    with pytest.raises(ValueError, match="MODELBAY_RUNTIME must be one of process, podman, ray, not 'docker'"):
        Settings.from_env({"MODELBAY_RUNTIME": "docker"})


@pytest.mark.parametrize(("host", "asked", "mode"), [
    ("127.0.0.1", None, "open"), ("::1", None, "open"), ("localhost", None, "open"), ("127.0.0.1", "iam", "iam"),
    ("0.0.0.0", None, "iam"), ("192.168.1.5", None, "iam"), ("::", "iam", "iam"),
])
def test_auth_mode_is_iam_beyond_loopback_and_open_on_it_unless_asked(host: str, asked: str | None, mode: str) -> None:
    assert Settings(host=host, auth=asked).auth_mode == mode


def test_open_auth_beyond_loopback_is_refused_saying_what_to_do() -> None:
    with pytest.raises(UnsafeMode, match="--auth iam"):
        _ = Settings(host="0.0.0.0", auth="open").auth_mode
    with pytest.raises(ValueError, match="MODELBAY_AUTH"):
        Settings(auth="none")


def test_the_master_key_never_shows_in_the_settings_repr() -> None:
    assert "c2VjcmV0" not in repr(Settings(master_key="c2VjcmV0"))
