"""The Flask app of AWS's decision_trees example, as it behaves: GET /ping answers 200 once the model at
/opt/ml/model/decision-tree-model.pkl loads; POST /invocations takes CSV rows (no header) and answers one predicted
label per line as CSV, and 415 for any other content type."""

import functools
import io
import pickle
from typing import Any

import flask
import pandas as pd

MODEL = "/opt/ml/model/decision-tree-model.pkl"

app = flask.Flask(__name__)


@functools.cache
def model() -> Any:
    with open(MODEL, "rb") as file:
        return pickle.load(file)


@app.route("/ping", methods=["GET"])
def ping() -> flask.Response:
    return flask.Response("\n", status=200 if model() is not None else 404, mimetype="application/json")


@app.route("/invocations", methods=["POST"])
def invocations() -> flask.Response:
    if flask.request.content_type != "text/csv":
        return flask.Response("This predictor only supports CSV data", status=415, mimetype="text/plain")
    rows = pd.read_csv(io.BytesIO(flask.request.data), header=None)
    print(f"Invoked with {len(rows)} records")
    answer = io.StringIO()
    pd.Series(model().predict(rows)).to_csv(answer, header=False, index=False)
    return flask.Response(answer.getvalue(), status=200, mimetype="text/csv")
