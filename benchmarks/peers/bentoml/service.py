"""The BentoML Service that serve.py serves: one scikit-learn model loaded with joblib, answering
`POST /predict` with `{"instances": [[...]]}` by the predicted classes, `[0]` for one row.

`bentoml serve` imports this module in its arbiter and in every worker; the model's path and the
number of workers come in as template arguments (`--arg model=... --arg workers=N`),
https://docs.bentoml.com/en/latest/build-with-bentoml/template-arguments.html
"""

from __future__ import annotations

import bentoml
import joblib
from pydantic import BaseModel


class Arguments(BaseModel):
    model: str
    workers: int


ARGUMENTS = bentoml.use_arguments(Arguments)


# workers=N: N worker processes of the Service, each with its own copy of the model,
# https://docs.bentoml.com/en/latest/build-with-bentoml/parallelize-requests.html
@bentoml.service(workers=ARGUMENTS.workers)
class Classifier:
    def __init__(self) -> None:
        self.model = joblib.load(ARGUMENTS.model)

    # a sync API: BentoML runs it in the worker's thread pool (`threads`, 1 by default), off the event loop
    @bentoml.api
    def predict(self, instances: list[list[float]]) -> list[int]:
        return [int(label) for label in self.model.predict(instances)]
