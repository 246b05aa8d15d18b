"""SageMaker's ML lineage: Create/Describe/List/Update/Delete of artifacts, actions and contexts, AddAssociation,
DeleteAssociation, ListAssociations, and QueryLineage (lineage_query.py).

The three kinds of entity are served alike, each by its `_Kind`: the members its requests and answers name differ
only by their word ("ArtifactArn", "ActionArn", ...). An artifact is named by its ARN (its ArtifactName is
optional and need not be unique); an action or a context by its name, or its ARN, which is made from the name.
Deleting an entity deletes its associations with it. SageMaker's own records of its jobs, endpoints and model
packages are store.metadata.lineage_records'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelbay.errors import ResourceNotFound, ValidationError
from modelbay.services.base import Context, Handler, present
from modelbay.services.listing import DEFAULT_MAX_RESULTS, reading_tokens
from modelbay.services.sagemaker.lineage_query import query_lineage
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.store.metadata import RecordExists
from modelbay.store.metadata.lineage import (
    Association,
    AssociationExists,
    AssociationFilter,
    AssociationNotFound,
    Kind,
    LineageEntity,
    LineageEntityNotFound,
    LineageType,
    entity_arn,
)


@dataclass(frozen=True)
class _Kind:
    """One kind of lineage entity as its operations name it: "Artifact" in ArtifactArn, ArtifactType, ..."""

    kind: Kind

    @property
    def word(self) -> str:
        return self.kind.value

    def member(self, suffix: str) -> str:
        return f"{self.word}{suffix}"


ARTIFACT, ACTION, CONTEXT = _Kind(LineageType.ARTIFACT), _Kind(LineageType.ACTION), _Kind(LineageType.CONTEXT)


# -- artifacts, actions and contexts -------------------------------------------------------

def create_artifact(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A new artifact, named by a new ARN (its ArtifactName, if given, need not be unique)."""
    return _create(ctx, ARTIFACT, params, entity_arn(_account(ctx), LineageType.ARTIFACT))


