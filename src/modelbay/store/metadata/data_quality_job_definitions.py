"""Model Monitor's data quality job definitions, and the monitoring job a schedule runs, read from one.

A job definition is immutable and described by its request, as models and endpoint configs are, so
it is a DefinitionRepository over a table of its own; ListDataQualityJobDefinitions filters on the
endpoint it monitors, kept in a column. `MonitoringJobSpec` is what a schedule's executions run: read
from a CreateDataQualityJobDefinition request or from a schedule's inline MonitoringJobDefinition
(older SDKs send one), the two spellings of the same job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, String
from sqlalchemy.orm import Mapped, mapped_column, validates

from modelbay.store.metadata.definitions import Definition, DefinitionRow
from modelbay.store.metadata.records import ListFilter

DEFAULT_MAX_RUNTIME_S = 3600  # SageMaker's MaxRuntimeInSeconds for a monitoring job left without one


class DataQualityJobDefinitionRow(DefinitionRow):
    """One data quality job definition: its request, and the endpoint it monitors (for List's filter)."""

    __tablename__ = "data_quality_job_definitions"

    endpoint_name: Mapped[str | None] = mapped_column(String(63))

    @validates("request")
    def _endpoint_of(self, _: str, request: dict[str, Any]) -> dict[str, Any]:
        self.endpoint_name = request["DataQualityJobInput"].get("EndpointInput", {}).get("EndpointName")
        return request


@dataclass(frozen=True)
class DataQualityJobDefinition(Definition):
    """A data quality job definition; `request` is its CreateDataQualityJobDefinition request as stored."""

    @property
    def endpoint_name(self) -> str | None:
        name: str | None = self.request["DataQualityJobInput"].get("EndpointInput", {}).get("EndpointName")
        return name

    @property
    def spec(self) -> MonitoringJobSpec:
        return MonitoringJobSpec.from_definition(self.request)


@dataclass(frozen=True)
class JobDefinitionFilter(ListFilter):
    """ListDataQualityJobDefinitions' filters: ListFilter's and the endpoint monitored."""

    endpoint_name: str | None = None

    def conditions(self, row: Any) -> list[ColumnElement[bool]]:
        found = super().conditions(row)
        return found if self.endpoint_name is None else [*found, row.endpoint_name == self.endpoint_name]


@dataclass(frozen=True)
class MonitoringJobSpec:
    """What each execution of a schedule runs: the analyzer image and how, the endpoint whose captured data it
    reads (staged at `input_path`), the baseline, where the results go, and the processing job's resources.

    `endpoint_input` and the members below it are wire dicts, copied into the processing job's request.
    """

    image_uri: str
    endpoint_input: dict[str, Any]
    output: dict[str, Any]  # a MonitoringS3Output: S3Uri, LocalPath, S3UploadMode
    cluster: dict[str, Any]  # a MonitoringClusterConfig
    role_arn: str
    max_runtime_in_seconds: int
    environment: dict[str, str] = field(default_factory=dict)
    entrypoint: tuple[str, ...] = ()
    arguments: tuple[str, ...] = ()
    constraints_uri: str | None = None
    statistics_uri: str | None = None
    baselining_job_name: str | None = None  # whose outputs are the baseline files the job does not name
    record_preprocessor_uri: str | None = None
    post_analytics_processor_uri: str | None = None
    network_config: dict[str, Any] | None = None

    @property
    def endpoint_name(self) -> str:
        name: str = self.endpoint_input["EndpointName"]
        return name

    @property
    def input_path(self) -> str:
        path: str = self.endpoint_input["LocalPath"]
        return path

    @classmethod
    def from_definition(cls, request: dict[str, Any]) -> MonitoringJobSpec:
        """From a CreateDataQualityJobDefinition request (checked by the service: it has an EndpointInput)."""
        app, baseline = request["DataQualityAppSpecification"], request.get("DataQualityBaselineConfig", {})
        return cls._of(request, app, baseline, request["DataQualityJobInput"]["EndpointInput"],
                       request["DataQualityJobOutputConfig"], request["JobResources"],
                       app.get("Environment", {}))

    @classmethod
    def from_inline(cls, definition: dict[str, Any]) -> MonitoringJobSpec:
        """From a schedule's MonitoringJobDefinition (checked by the service: its first input is an EndpointInput)."""
        app = definition["MonitoringAppSpecification"]
        return cls._of(definition, app, definition.get("BaselineConfig", {}),
                       definition["MonitoringInputs"][0]["EndpointInput"], definition["MonitoringOutputConfig"],
                       definition["MonitoringResources"], definition.get("Environment", {}))

    @classmethod
    def _of(cls, request: dict[str, Any], app: dict[str, Any], baseline: dict[str, Any],
            endpoint_input: dict[str, Any], output_config: dict[str, Any], resources: dict[str, Any],
            environment: dict[str, str]) -> MonitoringJobSpec:
        return cls(
            image_uri=app["ImageUri"], endpoint_input=endpoint_input,
            output=output_config["MonitoringOutputs"][0]["S3Output"], cluster=resources["ClusterConfig"],
            role_arn=request["RoleArn"],
            max_runtime_in_seconds=request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds",
                                                                            DEFAULT_MAX_RUNTIME_S),
            environment=environment, entrypoint=tuple(app.get("ContainerEntrypoint", ())),
            arguments=tuple(app.get("ContainerArguments", ())),
            constraints_uri=baseline.get("ConstraintsResource", {}).get("S3Uri"),
            statistics_uri=baseline.get("StatisticsResource", {}).get("S3Uri"),
            baselining_job_name=baseline.get("BaseliningJobName"),
            record_preprocessor_uri=app.get("RecordPreprocessorSourceUri"),
            post_analytics_processor_uri=app.get("PostAnalyticsProcessorSourceUri"),
            network_config=request.get("NetworkConfig"))
