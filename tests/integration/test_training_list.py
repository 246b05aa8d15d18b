"""ListTrainingJobs, and the errors of Describe/Create/StopTrainingJob, through boto3 against a real server.

Every listing is narrowed with NameContains to the test's own name prefix: the server is shared.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pytest

from tests.conftest import client
from tests.helpers import ServerProcess, bad_request, wait_until
from tests.integration.test_training_jobs import create, program

ENDED = ("Completed", "Failed", "Stopped")


@dataclass(frozen=True)
class Jobs:
    """Three ended jobs: `b` Failed (created first), `c` Completed, `a` Stopped (created last).

    Their names, creation times and statuses each sort them in a different order."""

    prefix: str
    described: dict[str, dict[str, Any]]  # by short name: a, b, c

    def name(self, short: str) -> str:
        return f"{self.prefix}-{short}"


def described_when_ended(sagemaker: Any, name: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        job: dict[str, Any] = sagemaker.describe_training_job(TrainingJobName=name)
        return job if job["TrainingJobStatus"] in ENDED else None
    return cast(dict[str, Any], wait_until(ended, 60, f"{name} to end"))


def without_metadata(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in answer.items() if key != "ResponseMetadata"}


@pytest.fixture(scope="module")
def jobs(sagemaker: Any, s3: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jobs]:
    prefix = "t" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=prefix)
    s3.put_object(Bucket=prefix, Key="data/rows.csv", Body=b"1,2\n")
    images = tmp_path_factory.mktemp("images")
    described = {}
    # One after the other, so that each is created after the previous one's last change.
    for short, script in (("b", "exit 1\n"), ("c", "exit 0\n")):
        create(sagemaker, f"{prefix}-{short}", program(images / short, script), prefix)
        described[short] = described_when_ended(sagemaker, f"{prefix}-{short}")
    stopped = f"{prefix}-a"
    create(sagemaker, stopped, program(images / "a", "exec sleep 60\n"), prefix)
    wait_until(lambda: sagemaker.describe_training_job(TrainingJobName=stopped)["SecondaryStatus"] == "Training",
               30, "the job to train")
    sagemaker.stop_training_job(TrainingJobName=stopped)
    described["a"] = described_when_ended(sagemaker, stopped)
    assert [described[short]["TrainingJobStatus"] for short in "bca"] == ["Failed", "Completed", "Stopped"]
    yield Jobs(prefix, described)


def listed(sagemaker: Any, jobs: Jobs, **params: Any) -> list[str]:
    """The short names of the jobs one ListTrainingJobs call answers, in its order."""
    answer = sagemaker.list_training_jobs(NameContains=jobs.prefix, **params)
    assert "NextToken" not in answer
    return [summary["TrainingJobName"].removeprefix(jobs.prefix + "-") for summary in answer["TrainingJobSummaries"]]


def between(earlier: datetime, later: datetime) -> datetime:
    assert earlier < later
    return earlier + (later - earlier) / 2


def test_summaries_carry_the_jobs_state(sagemaker: Any, jobs: Jobs) -> None:
    summaries = sagemaker.list_training_jobs(NameContains=jobs.name("c"))["TrainingJobSummaries"]
    job = jobs.described["c"]
    assert summaries == [{
        "TrainingJobName": jobs.name("c"), "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:000000000000:"
                                                             f"training-job/{jobs.name('c')}",
        "CreationTime": job["CreationTime"], "TrainingEndTime": job["TrainingEndTime"],
        "LastModifiedTime": job["LastModifiedTime"], "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed"}]


def test_filter_by_name_and_status(sagemaker: Any, jobs: Jobs) -> None:
    assert listed(sagemaker, jobs, SortBy="Name", SortOrder="Ascending") == ["a", "b", "c"]
    assert listed(sagemaker, jobs, StatusEquals="Completed") == ["c"]
    assert listed(sagemaker, jobs, StatusEquals="Failed") == ["b"]
    assert listed(sagemaker, jobs, StatusEquals="Stopped") == ["a"]
    assert listed(sagemaker, jobs, StatusEquals="InProgress") == []
    assert sagemaker.list_training_jobs(NameContains=jobs.name("b"))["TrainingJobSummaries"][0][
        "TrainingJobName"] == jobs.name("b")
    assert sagemaker.list_training_jobs(NameContains=jobs.prefix + "-x")["TrainingJobSummaries"] == []


def test_filter_by_creation_and_last_modified_time(sagemaker: Any, jobs: Jobs) -> None:
    b, c = jobs.described["b"], jobs.described["c"]
    # b was created before this moment and last changed after it; c and a were created after it.
    during_b = between(b["CreationTime"], b["LastModifiedTime"])
    order = {"SortBy": "Name", "SortOrder": "Ascending"}
    assert listed(sagemaker, jobs, CreationTimeAfter=during_b, **order) == ["a", "c"]
    assert listed(sagemaker, jobs, CreationTimeBefore=during_b, **order) == ["b"]
    assert listed(sagemaker, jobs, LastModifiedTimeAfter=during_b, **order) == ["a", "b", "c"]
    assert listed(sagemaker, jobs, LastModifiedTimeBefore=during_b, **order) == []
    # c ended before a was created.
    before_a = between(c["LastModifiedTime"], jobs.described["a"]["CreationTime"])
    assert listed(sagemaker, jobs, CreationTimeAfter=before_a, **order) == ["a"]
    assert listed(sagemaker, jobs, LastModifiedTimeBefore=before_a, **order) == ["b", "c"]
    assert listed(sagemaker, jobs, CreationTimeAfter=during_b, CreationTimeBefore=before_a, **order) == ["c"]
    assert listed(sagemaker, jobs, LastModifiedTimeAfter=during_b, LastModifiedTimeBefore=before_a,
                  StatusEquals="Failed") == ["b"]


@pytest.mark.parametrize(("sort_by", "ascending"), [
    ("Name", ["a", "b", "c"]), ("CreationTime", ["b", "c", "a"]), ("Status", ["c", "b", "a"])])
def test_sort_by_and_sort_order(sagemaker: Any, jobs: Jobs, sort_by: str, ascending: list[str]) -> None:
    assert listed(sagemaker, jobs, SortBy=sort_by, SortOrder="Ascending") == ascending
    assert listed(sagemaker, jobs, SortBy=sort_by, SortOrder="Descending") == ascending[::-1]


def test_default_order_is_newest_first(sagemaker: Any, jobs: Jobs) -> None:
    """The model's documentation says the default SortOrder is Ascending, but its note on ListTrainingJobs
    (and SageMaker in practice) lists the most recent first; modelbay does the latter."""
    assert listed(sagemaker, jobs) == ["a", "c", "b"]
    assert listed(sagemaker, jobs, SortBy="Name") == ["c", "b", "a"]


@pytest.fixture(scope="module")
def five(sagemaker: Any, s3: Any, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Five ended jobs `<prefix>-0` … `<prefix>-4`, created in that order."""
    prefix = "t" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=prefix)
    s3.put_object(Bucket=prefix, Key="data/rows.csv", Body=b"1,2\n")
    image = program(tmp_path_factory.mktemp("images") / "image", "exit 0\n")
    names = [f"{prefix}-{n}" for n in range(5)]
    for name in names:
        create(sagemaker, name, image, prefix)
    for name in names:
        described_when_ended(sagemaker, name)
    return names


