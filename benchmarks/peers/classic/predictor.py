"""The classic bring-your-own model server's application: Flask, run by gunicorn's sync workers.

`GET /ping` answers 200 once the model is loaded; `POST /invocations` takes CSV rows (no header),
reads them into a pandas DataFrame, predicts with the scikit-learn model at MODEL_PATH (a joblib
file) and answers the predictions as CSV, one per line. Each worker loads the model itself.
"""

from __future__ import annotations

import io
import os
from typing import Any

import flask
import joblib
import pandas as pd

app = flask.Flask(__name__)
_model: Any = None


def model() -> Any:
    """The model, loaded on first use in this worker."""
    global _model
    if _model is None:
        _model = joblib.load(os.environ["MODEL_PATH"])
    return _model


@app.route("/ping", methods=["GET"])
def ping() -> flask.Response:
    return flask.Response("\n", status=200 if model() is not None else 404, mimetype="text/plain")


@app.route("/invocations", methods=["POST"])
def invocations() -> flask.Response:
    if flask.request.content_type != "text/csv":
        return flask.Response("only text/csv is supported\n", status=415, mimetype="text/plain")
    rows = pd.read_csv(io.StringIO(flask.request.data.decode("utf-8")), header=None)
    predictions = model().predict(rows)
    answer = io.StringIO()
    pd.DataFrame({"prediction": predictions}).to_csv(answer, header=False, index=False)
    return flask.Response(answer.getvalue(), status=200, mimetype="text/csv")
