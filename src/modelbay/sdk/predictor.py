"""Predictor: call an endpoint with Python values, steer its traffic, delete it; as the SageMaker SDK's Predictor."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import closing
from typing import Any

from modelbay.sdk.serializers import CSVSerializer, Deserializer, JSONDeserializer, Serializer
from modelbay.sdk.session import Session
from modelbay.sdk.waiting import EndpointFailed, wait_for


class Predictor:
    """An endpoint by name: `predict()` serializes the data, invokes the endpoint and deserializes the answer.

    By default the data is sent as CSV and the answer read as JSON, the model server's default
    answer; `last_variant` names the production variant that answered the last call.
    """

    def __init__(self, endpoint_name: str, session: Session | None = None, serializer: Serializer | None = None,
                 deserializer: Deserializer | None = None) -> None:
        self.endpoint_name = endpoint_name
        self.session = session or Session()
        self.serializer = serializer or CSVSerializer()
        self.deserializer = deserializer or JSONDeserializer()
        self.last_variant: str | None = None
        self._names_found: tuple[str, list[str]] | None = None

    def predict(self, data: Any, target_variant: str | None = None, initial_args: Mapping[str, Any] | None = None,
                custom_attributes: str | None = None) -> Any:
        """The deserialized answer of InvokeEndpoint for `data`.

        `initial_args` are InvokeEndpoint members that take precedence over what the predictor
        would send (ContentType, Accept, TargetModel, InferenceId...)."""
        answer = self.session.runtime.invoke_endpoint(**self._request(data, target_variant, initial_args,
                                                                      custom_attributes))
        self.last_variant = answer.get("InvokedProductionVariant")
        with closing(answer["Body"]):
            return self.deserializer.deserialize(answer["Body"], answer.get("ContentType", "application/octet-stream"))

    def update_weights(self, weights: Mapping[str, float], instance_counts: Mapping[str, int] | None = None,
                       wait: bool = True) -> None:
        """Set variants' weights (and instance counts) with UpdateEndpointWeightsAndCapacities, e.g.
        `{"a": 0.0, "b": 1.0}`; with `wait`, return once the endpoint is InService again (EndpointFailed if not)."""
        counts = dict(instance_counts or {})
        desired = [{"VariantName": name} | ({"DesiredWeight": float(weights[name])} if name in weights else {})
                   | ({"DesiredInstanceCount": counts[name]} if name in counts else {})
                   for name in dict.fromkeys([*weights, *counts])]
        self.session.sagemaker.update_endpoint_weights_and_capacities(
            EndpointName=self.endpoint_name, DesiredWeightsAndCapacities=desired)
        if wait:
            self.wait()

    def wait(self) -> None:
        """Return once the endpoint is InService; EndpointFailed with its FailureReason if it failed or is gone."""
        reason = wait_for(self.session.sagemaker, "endpoint_in_service", EndpointName=self.endpoint_name)
        if reason is not None:
            raise EndpointFailed(self.endpoint_name, reason)

    def describe(self) -> dict[str, Any]:
        """DescribeEndpoint's answer, without ResponseMetadata."""
        endpoint: dict[str, Any] = self.session.sagemaker.describe_endpoint(EndpointName=self.endpoint_name)
        endpoint.pop("ResponseMetadata", None)
        return endpoint

    def delete_endpoint(self, delete_endpoint_config: bool = True) -> None:
        """Delete the endpoint, and the endpoint config it runs unless told not to. The endpoint is Deleting
        for a moment; its models stay (`delete_model()` deletes them, before or after this)."""
        config, _ = self._names()
        self.session.sagemaker.delete_endpoint(EndpointName=self.endpoint_name)
        if delete_endpoint_config:
            self.session.sagemaker.delete_endpoint_config(EndpointConfigName=config)

    def delete_model(self) -> None:
        """Delete the models of the endpoint's variants."""
        _, models = self._names()
        for name in models:
            self.session.sagemaker.delete_model(ModelName=name)

    def _names(self) -> tuple[str, list[str]]:
        """The endpoint's config and its variants' models, looked up once: after delete_endpoint, neither the
        endpoint nor its config is there to tell them."""
        if self._names_found is None:
            config = str(self.describe()["EndpointConfigName"])
            variants = self.session.sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
            self._names_found = (config, list(dict.fromkeys(variant["ModelName"] for variant in variants)))
        return self._names_found

    def _request(self, data: Any, target_variant: str | None, initial_args: Mapping[str, Any] | None,
                 custom_attributes: str | None) -> dict[str, Any]:
        optional = {"TargetVariant": target_variant, "CustomAttributes": custom_attributes}
        return {"EndpointName": self.endpoint_name, "ContentType": self.serializer.CONTENT_TYPE,
                "Accept": ", ".join(self.deserializer.ACCEPT), "Body": self.serializer.serialize(data)} | {
            key: value for key, value in optional.items() if value is not None} | dict(initial_args or {})
