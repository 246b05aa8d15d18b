"""The lineage operations as service functions over a real SQLite metadata store: artifacts, actions, contexts,
associations and QueryLineage's walks (directions, filters, depth, cycles, edges, pages)."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelbay.errors import ResourceNotFound, ValidationError
from modelbay.services.base import Context
from modelbay.services.sagemaker.lineage import OPERATIONS
from tests.helpers import T0

MODEL = botocore.session.get_session().get_service_model("sagemaker")
ACCOUNT = "arn:aws:sagemaker:eu-west-1:123456789012"


def _call(ctx: Context, operation: str, **params: Any) -> Any:
    """Call the operation's function and check its output against botocore's output shape."""
    output = OPERATIONS[operation](ctx, params)
    report = ParamValidator().validate(output, MODEL.operation_model(operation).output_shape)
    assert not report.has_errors(), report.generate_report()
    return output


def _artifact(ctx: Context, uri: str, artifact_type: str = "DataSet", **params: Any) -> str:
    arn: str = _call(ctx, "CreateArtifact", Source={"SourceUri": uri}, ArtifactType=artifact_type,
                     **params)["ArtifactArn"]
    return arn


def _action(ctx: Context, name: str, action_type: str = "ModelDeployment") -> str:
    arn: str = _call(ctx, "CreateAction", ActionName=name, Source={"SourceUri": "u"},
                     ActionType=action_type)["ActionArn"]
    return arn


def _context(ctx: Context, name: str, context_type: str = "Endpoint") -> str:
    arn: str = _call(ctx, "CreateContext", ContextName=name, Source={"SourceUri": f"arn-of-{name}"},
                     ContextType=context_type)["ContextArn"]
    return arn


def _chain(ctx: Context, *arns: str) -> None:
    for source, destination in zip(arns, arns[1:], strict=False):
        _call(ctx, "AddAssociation", SourceArn=source, DestinationArn=destination, AssociationType="ContributedTo")


def _query(ctx: Context, start: str, **params: Any) -> list[str]:
    return [v["Arn"] for v in _call(ctx, "QueryLineage", StartArns=[start], **params)["Vertices"]]


def test_an_artifact_from_create_to_delete(ctx: Context) -> None:
    arn = _artifact(ctx, "s3://b/data", ArtifactName="data", Properties={"k": "v"},
                    MetadataProperties={"CommitId": "abc"}, Tags=[{"Key": "team", "Value": "ml"}])
    assert arn.startswith(f"{ACCOUNT}:artifact/")
    described = _call(ctx, "DescribeArtifact", ArtifactArn=arn)
    assert described == {"ArtifactArn": arn, "ArtifactName": "data", "Source": {"SourceUri": "s3://b/data"},
                         "ArtifactType": "DataSet", "Properties": {"k": "v"}, "MetadataProperties": {"CommitId": "abc"},
                         "CreationTime": described["CreationTime"], "LastModifiedTime": described["LastModifiedTime"]}
    assert ctx.metadata.tags.list(arn).items == [("team", "ml")]
    _call(ctx, "UpdateArtifact", ArtifactArn=arn, ArtifactName="renamed", Properties={"x": "1", "y": "2"},
          PropertiesToRemove=["y"])
    described = _call(ctx, "DescribeArtifact", ArtifactArn=arn)
    assert (described["ArtifactName"], described["Properties"]) == ("renamed", {"x": "1"})
    assert _call(ctx, "DeleteArtifact", ArtifactArn=arn) == {"ArtifactArn": arn}
    with pytest.raises(ResourceNotFound):
        _call(ctx, "DescribeArtifact", ArtifactArn=arn)
    assert ctx.metadata.tags.list(arn).items == []


def test_delete_artifact_by_source_or_neither(ctx: Context) -> None:
    first = _artifact(ctx, "s3://b/x")
    _artifact(ctx, "s3://b/x")
    assert _call(ctx, "DeleteArtifact", Source={"SourceUri": "s3://b/x"}) == {"ArtifactArn": first}
    with pytest.raises(ValidationError, match="Either ArtifactArn or Source"):
        _call(ctx, "DeleteArtifact")
    with pytest.raises(ResourceNotFound):
        _call(ctx, "DeleteArtifact", Source={"SourceUri": "s3://b/none"})


def test_actions_and_contexts_by_name_or_arn(ctx: Context) -> None:
    arn = _call(ctx, "CreateAction", ActionName="Deploy", Source={"SourceUri": "u", "SourceType": "ARN"},
                ActionType="ModelDeployment", Status="InProgress", Description="d")["ActionArn"]
    assert arn == f"{ACCOUNT}:action/deploy"
    with pytest.raises(ValidationError, match="exists already"):
        _action(ctx, "Deploy")
    assert _call(ctx, "DescribeAction", ActionName=arn) == _call(ctx, "DescribeAction", ActionName="Deploy")
    _call(ctx, "UpdateAction", ActionName="Deploy", Status="Completed")
    assert _call(ctx, "DescribeAction", ActionName="Deploy")["Status"] == "Completed"
    context = _context(ctx, "ep_1")
    _call(ctx, "UpdateContext", ContextName="ep_1", Description="new")
    assert _call(ctx, "DescribeContext", ContextName=context)["Description"] == "new"
    with pytest.raises(ResourceNotFound):  # an action's name is not a context's
        _call(ctx, "DescribeContext", ContextName="Deploy")
    assert _call(ctx, "DeleteContext", ContextName="ep_1") == {"ContextArn": context}
    assert _call(ctx, "DeleteAction", ActionName="Deploy") == {"ActionArn": arn}
    for operation, member in (("UpdateAction", "ActionName"), ("DeleteAction", "ActionName"),
                              ("UpdateContext", "ContextName"), ("DeleteContext", "ContextName")):
        with pytest.raises(ResourceNotFound, match="does not exist"):
            _call(ctx, operation, **{member: "Deploy"})


def test_list_entities_with_filters_sorting_and_pages(ctx: Context) -> None:
    for name in ("b", "a", "c"):
        _action(ctx, name, "Train" if name != "c" else "Deploy")
    listed = _call(ctx, "ListActions", ActionType="Train", SortBy="Name", SortOrder="Ascending")
    assert [s["ActionName"] for s in listed["ActionSummaries"]] == ["a", "b"]
    page = _call(ctx, "ListActions", MaxResults=2)
    assert [s["ActionName"] for s in page["ActionSummaries"]] == ["c", "a"]
    assert [s["ActionName"] for s in _call(ctx, "ListActions", NextToken=page["NextToken"])["ActionSummaries"]] == ["b"]
    with pytest.raises(ValidationError, match="NextToken"):
        _call(ctx, "ListContexts", NextToken=page["NextToken"])
    _artifact(ctx, "s3://b/1")
    assert _call(ctx, "ListArtifacts", SourceUri="s3://b/2") == {"ArtifactSummaries": []}
    assert len(_call(ctx, "ListArtifacts", CreatedAfter=T0)["ArtifactSummaries"]) == 1


def test_associations_add_list_delete(ctx: Context) -> None:
    data, action = _artifact(ctx, "s3://b/d", ArtifactName="d"), _action(ctx, "act")
    component = f"{ACCOUNT}:experiment-trial-component/job-aws-training-job"
    assert _call(ctx, "AddAssociation", SourceArn=data, DestinationArn=component) == {
        "SourceArn": data, "DestinationArn": component}
    _call(ctx, "AddAssociation", SourceArn=component, DestinationArn=action, AssociationType="Produced")
    with pytest.raises(ValidationError, match="already exists"):
        _call(ctx, "AddAssociation", SourceArn=data, DestinationArn=component)
    with pytest.raises(ResourceNotFound):
        _call(ctx, "AddAssociation", SourceArn=data, DestinationArn=f"{ACCOUNT}:context/none")
    summaries = _call(ctx, "ListAssociations", SourceType="TrainingJob")["AssociationSummaries"]
    assert [(s["SourceName"], s["DestinationName"], s["DestinationType"], s["AssociationType"])
            for s in summaries] == [("job-aws-training-job", "act", "ModelDeployment", "Produced")]
    by_source = _call(ctx, "ListAssociations", SortBy="SourceArn", SortOrder="Ascending")["AssociationSummaries"]
    assert [s["SourceArn"] for s in by_source] == sorted([data, component])
    _call(ctx, "DeleteAssociation", SourceArn=data, DestinationArn=component)
    with pytest.raises(ResourceNotFound):
        _call(ctx, "DeleteAssociation", SourceArn=data, DestinationArn=component)
    _call(ctx, "DeleteAction", ActionName="act")  # its associations go with it
    assert _call(ctx, "ListAssociations") == {"AssociationSummaries": []}


@pytest.fixture
def graph(ctx: Context) -> dict[str, str]:
    """DataSet → training job → Model → ModelDeployment → Endpoint, and an Image into the job."""
    arns = {"data": _artifact(ctx, "s3://b/train", Properties={"stage": "raw"}),
            "image": _artifact(ctx, "img", "Image"),
            "job": f"{ACCOUNT}:experiment-trial-component/job-1-aws-training-job",
            "model": _artifact(ctx, "s3://b/model.tar.gz", "Model"), "deploy": _action(ctx, "deploy"),
            "endpoint": _context(ctx, "ep")}
    _chain(ctx, arns["data"], arns["job"], arns["model"], arns["deploy"], arns["endpoint"])
    _chain(ctx, arns["image"], arns["job"])
    return arns


def test_query_ascendants_from_an_endpoint_to_its_data(ctx: Context, graph: dict[str, str]) -> None:
    answer = _call(ctx, "QueryLineage", StartArns=[graph["endpoint"]], Direction="Ascendants", IncludeEdges=False,
                   Filters={"LineageTypes": ["Artifact"], "Types": ["DataSet"]})
    assert answer == {"Vertices": [{"Arn": graph["data"], "LineageType": "Artifact", "Type": "DataSet"}], "Edges": []}
    components = _call(ctx, "QueryLineage", StartArns=[graph["endpoint"]], Direction="Ascendants",
                       Filters={"LineageTypes": ["TrialComponent"], "Types": ["TrainingJob"]})["Vertices"]
    assert components == [{"Arn": graph["job"], "LineageType": "TrialComponent", "Type": "TrainingJob"}]
    assert _query(ctx, graph["data"], Direction="Descendants", Filters={"Types": ["Endpoint"]}) == [graph["endpoint"]]
    assert _query(ctx, graph["data"], Direction="Ascendants") == []


def test_query_depth_both_directions_and_filters(ctx: Context, graph: dict[str, str]) -> None:
    assert _query(ctx, graph["model"], Direction="Both", MaxDepth=1) == [graph["deploy"], graph["job"]]
    assert set(_query(ctx, graph["model"], Direction="Both")) == set(graph.values()) - {graph["model"]}
    assert _query(ctx, graph["endpoint"], Direction="Ascendants", MaxDepth=0) == []
    assert _query(ctx, graph["endpoint"], Direction="Ascendants", Filters={"Properties": {"stage": "raw"}}) == [
        graph["data"]]
    assert _query(ctx, graph["endpoint"], Direction="Ascendants",
                  Filters={"CreatedBefore": T0, "LineageTypes": ["Artifact"]}) == []


def test_query_with_edges_answers_the_paths(ctx: Context, graph: dict[str, str]) -> None:
    answer = _call(ctx, "QueryLineage", StartArns=[graph["endpoint"]], Direction="Ascendants", IncludeEdges=True,
                   Filters={"Types": ["DataSet"]})
    assert [v["Arn"] for v in answer["Vertices"]] == [
        graph["endpoint"], graph["data"], graph["job"], graph["model"], graph["deploy"]]
    assert {(e["SourceArn"], e["DestinationArn"]) for e in answer["Edges"]} == {
        (graph["data"], graph["job"]), (graph["job"], graph["model"]), (graph["model"], graph["deploy"]),
        (graph["deploy"], graph["endpoint"])}


def test_query_survives_cycles_and_pages(ctx: Context, graph: dict[str, str]) -> None:
    _chain(ctx, graph["endpoint"], graph["data"])  # a cycle back to the start of the chain
    reached = _query(ctx, graph["data"], Direction="Descendants")
    assert reached == [graph["job"], graph["model"], graph["deploy"], graph["endpoint"]]
    first = _call(ctx, "QueryLineage", StartArns=[graph["data"]], Direction="Descendants", MaxResults=3)
    rest = _call(ctx, "QueryLineage", StartArns=[graph["data"]], Direction="Descendants", MaxResults=3,
                 NextToken=first["NextToken"])
    assert [v["Arn"] for v in first["Vertices"] + rest["Vertices"]] == reached and "NextToken" not in rest
    with pytest.raises(ValidationError, match="NextToken"):
        _call(ctx, "QueryLineage", StartArns=[graph["data"]], Direction="Ascendants", NextToken=first["NextToken"])


def test_query_errors(ctx: Context) -> None:
    with pytest.raises(ValidationError, match="StartArns"):
        _call(ctx, "QueryLineage", StartArns=[])
    with pytest.raises(ResourceNotFound):
        _call(ctx, "QueryLineage", StartArns=[f"{ACCOUNT}:artifact/none"])
    with pytest.raises(ValidationError, match="MaxDepth"):
        _call(ctx, "QueryLineage", StartArns=[f"{ACCOUNT}:experiment-trial-component/x"], MaxDepth=-1)
