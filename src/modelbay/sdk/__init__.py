"""The Python SDK: talks to a modelbay server over HTTP, never to its internals."""

from modelbay.sdk.clients import client, resolve_url
from modelbay.sdk.estimator import Estimator, TrainingInput
from modelbay.sdk.local_server import LocalServer, local_server
from modelbay.sdk.session import Session
from modelbay.sdk.training_job import TrainingJob, TrainingJobFailed

__all__ = ["Estimator", "LocalServer", "Session", "TrainingInput", "TrainingJob", "TrainingJobFailed", "client",
           "local_server", "resolve_url"]
