"""`modelbay endpoints` and `modelbay invoke` against a real server, run as a user runs them (a subprocess with no
AWS credentials); the endpoints are deployed with the SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelbay.cli.main import app
from modelbay.sdk import Model, Predictor, ProductionVariant, Session, deploy_variants
from tests.conftest import client
from tests.helpers import ServerProcess, wait_until
from tests.integration.models import echo_model
from tests.integration.test_cli import CLI_HOME, modelbay


@pytest.fixture(scope="module")
def echo(session: Session, tmp_path_factory: pytest.TempPathFactory) -> Model:
    """A plain-Python model that echoes, shared by the module's endpoints."""
    return echo_model(session, tmp_path_factory.mktemp("echo"))


@pytest.fixture
def endpoint(echo: Model, unique: str) -> str:
    """An InService endpoint with variants a and b, equally weighted."""
    deploy_variants(unique, [ProductionVariant(echo, "a"), ProductionVariant(echo, "b")])
    return unique


def described(name: str, url: str) -> dict[str, Any]:
    done = modelbay("--json", "endpoints", "describe", name, url=url)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def variants(name: str, url: str) -> dict[str, dict[str, Any]]:
    return {v["VariantName"]: v for v in described(name, url)["ProductionVariants"]}


def test_list_and_describe_show_status_variants_weights_and_images(endpoint: str, server: ServerProcess) -> None:
    listed = modelbay("--json", "endpoints", "list", "--name-contains", endpoint, "--status", "InService",
                      url=server.url)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["EndpointName"], row["EndpointStatus"]) == (endpoint, "InService")
    assert [(v["VariantName"], v["CurrentWeight"], v["CurrentInstanceCount"]) for v in row["ProductionVariants"]] == [
        ("a", 1.0, 1), ("b", 1.0, 1)]
    table = modelbay("endpoints", "list", "--max", "50", url=server.url).stdout
    assert endpoint in table and "InService" in table and "a 1 × 1, b 1 × 1" in table
    readable = modelbay("endpoints", "describe", endpoint, url=server.url).stdout
    assert "Production variants" in readable and "modelbay/python" in readable
    assert "1 / 1" in readable  # weights and instance counts: current / desired
    assert "ResponseMetadata" not in described(endpoint, server.url)


def test_describe_shows_where_each_serving_instance_runs(endpoint: str, server: ServerProcess) -> None:
    instances = described(endpoint, server.url)["Instances"]
    assert sorted(instance["variant"] for instance in instances) == ["a", "b"]
    assert all(instance["instance_id"] and instance["zone"] and instance["in_rotation"] for instance in instances)
    readable = modelbay("endpoints", "describe", endpoint, url=server.url).stdout
    assert "Serving instances" in readable and "In rotation" in readable
    assert all(instance["zone"] in readable for instance in instances)


def test_logs_prints_each_instances_lines_by_stream_and_follow_ends_with_the_endpoint(
        endpoint: str, server: ServerProcess) -> None:
    logs, group = client(server.url, "logs"), f"/aws/sagemaker/Endpoints/{endpoint}"

    def streams() -> list[str]:
        found = logs.describe_log_streams(logGroupName=group)["logStreams"] if logs.describe_log_groups(
            logGroupNamePrefix=group)["logGroups"] else []
        return [stream["logStreamName"] for stream in found if stream.get("lastEventTimestamp")]
    wait_until(lambda: len(streams()) == 2, 30, "both instances to have logged")
    expected = [f"{stream} | {event['message']}" for stream in streams() for event in
                logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]]
    printed = modelbay("endpoints", "logs", endpoint, url=server.url)
    assert printed.returncode == 0, printed.stderr
    assert sorted({line.split("/", 1)[0] for line in printed.stdout.splitlines()}) == ["a", "b"]
    assert all(line in printed.stdout for line in expected)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MODELBAY_"))} | {
        "MODELBAY_URL": server.url, "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "HOME": str(CLI_HOME)}  # whose ~/.modelbay holds the server's root key, as modelbay() runs the CLI
    # unbuffered, so that readline() takes the first line alone: communicate() reads the rest from the pipe itself
    with subprocess.Popen([sys.executable, "-m", "modelbay", "endpoints", "logs", endpoint, "--follow"], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0) as following:
        assert following.stdout is not None
        # its first line comes after it found the endpoint, which a delete before then would have made unknown
        first = following.stdout.readline()
        client(server.url, "sagemaker").delete_endpoint(EndpointName=endpoint)
        out, err = following.communicate(timeout=60)
    assert following.returncode == 0, err.decode()
    assert all(line in (first + out).decode() for line in expected)


