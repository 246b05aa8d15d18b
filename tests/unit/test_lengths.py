"""Text within a member's maximum length keeps its cause and the program's last error lines."""

from __future__ import annotations

import botocore.session

from modelbay.controllers.reasons import MAX_REASON_CHARS, fit_reason
from modelbay.lengths import OMITTED_LINES, OMITTED_WORDS, fit

TRACEBACK = "\n".join(["Traceback (most recent call last):"] + [
    f'  File "/opt/ml/code/train.py", line {n}, in step_{n}\n    result = step_{n + 1}(data, options)'
    for n in range(40)] + ["ValueError: could not convert string to float: 'abc', exit code: 1"])


def test_the_limit_is_the_models() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    assert model.shape_for("FailureReason").metadata["max"] == MAX_REASON_CHARS


def test_a_reason_that_fits_is_kept_whole() -> None:
    reason = "AlgorithmError: ValueError: bad input, exit code: 1"
    assert fit_reason(reason) == reason
    assert fit_reason("x" * MAX_REASON_CHARS) == "x" * MAX_REASON_CHARS
    assert fit("error\n", 10) == "error\n" and fit("error" + " " * 20, 10) == "error"  # trailing space goes first


def test_a_long_reason_keeps_its_cause_and_its_last_error_line() -> None:
    reason = "AlgorithmError: " + TRACEBACK
    assert len(reason) > 2000
    fitted = fit_reason(reason)
    assert len(fitted) <= MAX_REASON_CHARS
    assert fitted.startswith("AlgorithmError: Traceback (most recent call last):\n")
    assert fitted.endswith("\nValueError: could not convert string to float: 'abc', exit code: 1")
    head, tail = fitted.split(OMITTED_LINES)
    assert reason.startswith(head) and reason[len(head)] == "\n"  # cut at a line, not mid-line
    assert reason.endswith(tail) and reason[-len(tail) - 1] == "\n"  # the innermost frames, whole lines
    assert "line 39, in step_39" in tail


def test_one_long_line_keeps_both_ends_cut_at_words() -> None:
    words = " ".join(f"word{n}" for n in range(400))
    fitted = fit(f"ClientError: the model server exited: {words}", 200)
    assert len(fitted) <= 200
    head, tail = fitted.split(OMITTED_WORDS)
    assert head.startswith("ClientError: the model server exited: word0 ") and head.split()[-1].startswith("word")
    assert tail.endswith(" word399") and tail.split()[0] in words.split()


def test_a_last_line_longer_than_half_the_limit_keeps_its_end() -> None:
    reason = "Cause: the job failed\n" + "x" * 50 + "\n" + "error " * 100 + "the end"
    fitted = fit(reason, 120)
    assert len(fitted) <= 120 and fitted.startswith("Cause: the job failed") and fitted.endswith("error the end")
