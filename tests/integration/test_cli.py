"""The `modelbay` command as people and scripts use it."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from modelbay import __version__
from modelbay.cli.main import app
from modelbay.config import ROOT_KEY_FILE, Settings
from modelbay.security.root_key import write_root_key
from tests.helpers import ROOT_KEY

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"
NO_SUCH_BUCKET = "error: NoSuchBucket: The specified bucket does not exist\n"
LISTINGS = (("jobs", "list"), ("endpoints", "list"), ("transform", "list"), ("models", "list"), ("images", "list"),
            ("s3", "ls"))


# the home of the CLI's user on a fresh machine (in the checkout's cache, kept between runs like the environments)
CLI_HOME = Path(__file__).resolve().parents[2] / ".cache" / "cli-home"

def modelbay(*args: str, url: str | None = None, env: dict[str, str] | None = None,
             stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a clean environment with no AWS credentials, as on a fresh machine whose user runs the server
    (so its root key is in ~/.modelbay, where the CLI finds it: HOME is CLI_HOME unless `env` says otherwise)."""
    write_root_key(CLI_HOME / ".modelbay" / ROOT_KEY_FILE, ROOT_KEY)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MODELBAY_")) and k != "XDG_CONFIG_HOME"}
    base |= {"HOME": str(CLI_HOME), "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
             **(env or {})}
    if url:
        base["MODELBAY_URL"] = url
    return subprocess.run([sys.executable, "-m", "modelbay", *args], capture_output=True, text=True, env=base,
                          input=stdin, timeout=120)