def create_action(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _create(ctx, ACTION, params, entity_arn(_account(ctx), LineageType.ACTION, params["ActionName"]))


def create_context(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _create(ctx, CONTEXT, params, entity_arn(_account(ctx), LineageType.CONTEXT, params["ContextName"]))


def _create(ctx: Context, kind: _Kind, params: dict[str, Any], arn: str) -> dict[str, Any]:
    """Store the entity with its tags; ValidationException if an action or context has the name."""
    name = params.get(kind.member("Name"))
    tags = creation_tags(params)
    try:
        ctx.metadata.lineage.create(
            kind.kind, arn, name, params[kind.member("Type")], params["Source"],
            description=params.get("Description"), status=params.get("Status"),
            properties=params.get("Properties"), metadata_properties=params.get("MetadataProperties"))
    except RecordExists as err:
        raise ValidationError(f'Cannot create {kind.word.lower()} "{name}": one with this name exists already '
                              f"({err.arn}).") from err
    store_tags(ctx, arn, tags)
    return {kind.member("Arn"): arn}


def describe_artifact(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _describe(_get(ctx, ARTIFACT, params["ArtifactArn"]), ARTIFACT)


def describe_action(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _describe(_get(ctx, ACTION, params["ActionName"]), ACTION)


def describe_context(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _describe(_get(ctx, CONTEXT, params["ContextName"]), CONTEXT)


def _describe(entity: LineageEntity, kind: _Kind) -> dict[str, Any]:
    return _summary(entity, kind) | {"Properties": entity.properties} | present(
        Description=entity.description, MetadataProperties=entity.metadata_properties)


def list_artifacts(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _list(ctx, ARTIFACT, params)


def list_actions(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _list(ctx, ACTION, params)


def list_contexts(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _list(ctx, CONTEXT, params)


def _list(ctx: Context, kind: _Kind, params: dict[str, Any]) -> dict[str, Any]:
    """A page of summaries, filtered by SourceUri, type and creation time, newest first unless asked otherwise."""
    with reading_tokens():
        page = ctx.metadata.lineage.list(
            kind.kind, source_uri=params.get("SourceUri"), entity_type=params.get(kind.member("Type")),
            created_after=params.get("CreatedAfter"), created_before=params.get("CreatedBefore"),
            sort_by=params.get("SortBy", "CreationTime"), ascending=params.get("SortOrder") == "Ascending",
            after_token=params.get("NextToken") or None, limit=params.get("MaxResults", DEFAULT_MAX_RESULTS))
    return {kind.member("Summaries"): [_summary(entity, kind) for entity in page.items]} | present(
        NextToken=page.next_token)


def _summary(entity: LineageEntity, kind: _Kind) -> dict[str, Any]:
    return {kind.member("Arn"): entity.arn, "Source": entity.source, kind.member("Type"): entity.type,
            "CreationTime": entity.creation_time, "LastModifiedTime": entity.last_modified_time} | present(
        **{kind.member("Name"): entity.name}, Status=entity.status)


def update_artifact(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _update(ctx, ARTIFACT, params["ArtifactArn"], params)


def update_action(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _update(ctx, ACTION, params["ActionName"], params)


def update_context(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _update(ctx, CONTEXT, params["ContextName"], params)


def _update(ctx: Context, kind: _Kind, name_or_arn: str, params: dict[str, Any]) -> dict[str, Any]:
    """Change the members given: Properties replaces the entity's, then PropertiesToRemove's keys go."""
    arn = _get(ctx, kind, name_or_arn).arn
    try:
        ctx.metadata.lineage.update(
            arn, name=params.get("ArtifactName"), description=params.get("Description"),
            status=params.get("Status"), properties=params.get("Properties"),
            properties_to_remove=params.get("PropertiesToRemove", ()))
    except LineageEntityNotFound as err:  # deleted since it was read
        raise _not_found(kind, name_or_arn) from err
    return {kind.member("Arn"): arn}


def delete_artifact(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete the artifact named by its ARN, or else the oldest with the Source's SourceUri."""
    if "ArtifactArn" in params:
        return _delete(ctx, ARTIFACT, params["ArtifactArn"])
    if "Source" not in params:
        raise ValidationError("Either ArtifactArn or Source must be specified.")
    uri = params["Source"]["SourceUri"]
    found = ctx.metadata.lineage.find(LineageType.ARTIFACT, uri)
    if found is None:
        raise ResourceNotFound(f"Artifact with SourceUri {uri} does not exist.")
    return _delete(ctx, ARTIFACT, found.arn)


def delete_action(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _delete(ctx, ACTION, params["ActionName"])


def delete_context(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return _delete(ctx, CONTEXT, params["ContextName"])


def _delete(ctx: Context, kind: _Kind, name_or_arn: str) -> dict[str, Any]:
    """Delete the entity, its tags and its associations."""
    arn = _get(ctx, kind, name_or_arn).arn
    try:
        ctx.metadata.lineage.delete(arn)
    except LineageEntityNotFound as err:
        raise _not_found(kind, name_or_arn) from err
    return {kind.member("Arn"): arn}


def _get(ctx: Context, kind: _Kind, name_or_arn: str) -> LineageEntity:
    """The entity of this kind the name or ARN names; ResourceNotFound if there is none."""
    arn = name_or_arn if name_or_arn.startswith("arn:") else entity_arn(_account(ctx), kind.kind, name_or_arn)
    entity = ctx.metadata.lineage.get(arn)
    if entity is None or entity.kind is not kind.kind:
        raise _not_found(kind, name_or_arn)
    return entity


def _not_found(kind: _Kind, name_or_arn: str) -> ResourceNotFound:
    return ResourceNotFound(f"{kind.word} {name_or_arn} does not exist.")


def _account(ctx: Context) -> str:
    """arn:aws:sagemaker:<region>:<account id> of the request."""
    return ctx.arn("sagemaker", "").rstrip(":")


# -- associations ---------------------------------------------------------------------------

def add_association(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Associate the source with the destination; ResourceNotFound for an unknown artifact, action or context,
    ValidationException if they are associated already."""
    source, destination = params["SourceArn"], params["DestinationArn"]
    try:
        ctx.metadata.lineage.associate(source, destination, params.get("AssociationType"))
    except LineageEntityNotFound as err:
        raise ResourceNotFound(f"Lineage entity {err} does not exist.") from err
    except AssociationExists as err:
        raise ValidationError(f"Association between {source} and {destination} already exists.") from err
    return {"SourceArn": source, "DestinationArn": destination}


def delete_association(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    source, destination = params["SourceArn"], params["DestinationArn"]
    try:
        ctx.metadata.lineage.disassociate(source, destination)
    except AssociationNotFound as err:
        raise ResourceNotFound(f"Association between {source} and {destination} does not exist.") from err
    return {"SourceArn": source, "DestinationArn": destination}


def list_associations(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of associations, filtered by either end, their types and creation time, newest first by default."""
    filters = AssociationFilter(
        source_arn=params.get("SourceArn"), destination_arn=params.get("DestinationArn"),
        source_type=params.get("SourceType"), destination_type=params.get("DestinationType"),
        association_type=params.get("AssociationType"), created_after=params.get("CreatedAfter"),
        created_before=params.get("CreatedBefore"))
    with reading_tokens():
        page = ctx.metadata.lineage.associations(
            filters, params.get("SortBy", "CreationTime"), params.get("SortOrder") == "Ascending",
            params.get("NextToken") or None, params.get("MaxResults", DEFAULT_MAX_RESULTS))
    return {"AssociationSummaries": [_association(found) for found in page.items]} | present(
        NextToken=page.next_token)


def _association(found: Association) -> dict[str, Any]:
    return {"SourceArn": found.source_arn, "DestinationArn": found.destination_arn,
            "CreationTime": found.creation_time} | present(
        AssociationType=found.association_type, SourceType=found.source_type,
        DestinationType=found.destination_type, SourceName=found.source_name,
        DestinationName=found.destination_name)


OPERATIONS: dict[str, Handler] = {
    "CreateArtifact": create_artifact, "DescribeArtifact": describe_artifact, "ListArtifacts": list_artifacts,
    "UpdateArtifact": update_artifact, "DeleteArtifact": delete_artifact,
    "CreateAction": create_action, "DescribeAction": describe_action, "ListActions": list_actions,
    "UpdateAction": update_action, "DeleteAction": delete_action,
    "CreateContext": create_context, "DescribeContext": describe_context, "ListContexts": list_contexts,
    "UpdateContext": update_context, "DeleteContext": delete_context,
    "AddAssociation": add_association, "DeleteAssociation": delete_association,
    "ListAssociations": list_associations, "QueryLineage": query_lineage,
}
