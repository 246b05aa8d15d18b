"""InvokeEndpointWithResponseStream on a real server: a plain-Python model whose predict_fn yields its answer
word by word, read through boto3's EventStream as it comes, and a model failing mid-stream."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from botocore.exceptions import EventStreamError

from modelbay.sdk import Model, Predictor, Session
from tests.conftest import client
from tests.helpers import ServerProcess

# Answers "WORDS|FLAG" with each word in capitals, one piece a word; after the first word it waits until the
# file FLAG exists (so the caller shows it had the first piece before the model went on), fails on "boom".
STREAMING_SCRIPT = """
    import os, time

    def model_fn(model_dir):
        return None

    def input_fn(body, content_type):
        return body if isinstance(body, str) else body.decode()

    def predict_fn(text, model):
        words, _, flag = text.partition("|")
        for index, word in enumerate(words.split()):
            if word == "boom":
                raise ValueError("boom")
            yield word
            while index == 0 and flag and not os.path.exists(flag):
                time.sleep(0.01)

    def output_fn(word, accept):
        return word.upper() + " ", "text/plain"
"""


@pytest.fixture(scope="module")
def endpoint(session: Session, tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("streaming")
    (directory / "stream.py").write_text(textwrap.dedent(STREAMING_SCRIPT))
    predictor = Model(framework="python", entry_point=str(directory / "stream.py"), session=session).deploy()
    yield predictor.endpoint_name
    Predictor(predictor.endpoint_name, session).delete_endpoint()


@pytest.fixture(scope="module")
def runtime(server: ServerProcess) -> Any:
    return client(server.url, "sagemaker-runtime")


def test_the_answer_comes_as_payload_parts_while_the_model_is_still_answering(
        endpoint: str, runtime: Any, server: ServerProcess) -> None:
    # the flag in the model server's /opt/ml, the one place of an instance the host sees (its /tmp is its own)
    flag = next((server.data_dir / "endpoints" / endpoint).rglob("opt_ml")) / "go-on"
    answer = runtime.invoke_endpoint_with_response_stream(EndpointName=endpoint, Body="one two three|/opt/ml/go-on",
                                                          ContentType="text/plain")
    assert (answer["ContentType"], answer["InvokedProductionVariant"]) == ("text/plain", "AllTraffic")
    assert answer["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    events = iter(answer["Body"])
    assert next(events)["PayloadPart"]["Bytes"] == b"ONE "  # the model waits for the flag before the next word
    flag.touch()
    assert b"".join(event["PayloadPart"]["Bytes"] for event in events) == b"TWO THREE "


def test_invoke_endpoint_gets_a_streaming_model_s_answer_whole(endpoint: str, runtime: Any) -> None:
    answer = runtime.invoke_endpoint(EndpointName=endpoint, Body="one two", ContentType="text/plain")
    assert answer["Body"].read() == b"ONE TWO "


def test_a_model_failing_mid_stream_ends_it_with_model_stream_error(endpoint: str, runtime: Any) -> None:
    events = iter(runtime.invoke_endpoint_with_response_stream(EndpointName=endpoint, Body="one boom",
                                                               ContentType="text/plain")["Body"])
    assert next(events)["PayloadPart"]["Bytes"] == b"ONE "
    with pytest.raises(EventStreamError) as caught:
        next(events)
    assert caught.value.response["Error"] == {
        "Code": "ModelStreamError", "Message": "The connection to your model primary was closed before it completed "
                                              "sending the inference response."}


def test_a_model_failing_before_it_answers_is_a_model_error(endpoint: str, runtime: Any) -> None:
    with pytest.raises(runtime.exceptions.ModelError) as caught:
        runtime.invoke_endpoint_with_response_stream(EndpointName=endpoint, Body="boom", ContentType="text/plain")
    assert caught.value.response["OriginalStatusCode"] == 500
    assert "ValueError: boom" in caught.value.response["OriginalMessage"]
    served_on = runtime.invoke_endpoint_with_response_stream(EndpointName=endpoint, Body="still here")["Body"]
    assert b"".join(event["PayloadPart"]["Bytes"] for event in served_on) == b"STILL HERE "