@pytest.mark.parametrize(("sort_by", "sort_order", "expected"), [
    ("Name", "Ascending", [0, 1, 2, 3, 4]), ("Name", "Descending", [4, 3, 2, 1, 0]),
    ("CreationTime", "Ascending", [0, 1, 2, 3, 4]), ("CreationTime", "Descending", [4, 3, 2, 1, 0]),
    ("Status", "Ascending", None), ("Status", "Descending", None)])
def test_max_results_and_next_token_page_through(sagemaker: Any, five: list[str], sort_by: str, sort_order: str,
                                                 expected: list[int] | None) -> None:
    prefix = five[0].removesuffix("-0")
    pages: list[list[str]] = []
    params: dict[str, Any] = {"NameContains": prefix, "SortBy": sort_by, "SortOrder": sort_order, "MaxResults": 2}
    while True:
        answer = sagemaker.list_training_jobs(**params)
        pages.append([summary["TrainingJobName"] for summary in answer["TrainingJobSummaries"]])
        if "NextToken" not in answer:
            break
        params["NextToken"] = answer["NextToken"]
    assert [len(page) for page in pages] == [2, 2, 1]
    names = [name for page in pages for name in page]
    if expected is None:  # every job has the same status: each once, in some order
        assert sorted(names) == five
    else:
        assert names == [five[n] for n in expected]


