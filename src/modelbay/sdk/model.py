"""Model and ProductionVariant: serve a model on an endpoint, or run batch transforms, as the SageMaker SDK's Model."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelbay.sdk.frameworks import image_for
from modelbay.sdk.names import base_name_from_image, name_from_base
from modelbay.sdk.predictor import Predictor
from modelbay.sdk.serializers import Deserializer, Serializer
from modelbay.sdk.session import Session, default_role
from modelbay.sdk.source import program, upload_source
from modelbay.sdk.transformer import Transformer


class Model:
    """A model the server can serve: an image and, optionally, artifacts and inference code.

    Give exactly one of `image_uri` or `framework` (with `framework_version`, which "python" may
    leave out): the image `modelbay/<framework>:<framework_version>`. `model_data` is the S3 URI of
    a model.tar.gz, unpacked into /opt/ml/model. With `entry_point` (a file, relative to
    `source_dir` when one is given), the code is uploaded as `<default bucket>/<model name>/sourcedir.tar.gz`
    and named to the model server by SAGEMAKER_PROGRAM and SAGEMAKER_SUBMIT_DIRECTORY, as the
    SageMaker SDK's framework models do; a `source_dir` that is an s3:// URI (of a sourcedir.tar.gz)
    is used where it is. The model is created on the server (CreateModel) once, by `create()`,
    `deploy()` or `transformer()`.
    """

    def __init__(self, image_uri: str | None = None, model_data: str | None = None, *, framework: str | None = None,
                 framework_version: str | None = None, entry_point: str | None = None, source_dir: str | None = None,
                 env: Mapping[str, str] | None = None, role: str | None = None, name: str | None = None,
                 session: Session | None = None) -> None:
        self.image_uri = image_for(image_uri, framework, framework_version)
        if entry_point is None and source_dir is not None:
            raise ValueError("source_dir needs an entry_point")
        self.model_data, self.entry_point, self.source_dir = model_data, entry_point, source_dir
        self.env = dict(env or {})
        self.role, self.name = role, name
        self.base_name = name or base_name_from_image(self.image_uri, "model")  # of generated names
        self.session = session or Session()
        self._created = False

    def create(self) -> str:
        """Create the model on the server unless done already; return its name (made from the image's unless given)."""
        if self.name is None:
            self.name = name_from_base(self.base_name)
        if not self._created:
            self.session.sagemaker.create_model(**self._request(self.name))
            self._created = True
        return self.name

    def deploy(self, initial_instance_count: int = 1, instance_type: str = "ml.m5.large",
               endpoint_name: str | None = None, serializer: Serializer | None = None,
               deserializer: Deserializer | None = None, wait: bool = True,
               variant_name: str = "AllTraffic") -> Predictor:
        """Serve the model on a new endpoint (named after the model unless given) with one variant;
        see deploy_variants."""
        variant = ProductionVariant(self, variant_name, instance_count=initial_instance_count,
                                    instance_type=instance_type)
        return deploy_variants(endpoint_name or name_from_base(self.base_name), [variant], session=self.session,
                               serializer=serializer, deserializer=deserializer, wait=wait)

    def transformer(self, instance_count: int = 1, instance_type: str = "ml.m5.large", output_path: str | None = None,
                    strategy: str | None = None, assemble_with: str | None = None, accept: str | None = None,
                    max_payload: int | None = None, max_concurrent_transforms: int | None = None,
                    env: Mapping[str, str] | None = None) -> Transformer:
        """A Transformer that runs batch transform jobs of this model (created now if it is not yet)."""
        return Transformer(self.create(), instance_count, instance_type, output_path=output_path, strategy=strategy,
                           assemble_with=assemble_with, accept=accept, max_payload=max_payload,
                           max_concurrent_transforms=max_concurrent_transforms, env=env, session=self.session)

    def _request(self, name: str) -> dict[str, Any]:
        """CreateModel's input for a model called `name` (uploading the inference code, if any)."""
        container: dict[str, Any] = {"Image": self.image_uri}
        if self.model_data is not None:
            container["ModelDataUrl"] = self.model_data
        if environment := self.env | self._script_mode_env(name):
            container["Environment"] = environment
        return {"ModelName": name, "PrimaryContainer": container,
                "ExecutionRoleArn": self.role or default_role(self.session.account_id)}

    def _script_mode_env(self, name: str) -> dict[str, str]:
        """The variables naming the inference code (they override the user's, as in the SageMaker SDK)."""
        if self.entry_point is None:
            return {}
        uploaded = self.source_dir if self.source_dir and self.source_dir.startswith("s3://") else None
        return {"SAGEMAKER_PROGRAM": program(self.entry_point, self.source_dir),
                "SAGEMAKER_SUBMIT_DIRECTORY": uploaded or upload_source(self.session, self.entry_point,
                                                                        self.source_dir, name),
                "SAGEMAKER_CONTAINER_LOG_LEVEL": str(logging.INFO), "SAGEMAKER_REGION": self.session.region}


@dataclass(frozen=True)
class ProductionVariant:
    """One variant of an endpoint: a model on `instance_count` instances getting `weight` of the traffic
    relative to the other variants' weights."""

    model: Model
    name: str = "AllTraffic"
    weight: float = 1.0
    instance_count: int = 1
    instance_type: str = "ml.m5.large"

    def request(self, model_name: str) -> dict[str, Any]:
        """This variant as a ProductionVariant of CreateEndpointConfig."""
        return {"VariantName": self.name, "ModelName": model_name, "InitialInstanceCount": self.instance_count,
                "InstanceType": self.instance_type, "InitialVariantWeight": float(self.weight)}


def deploy_variants(endpoint_name: str, variants: Sequence[ProductionVariant], *, session: Session | None = None,
                    serializer: Serializer | None = None, deserializer: Deserializer | None = None,
                    wait: bool = True) -> Predictor:
    """Create each variant's model (unless created already), an endpoint config named `endpoint_name`
    (as the SageMaker SDK names it) and the endpoint; return its Predictor.

    With `wait`, return once the endpoint is InService; raise EndpointFailed with its FailureReason if it fails.
    `session` defaults to the first variant's model's.
    """
    if not variants:
        raise ValueError("an endpoint needs at least one production variant")
    session = session or variants[0].model.session
    config = [variant.request(variant.model.create()) for variant in variants]
    session.sagemaker.create_endpoint_config(EndpointConfigName=endpoint_name, ProductionVariants=config)
    session.sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=endpoint_name)
    predictor = Predictor(endpoint_name, session, serializer, deserializer)
    if wait:
        predictor.wait()
    return predictor
