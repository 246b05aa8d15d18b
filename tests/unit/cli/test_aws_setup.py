"""The SageMaker SDK defaults file and the AWS profile, checked by the SDK's and botocore's own readers."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import jsonschema
import pytest
from sagemaker.config.config_schema import SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA

from modelbay.cli.aws_setup import sagemaker_defaults, write_profile, write_sagemaker_defaults


def test_the_defaults_are_valid_for_the_sdks_schema() -> None:
    jsonschema.validate(sagemaker_defaults("123456789012", "eu-west-1"), SAGEMAKER_PYTHON_SDK_CONFIG_SCHEMA)


def test_the_defaults_name_the_bucket_the_sdk_would_and_turn_telemetry_off(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    defaults = json.loads(write_sagemaker_defaults("http://127.0.0.1:7070", "123456789012", "eu-west-1").read_text())
    modules = defaults["SageMaker"]["PythonSDK"]["Modules"]
    assert modules["Session"]["DefaultS3Bucket"] == "sagemaker-eu-west-1-123456789012"
    assert modules["TelemetryOptOut"] is True
    assert defaults["SageMaker"]["TrainingJob"]["RoleArn"] == "arn:aws:iam::123456789012:role/SageMakerExecutionRole"


def test_each_server_and_region_has_its_own_defaults_in_the_users_config_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    paths = [write_sagemaker_defaults(url, "123456789012", region) for url, region in [
        ("http://127.0.0.1:7070", "us-east-1"), ("http://127.0.0.1:41873", "us-east-1"),
        ("http://127.0.0.1:7070", "eu-west-1"), ("http://localhost:7070/a_b", "us-east-1"),
        ("http://localhost:7070/a/b", "us-east-1")]]
    assert len(set(paths)) == len(paths)
    assert all(path.parent.parent == tmp_path / "config" / "modelbay" / "servers" for path in paths)
    assert paths[0].parent.name.startswith("127.0.0.1-7070-") and paths[0].name == "sagemaker-us-east-1.yaml"
    assert paths[0] == write_sagemaker_defaults("http://127.0.0.1:7070", "123456789012", "us-east-1")  # stable
    buckets = [json.loads(path.read_text())["SageMaker"]["PythonSDK"]["Modules"]["Session"]["DefaultS3Bucket"]
               for path in paths[::2]]
    assert buckets == ["sagemaker-us-east-1-123456789012", "sagemaker-eu-west-1-123456789012",
                       "sagemaker-us-east-1-123456789012"]


def test_a_profile_is_read_by_botocore_with_its_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    write_profile("modelbay", "http://127.0.0.1:7070", "us-east-1", ("key", "secret"))
    write_profile("modelbay", "http://127.0.0.1:8080", "us-east-1", ("key", "secret"))  # written again: replaced
    core = botocore.session.Session(profile="modelbay")
    assert core.get_scoped_config()["endpoint_url"] == "http://127.0.0.1:8080"
    assert core.get_credentials().access_key == "key"
    assert core.get_config_variable("region") == "us-east-1"