def test_env_prints_exports_with_default_credentials(tmp_path: Path) -> None:
    done = modelbay("env", "--url", "http://127.0.0.1:9999", env={"HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    lines = dict(line.removeprefix("export ").split("=", 1) for line in done.stdout.splitlines())
    assert lines["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9999"
    assert lines["AWS_ACCESS_KEY_ID"] == "modelbay"
    assert lines["AWS_REGION"] == "us-east-1"
    defaults = json.loads(Path(lines["SAGEMAKER_USER_CONFIG_OVERRIDE"]).read_text())
    assert Path(lines["SAGEMAKER_USER_CONFIG_OVERRIDE"]).parent.parent == tmp_path / ".config" / "modelbay" / "servers"
    assert defaults["SageMaker"]["PythonSDK"]["Modules"]["Session"]["DefaultS3Bucket"] == (
        "sagemaker-us-east-1-000000000000")


def test_two_servers_never_share_an_sdk_defaults_file(tmp_path: Path) -> None:
    """The CLI knows a server by its URL, not by where it keeps its data (which MODELBAY_DATA_DIR does not say)."""
    written = [dict(line.removeprefix("export ").split("=", 1) for line in modelbay(
        "env", "--url", url, env={"HOME": str(tmp_path), "MODELBAY_DATA_DIR": str(tmp_path / "data")},
    ).stdout.splitlines())["SAGEMAKER_USER_CONFIG_OVERRIDE"] for url in ("http://127.0.0.1:9998", "http://127.0.0.1:9999")]
    assert written[0] != written[1] and all(Path(path).is_file() for path in written)
    assert not (tmp_path / "data").exists()


def test_configure_writes_a_profile_that_boto3_follows(server: Any, tmp_path: Path) -> None:
    files = {"AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds")}
    (tmp_path / "config").write_text("[profile mine]\nregion = eu-west-1\n")
    write_root_key(tmp_path / ".modelbay" / ROOT_KEY_FILE, ROOT_KEY)  # the user runs the server: its key is hers
    done = modelbay("configure", "--profile", "modelbay", url=server.url, env={"HOME": str(tmp_path), **files})
    assert done.returncode == 0, done.stderr
    assert "export AWS_PROFILE=modelbay SAGEMAKER_USER_CONFIG_OVERRIDE=" in done.stdout
    script = "import boto3; print(boto3.Session(profile_name='modelbay').client('sts').get_caller_identity()['Arn'])"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MODELBAY_"))} | files
    arn = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=clean, timeout=60)
    assert arn.stdout.strip() == "arn:aws:iam::000000000000:root", arn.stderr
    assert "[profile mine]\nregion = eu-west-1" in (tmp_path / "config").read_text()  # the user's own is kept
    assert oct((tmp_path / "creds").stat().st_mode & 0o777) == "0o600"


def test_env_keeps_the_users_own_credentials(tmp_path: Path) -> None:
    done = modelbay("env", env={"AWS_ACCESS_KEY_ID": "mine", "AWS_SECRET_ACCESS_KEY": "s", "HOME": str(tmp_path)})
    assert "AWS_ACCESS_KEY_ID" not in done.stdout
    assert "AWS_ENDPOINT_URL=http://127.0.0.1:7070" in done.stdout


def test_s3_commands_round_trip(server: Any, unique: str, tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_text("a,b\n1,2\n")
    assert modelbay("s3", "mb", f"s3://{unique}", url=server.url).returncode == 0
    copied = modelbay("--json", "s3", "cp", str(source), f"s3://{unique}/train/", url=server.url)
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)["bytes"] == source.stat().st_size
    listed = json.loads(modelbay("--json", "s3", "ls", f"s3://{unique}/", url=server.url).stdout)
    assert listed == [{"LastModified": "", "Size": "PRE", "Key": "train/"}]
    listed = json.loads(modelbay("--json", "s3", "ls", "-r", f"s3://{unique}", url=server.url).stdout)
    assert [row["Key"] for row in listed] == ["train/data.csv"]
    back = tmp_path / "back.csv"
    assert modelbay("s3", "cp", f"s3://{unique}/train/data.csv", str(back), url=server.url).returncode == 0
    assert back.read_text() == source.read_text()
    assert modelbay("s3", "rm", "-r", f"s3://{unique}/train/", url=server.url).returncode == 0
    assert json.loads(modelbay("--json", "s3", "ls", "-r", f"s3://{unique}", url=server.url).stdout) == []


def test_errors_are_one_clear_line(server: Any) -> None:
    done = modelbay("s3", "ls", "s3://no-such-bucket-here", url=server.url)
    assert done.returncode == 1
    assert "NoSuchBucket" in done.stderr
    assert "Traceback" not in done.stderr
    unreachable = modelbay("s3", "ls", url="http://127.0.0.1:9")
    assert unreachable.returncode == 1
    assert "Traceback" not in unreachable.stderr


def test_s3_cp_prints_an_object_to_dev_stdout_or_dash_and_leaves_dev_stdout_a_symlink(server: Any, s3: Any,
                                                                                      unique: str) -> None:
    s3.create_bucket(Bucket=unique)
    s3.put_object(Bucket=unique, Key="rows.csv", Body=b"a,b\n1,2\n")
    assert os.path.islink("/dev/stdout")
    for destination in ("/dev/stdout", "-"):
        done = modelbay("s3", "cp", f"s3://{unique}/rows.csv", destination, url=server.url)
        assert (done.returncode, done.stdout, done.stderr) == (0, "a,b\n1,2\n", ""), destination
        assert os.path.islink("/dev/stdout")  # written through, never renamed over


def test_s3_cp_uploads_standard_input_given_a_dash(server: Any, s3: Any, unique: str) -> None:
    s3.create_bucket(Bucket=unique)
    done = modelbay("s3", "cp", "-", f"s3://{unique}/in/rows.csv", "--json", url=server.url, stdin="3,4\n")
    assert (done.returncode, json.loads(done.stdout or "null")["bytes"]) == (0, 4), done.stderr
    assert s3.get_object(Bucket=unique, Key="in/rows.csv")["Body"].read() == b"3,4\n"
    unnamed = modelbay("s3", "cp", "-", f"s3://{unique}/in/", url=server.url, stdin="3,4\n")
    assert unnamed.returncode == 2 and "standard input has no name" in unnamed.stderr


def test_s3_cp_replaces_a_file_keeping_its_mode_and_writes_through_a_symlink(server: Any, s3: Any, unique: str,
                                                                           tmp_path: Path) -> None:
    s3.create_bucket(Bucket=unique)
    s3.put_object(Bucket=unique, Key="rows.csv", Body=b"new\n")
    (tmp_path / "file").write_text("old\n")
    (tmp_path / "file").chmod(0o640)
    (tmp_path / "link").symlink_to(tmp_path / "file")
    for target in ("file", "link"):
        done = modelbay("s3", "cp", f"s3://{unique}/rows.csv", str(tmp_path / target), url=server.url)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "link").is_symlink() and (tmp_path / "file").read_text() == "new\n"
    assert oct((tmp_path / "file").stat().st_mode & 0o777) == "0o640"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file", "link"]  # no temporary file left


