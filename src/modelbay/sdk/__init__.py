"""The Python SDK: talks to a modelbay server over HTTP, never to its internals."""

from modelbay.sdk.ab_testing import ab_report, send_ground_truth
from modelbay.sdk.clients import client, resolve_url
from modelbay.sdk.estimator import Estimator, TrainingInput
from modelbay.sdk.local_server import LocalServer, local_server
from modelbay.sdk.model import Model, ProductionVariant, deploy_variants
from modelbay.sdk.predictor import Predictor
from modelbay.sdk.serializers import (
    BytesDeserializer,
    CSVDeserializer,
    CSVSerializer,
    Deserializer,
    JSONDeserializer,
    JSONSerializer,
    NumpyDeserializer,
    NumpySerializer,
    Serializer,
    StringDeserializer,
)
from modelbay.sdk.session import Session
from modelbay.sdk.training_job import TrainingJob, TrainingJobFailed
from modelbay.sdk.transformer import Transformer, TransformJobFailed
from modelbay.sdk.waiting import EndpointFailed, UnexpectedStatus

__all__ = ["BytesDeserializer", "CSVDeserializer", "CSVSerializer", "Deserializer", "EndpointFailed", "Estimator",
           "JSONDeserializer", "JSONSerializer", "LocalServer", "Model", "NumpyDeserializer", "NumpySerializer",
           "Predictor", "ProductionVariant", "Serializer", "Session", "StringDeserializer", "TrainingInput",
           "TrainingJob", "TrainingJobFailed", "TransformJobFailed", "Transformer", "UnexpectedStatus", "ab_report",
           "client", "deploy_variants", "local_server", "resolve_url", "send_ground_truth"]