def test_invoke_prints_the_answer_and_names_the_variant_on_stderr(endpoint: str, server: ServerProcess,
                                                                  scratch: Path) -> None:
    done = modelbay("invoke", endpoint, "--body", "1,2", "--target-variant", "b", url=server.url)
    assert (done.returncode, done.stdout, done.stderr) == (0, "text/csv:1,2", "variant: b\n")
    (scratch / "rows.json").write_text('{"x": "y"}')
    from_file = modelbay("--json", "invoke", endpoint, "--file", str(scratch / "rows.json"), "--content-type",
                         "application/json", "--accept", "text/plain", url=server.url)
    assert from_file.returncode == 0, from_file.stderr
    answer = json.loads(from_file.stdout)
    assert (answer["Body"], answer["ContentType"]) == ('application/json:{"X": "Y"}', "text/plain")
    assert answer["InvokedProductionVariant"] in ("a", "b")


def test_invoke_reads_standard_input_given_a_dash(endpoint: str, server: ServerProcess) -> None:
    done = CliRunner().invoke(app, ["--url", server.url, "invoke", endpoint, "-"], input=b"3,4")
    assert done.exit_code == 0, done.output
    assert done.stdout == "text/csv:3,4"


def test_update_weights_moves_all_traffic_and_counts_change_the_fleet(endpoint: str, server: ServerProcess) -> None:
    moved = modelbay("endpoints", "update-weights", endpoint, "a=0", "b=1", "--wait", url=server.url)
    assert (moved.returncode, moved.stdout.strip()) == (0, f"updated {endpoint}"), moved.stderr
    assert {name: v["CurrentWeight"] for name, v in variants(endpoint, server.url).items()} == {"a": 0.0, "b": 1.0}
    runtime = client(server.url, "sagemaker-runtime")
    answered = Counter(runtime.invoke_endpoint(EndpointName=endpoint, Body=b"1", ContentType="text/csv")[
        "InvokedProductionVariant"] for _ in range(20))
    assert answered == Counter({"b": 20})

    grown = modelbay("--json", "endpoints", "update-weights", endpoint, "--count", "b=2", "--wait", url=server.url)
    assert (grown.returncode, json.loads(grown.stdout)) == (0, {"EndpointName": endpoint}), grown.stderr
    b = variants(endpoint, server.url)["b"]
    assert (b["CurrentInstanceCount"], b["DesiredInstanceCount"], b["CurrentWeight"]) == (2, 2, 1.0)


def test_delete_with_wait_returns_once_the_endpoint_is_gone(endpoint: str, server: ServerProcess) -> None:
    deleted = modelbay("endpoints", "delete", endpoint, "--wait", url=server.url)
    assert (deleted.returncode, deleted.stdout.strip()) == (0, f"deleted {endpoint}"), deleted.stderr
    gone = modelbay("endpoints", "describe", endpoint, url=server.url)
    assert gone.returncode == 1 and "Could not find endpoint" in gone.stderr
    config = client(server.url, "sagemaker").describe_endpoint_config(EndpointConfigName=endpoint)
    assert config["EndpointConfigName"] == endpoint  # the config stays


def test_a_failed_endpoint_shows_its_failure_reason(session: Session, server: ServerProcess, unique: str) -> None:
    broken = Model(framework="python", model_data=f"s3://{session.default_bucket()}/{unique}/none.tar.gz",
                   session=session)
    predictor = broken.deploy(endpoint_name=unique, wait=False)
    wait_until(lambda: predictor.describe()["EndpointStatus"] == "Failed", 60, f"{unique} to fail")
    readable = modelbay("endpoints", "describe", unique, url=server.url)
    assert "Failure reason" in readable.stdout and "none.tar.gz" in readable.stdout
    listed = modelbay("endpoints", "list", "--status", "Failed", "--name-contains", unique, url=server.url)
    assert unique in listed.stdout and "Failed" in listed.stdout
    Predictor(unique, session).delete_endpoint()


def test_errors_are_one_clear_line(server: ServerProcess) -> None:
    for args in (["endpoints", "describe", "nope"], ["endpoints", "delete", "nope"],
                 ["endpoints", "update-weights", "nope", "a=1"], ["invoke", "nope", "--body", "1"]):
        done = modelbay(*args, url=server.url)
        assert done.returncode == 1, args
        assert "error:" in done.stderr and "nope" in done.stderr and "Traceback" not in done.stderr
    for args, message in ((["endpoints", "update-weights", "e", "a=x"], "'a=x' is not VARIANT=WEIGHT"),
                          (["endpoints", "update-weights", "e", "--count", "a=1.5"], "'a=1.5' is not VARIANT=N"),
                          (["endpoints", "update-weights", "e"], "give VARIANT=WEIGHT arguments"),
                          (["invoke", "e"], "exactly one of --body STRING, --file PATH or -"),
                          (["invoke", "e", "--body", "1", "--file", "f"], "exactly one of"),
                          (["invoke", "e", "--file", "/nonexistent/rows.csv"], "No such file or directory")):
        done = modelbay(*args, url=server.url)
        assert done.returncode == 2, args
        assert message in " ".join(done.stderr.replace("│", " ").split())  # the words, out of rich's error box
        assert "Traceback" not in done.stderr