def test_copying_to_or_from_a_missing_bucket_is_one_line(server: Any, tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    source.write_text("1,2\n")
    for args in ((str(source), "s3://no-such-bucket-here/rows.csv"),
                 ("s3://no-such-bucket-here/rows.csv", str(tmp_path / "back.csv"))):
        done = modelbay("s3", "cp", *args, url=server.url)
        assert (done.returncode, done.stderr) == (1, NO_SUCH_BUCKET), args
    assert list(tmp_path.iterdir()) == [source]  # nothing written, not even a temporary file


def test_debug_prints_the_traceback_above_the_error_line(server: Any) -> None:
    done = modelbay("s3", "ls", "s3://no-such-bucket-here", "--debug", url=server.url)
    assert done.returncode == 1
    assert done.stderr.startswith("Traceback (most recent call last):") and "modelbay/cli/s3.py" in done.stderr
    assert done.stderr.endswith(NO_SUCH_BUCKET)


@pytest.mark.parametrize("command", LISTINGS, ids=" ".join)
def test_every_listing_takes_json_and_url_after_the_command(server: Any, command: tuple[str, ...]) -> None:
    done = modelbay(*command, "--json", "--url", server.url)  # no MODELBAY_URL: only --url finds the server
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout), list)


def test_shared_options_mean_the_same_before_a_group_after_it_and_after_the_command(server: Any,
                                                                                    unique: str) -> None:
    assert modelbay("s3", "mb", f"s3://{unique}", url=server.url).returncode == 0
    placements = (["--json", "--region", "eu-west-1", "s3", "ls"], ["s3", "--json", "--region", "eu-west-1", "ls"],
                  ["s3", "ls", "--json", "--region", "eu-west-1"])
    listed = [modelbay(*args, url=server.url) for args in placements]
    assert all(done.returncode == 0 for done in listed), [done.stderr for done in listed]
    assert len({done.stdout for done in listed}) == 1 and unique in listed[0].stdout
    exports = modelbay("env", "--region", "eu-west-1", "--url", "http://127.0.0.1:9999").stdout
    assert "AWS_REGION=eu-west-1" in exports and "AWS_ENDPOINT_URL=http://127.0.0.1:9999" in exports


def test_version() -> None:
    assert modelbay("--version").stdout == modelbay("version").stdout == f"{__version__}\n"


def test_server_help_shows_every_setting_with_its_variable() -> None:
    done = modelbay("server", "--help", env={"COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    for field in dataclasses.fields(Settings):
        assert f"MODELBAY_{field.name.upper()}" in done.stdout, field.name
    assert "--keep-instances" in done.stdout and "[default: (7070)]" in done.stdout


def test_no_help_names_an_internal_module() -> None:
    modules = {path.stem for path in (Path(__file__).parents[2] / "src" / "modelbay").rglob("*.py")
               if "_" in path.stem.strip("_")}  # aws_setup, training_jobs, ...: words no help text needs
    for path in _command_paths():
        done = CliRunner().invoke(app, [*path, "--help"])
        assert done.exit_code == 0, path
        assert "modelbay." not in done.stdout and not [name for name in modules if name in done.stdout], path


def _command_paths() -> Iterator[list[str]]:
    """Every command and group, as the words that name it."""
    def walk(command: Any, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])
    yield from walk(typer.main.get_command(app), [])


@pytest.mark.parametrize("script", sorted(BENCHMARKS.glob("*.py")), ids=lambda path: path.name)
def test_every_benchmark_explains_itself(script: Path) -> None:
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:")