def test_the_boto3_paginator(sagemaker: Any, five: list[str]) -> None:
    prefix = five[0].removesuffix("-0")
    paginator = sagemaker.get_paginator("list_training_jobs")
    pages = list(paginator.paginate(NameContains=prefix, SortBy="Name", SortOrder="Ascending",
                                    PaginationConfig={"PageSize": 2}))
    assert [[s["TrainingJobName"] for s in page["TrainingJobSummaries"]] for page in pages] == [
        five[0:2], five[2:4], five[4:]]
    first = paginator.paginate(NameContains=prefix, SortBy="Name", SortOrder="Ascending",
                               PaginationConfig={"PageSize": 2, "MaxItems": 3}).build_full_result()
    assert [s["TrainingJobName"] for s in first["TrainingJobSummaries"]] == five[:3]
    rest = paginator.paginate(NameContains=prefix, SortBy="Name", SortOrder="Ascending",
                              PaginationConfig={"PageSize": 2, "StartingToken": first["NextToken"]}).build_full_result()
    assert [s["TrainingJobName"] for s in rest["TrainingJobSummaries"]] == five[3:]


def test_a_next_token_no_page_gave_is_a_validation_error(sagemaker: Any, five: list[str]) -> None:
    error = bad_request(sagemaker.list_training_jobs, NextToken="not-a-token")
    assert error["Code"] == "ValidationException"
    assert "NextToken" in error["Message"]


@pytest.mark.parametrize(("max_results", "constraint"), [
    (0, "greater than or equal to 1"), (101, "less than or equal to 100")])
def test_max_results_out_of_range(server: ServerProcess, max_results: int, constraint: str) -> None:
    unchecked = client(server.url, "sagemaker", parameter_validation=False)  # botocore would refuse to send it
    assert bad_request(unchecked.list_training_jobs, MaxResults=max_results) == {
        "Code": "ValidationException",
        "Message": f"1 validation error detected: Value '{max_results}' at 'maxResults' failed to satisfy "
                   f"constraint: Member must have value {constraint}"}


def test_describe_and_stop_of_an_unknown_job(sagemaker: Any, unique: str) -> None:
    """SageMaker answers ValidationException for a job it does not know, not ResourceNotFound."""
    expected = {"Code": "ValidationException", "Message": "Requested resource not found."}
    assert bad_request(sagemaker.describe_training_job, TrainingJobName=unique) == expected
    assert bad_request(sagemaker.stop_training_job, TrainingJobName=unique) == expected


def test_a_duplicate_name_is_resource_in_use_and_keeps_the_first_job(sagemaker: Any, jobs: Jobs,
                                                                     scratch: Path) -> None:
    name = jobs.name("c")
    before = sagemaker.describe_training_job(TrainingJobName=name)
    with pytest.raises(sagemaker.exceptions.ResourceInUse) as caught:
        create(sagemaker, name, program(scratch / "other", "exit 1\n"), jobs.prefix)
    assert caught.value.response["Error"]["Message"] == (
        "Training job names must be unique within an AWS account and region, and a training job with this name "
        f"already exists (arn:aws:sagemaker:us-east-1:000000000000:training-job/{name})")
    assert without_metadata(sagemaker.describe_training_job(TrainingJobName=name)) == without_metadata(before)


@pytest.mark.parametrize("short", ["c", "b", "a"])
def test_stop_of_an_ended_job_names_its_status(sagemaker: Any, jobs: Jobs, short: str) -> None:
    status = jobs.described[short]["TrainingJobStatus"]
    assert bad_request(sagemaker.stop_training_job, TrainingJobName=jobs.name(short)) == {
        "Code": "ValidationException",
        "Message": f"The request was rejected because the training job is in status {status}."}
    assert sagemaker.describe_training_job(TrainingJobName=jobs.name(short))["TrainingJobStatus"] == status
