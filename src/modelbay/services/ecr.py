"""Amazon ECR (botocore `ecr`, AWS JSON 1.1, AmazonEC2ContainerRegistry_V20150921) over the metadata store.

SageMaker names images by ECR URI, so modelbay keeps one registry, the settings' account in the
settings' region: `<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>`. An image is its
manifest; its digest is `sha256:` and the hex SHA-256 of the manifest text as pushed.

A bring-your-own image on this machine is a directory, pushed as a manifest of media type
DIRECTORY_MEDIA_TYPE: `{"schemaVersion": 1, "mediaType": DIRECTORY_MEDIA_TYPE, "directory": "/abs/path"}`.
Other manifests (Docker and OCI images and indexes) are validated as the registry API validates a
push (services/registry.py): their layers, pushed through `/v2/` (api/registry.py), must be there.
GetAuthorizationToken issues the password `docker login` / `podman login` gives `/v2/`.
Listings page by position over the whole listing, which a local registry keeps small.
Not done: tags and repository policies, scanning, lifecycle policies, replication; `tags`, scanning
and encryption settings given to CreateRepository are echoed, not acted on.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from modelbay.errors import AccessDenied, aws_error
from modelbay.services.base import Context, Handler
from modelbay.services.listing import reading_tokens
from modelbay.services.registry import (
    TOKEN_LIFETIME,
    RegistryError,
    authorization_token,
    references,
    registry_host,
)
from modelbay.store.metadata import (
    Image,
    ImageExists,
    ImageId,
    Repository,
    RepositoryExists,
    RepositoryNotEmpty,
    RepositoryNotFound,
    TagImmutable,
)
from modelbay.store.metadata.images import (
    DIGEST_PREFIX,
    DIRECTORY_MEDIA_TYPE,
    IMMUTABLE,
    MUTABLE,
    BlobsUnknown,
    ImagesUnknown,
)
from modelbay.store.metadata.paging import decode_token, encode_token

DEFAULT_MAX_RESULTS = 100
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_NOT_FOUND_REASON = "Requested image not found"
T = TypeVar("T")

InvalidParameterException = aws_error("InvalidParameterException")
RepositoryNotFoundException = aws_error("RepositoryNotFoundException")
RepositoryAlreadyExistsException = aws_error("RepositoryAlreadyExistsException")
RepositoryNotEmptyException = aws_error("RepositoryNotEmptyException")
ImageNotFoundException = aws_error("ImageNotFoundException")
ImageAlreadyExistsException = aws_error("ImageAlreadyExistsException")
ImageTagAlreadyExistsException = aws_error("ImageTagAlreadyExistsException")
ImageDigestDoesNotMatchException = aws_error("ImageDigestDoesNotMatchException")
LayersNotFoundException = aws_error("LayersNotFoundException")
ReferencedImagesNotFoundException = aws_error("ReferencedImagesNotFoundException")


def create_repository(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """An empty repository, MUTABLE unless asked IMMUTABLE; RepositoryAlreadyExistsException if the name is taken."""
    name = _repository_name(ctx, params)
    mutability = params.get("imageTagMutability", MUTABLE)
    if mutability not in (MUTABLE, IMMUTABLE):
        raise InvalidParameterException(f"Invalid parameter at 'imageTagMutability': modelbay supports {MUTABLE} "
                                        f"and {IMMUTABLE}, not {mutability}.")
    settings = {"imageScanningConfiguration": params.get("imageScanningConfiguration", {"scanOnPush": False}),
                "encryptionConfiguration": params.get("encryptionConfiguration", {"encryptionType": "AES256"})}
    with _repository_errors(ctx, name):
        repository = ctx.metadata.images.create_repository(name, mutability, settings)
    return {"repository": _repository_wire(ctx, repository)}


def describe_repositories(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of repositories in creation order, or exactly the named ones (all of which must exist)."""
    _check_registry(ctx, params)
    names = params.get("repositoryNames")
    if names is None:
        repositories = ctx.metadata.images.repositories()
    elif "nextToken" in params or "maxResults" in params:
        raise InvalidParameterException("Invalid parameter: nextToken and maxResults cannot be used with "
                                        "repositoryNames.")
    else:
        repositories = ctx.metadata.images.repositories(names)
        missing = [name for name in names if name not in {repository.name for repository in repositories}]
        if missing:
            with _repository_errors(ctx, missing[0]):
                raise RepositoryNotFound(missing[0])  # worded as ECR words it
    page, token = _page(repositories, params, "ecr repositories")
    return _with_token({"repositories": [_repository_wire(ctx, repository) for repository in page]}, token)


def delete_repository(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete an empty repository, or any with force; RepositoryNotEmptyException otherwise."""
    name = _repository_name(ctx, params)
    with _repository_errors(ctx, name):
        repository = ctx.metadata.images.delete_repository(name, force=params.get("force", False))
    return {"repository": _repository_wire(ctx, repository)}


def put_image(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Store a manifest and point imageTag at it (moving the tag in a MUTABLE repository).

    ImageAlreadyExistsException if the manifest is there with that tag already (or at all, with
    no tag); ImageTagAlreadyExistsException if the tag names another image and tags are IMMUTABLE.
    """
    name, text, tag = _repository_name(ctx, params), params["imageManifest"], params.get("imageTag")
    manifest = _manifest(text)
    media_type = _media_type(params.get("imageManifestMediaType"), manifest)
    names = None
    if media_type == DIRECTORY_MEDIA_TYPE:
        check_directory_manifest(manifest)
    else:
        try:
            names = references(media_type, text)
        except RegistryError as error:
            raise InvalidParameterException(f"Invalid parameter at 'imageManifest': {error.message}") from None
    digest = DIGEST_PREFIX + hashlib.sha256(text.encode()).hexdigest()
    if params.get("imageDigest", digest) != digest:
        raise ImageDigestDoesNotMatchException(f"Invalid parameter at 'imageDigest': {params['imageDigest']} is not "
                                               f"the digest of the manifest, {digest}.")
    try:
        with _repository_errors(ctx, name):
            image = ctx.metadata.images.put(name, digest, media_type, text, tag, names)
    except BlobsUnknown as missing:
        raise LayersNotFoundException(f"Layers with digests {list(missing.digests)} required for pushing image into "
                                      f"repository with name '{name}' in registry with id "
                                      f"'{ctx.settings.account_id}' do not exist") from None
    except ImagesUnknown as missing:
        raise ReferencedImagesNotFoundException(f"The images {list(missing.digests)} the manifest list references "
                                                f"do not exist in the repository with name '{name}'") from None
    except ImageExists:
        raise ImageAlreadyExistsException(
            f"Image with digest '{digest}' and tag '{_shown(tag)}' already exists in the repository with name "
            f"'{name}' in registry with id '{ctx.settings.account_id}'") from None
    except TagImmutable:
        raise ImageTagAlreadyExistsException(
            f"The image tag '{tag}' already exists in the '{name}' repository and cannot be overwritten because "
            "the repository is immutable.") from None
    return {"image": _image_wire(ctx, image, tag)}


def describe_images(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of a repository's images (filtered by tagStatus), or the named ones.

    ImageNotFoundException if a named one is absent."""
    name = _repository_name(ctx, params)
    if "imageIds" in params:
        images = list({image.digest: image for image in (_described(ctx, name, wire) for wire in params["imageIds"])}
                      .values())
    else:
        images = _listed(ctx, name, params.get("filter", {}))
    page, token = _page(images, params, f"ecr images {name}")
    return _with_token({"imageDetails": [_detail_wire(ctx, image) for image in page]}, token)


def list_images(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of image IDs: one per tag, and a digest alone for each untagged image."""
    name = _repository_name(ctx, params)
    ids = [_id_wire(ImageId(image.digest, tag)) for image in _listed(ctx, name, params.get("filter", {}))
           for tag in (image.tags or (None,))]
    page, token = _page(ids, params, f"ecr image ids {name}")
    return _with_token({"imageIds": list(page)}, token)


def batch_get_image(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The manifests of the named images; each one absent (or of a type not accepted) is a failure."""
    name = _repository_name(ctx, params)
    with _repository_errors(ctx, name):
        _check_exists(ctx, name)
        found = [(wire, _fetched(ctx, name, wire, params.get("acceptedMediaTypes"))) for wire in params["imageIds"]]
    return {"images": [_image_wire(ctx, got, wire.get("imageTag")) for wire, got in found if isinstance(got, Image)],
            "failures": [got for _, got in found if not isinstance(got, Image)]}


def batch_delete_image(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Remove tags (an image goes with its last tag) and images by digest; each one absent is a failure."""
    name = _repository_name(ctx, params)
    deleted, failures = [], []
    with _repository_errors(ctx, name):
        _check_exists(ctx, name)
        for wire in params["imageIds"]:
            image_id, failure = _checked_id(wire)
            image = None if failure else ctx.metadata.images.untag_or_delete(name, image_id)
            if image is None:
                failures.append(failure or _failure(wire, "ImageNotFound", _NOT_FOUND_REASON))
            else:
                deleted.append(_id_wire(ImageId(image.digest, image_id.tag)))
    return {"imageIds": deleted, "failures": failures}


def get_authorization_token(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A token for `/v2/` (base64 of `AWS:<password>`), naming the caller's access key, valid 12 hours as ECR's; see
    authorization_token. An unsigned request has no access key to name: AccessDeniedException."""
    for registry in params.get("registryIds", []):
        _check_registry(ctx, {"registryId": registry})
    if ctx.principal.access_key_id is None:
        raise AccessDenied("GetAuthorizationToken needs a signed request: the token names the caller's access key")
    host = registry_host(ctx.settings.account_id, ctx.region)
    expires_at = (datetime.now(UTC) + TOKEN_LIFETIME).replace(microsecond=0)  # as the token has it
    return {"authorizationData": [{
        "authorizationToken": authorization_token(ctx.platform, ctx.principal.access_key_id, expires_at),
        "expiresAt": expires_at, "proxyEndpoint": f"https://{host}"}]}


def check_directory_manifest(manifest: dict[str, Any]) -> None:
    """Raise InvalidParameterException unless the manifest names an existing directory by absolute path."""
    directory = manifest.get("directory")
    if manifest.get("schemaVersion") != 1:
        problem = "schemaVersion must be 1"
    elif not isinstance(directory, str) or not directory:
        problem = '"directory" must be the absolute path of a directory on the server\'s machine'
    elif not Path(directory).is_absolute():
        problem = f'"directory" must be an absolute path, not {directory!r}'
    elif not Path(directory).is_dir():
        problem = f"{directory} is not a directory on the server's machine"
    else:
        return
    raise InvalidParameterException(f"Invalid parameter at 'imageManifest': {problem} "
                                    f"(manifest of media type {DIRECTORY_MEDIA_TYPE}).")


# -- reading requests ----------------------------------------------------------------------------

def _check_registry(ctx: Context, params: dict[str, Any]) -> None:
    registry = params.get("registryId", ctx.settings.account_id)
    if registry != ctx.settings.account_id:
        raise InvalidParameterException(f"Invalid parameter at 'registryId': modelbay serves the registry with id "
                                        f"'{ctx.settings.account_id}' only, not '{registry}'.")


def _repository_name(ctx: Context, params: dict[str, Any]) -> str:
    _check_registry(ctx, params)
    return str(params["repositoryName"])


def _manifest(text: str) -> dict[str, Any]:
    try:
        manifest = json.loads(text)
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict):
        raise InvalidParameterException("Invalid parameter at 'imageManifest': the manifest must be a JSON object.")
    return manifest


def _media_type(given: str | None, manifest: dict[str, Any]) -> str:
    """imageManifestMediaType, else the manifest's mediaType; the two must agree when both are there."""
    inside = manifest.get("mediaType")
    if inside is not None and not isinstance(inside, str):
        raise InvalidParameterException("Invalid parameter at 'imageManifest': mediaType must be a string.")
    if given is not None and inside is not None and given != inside:
        raise InvalidParameterException(f"Invalid parameter at 'imageManifestMediaType': {given} does not match "
                                        f"the manifest's mediaType {inside}.")
    media_type = given or inside
    if media_type is None:
        raise InvalidParameterException("Invalid parameter at 'imageManifestMediaType': the manifest has no "
                                        "mediaType, so imageManifestMediaType must be given.")
    return media_type


def _checked_id(wire: dict[str, Any]) -> tuple[ImageId, dict[str, Any] | None]:
    """The ImageId a request member names, and the failure ECR reports for it if it is malformed."""
    image_id = ImageId(wire.get("imageDigest"), wire.get("imageTag"))
    if image_id.digest is None and image_id.tag is None:
        return image_id, _failure(wire, "MissingDigestAndTag", "Invalid request parameters: both tag and digest "
                                                                "cannot be null")
    if image_id.digest is not None and not _DIGEST.fullmatch(image_id.digest):
        return image_id, _failure(wire, "InvalidImageDigest", "Invalid image digest")
    return image_id, None


def _described(ctx: Context, name: str, wire: dict[str, Any]) -> Image:
    """The image DescribeImages' imageIds names: a malformed or absent one fails the whole call."""
    image_id, failure = _checked_id(wire)
    if failure is not None:
        raise InvalidParameterException(f"Invalid parameter at 'imageIds': {failure['failureReason']}")
    with _repository_errors(ctx, name):
        image = ctx.metadata.images.find(name, image_id)
    if image is None:
        raise ImageNotFoundException(
            f"The image with imageId {{imageDigest:'{_shown(image_id.digest)}', imageTag:'{_shown(image_id.tag)}'}} "
            f"does not exist within the repository with name '{name}' in the registry with id "
            f"'{ctx.settings.account_id}'")
    return image


def _listed(ctx: Context, name: str, filters: dict[str, Any]) -> list[Image]:
    """The repository's images that the tagStatus and imageStatus filters keep (every image here is ACTIVE)."""
    with _repository_errors(ctx, name):
        images = ctx.metadata.images.images(name)
    if filters.get("imageStatus", "ACTIVE") not in ("ACTIVE", "ANY"):
        return []
    wanted = {"TAGGED": True, "UNTAGGED": False}.get(filters.get("tagStatus", "ANY"))
    return [image for image in images if wanted is None or bool(image.tags) == wanted]


def _check_exists(ctx: Context, name: str) -> None:
    if not ctx.metadata.images.repositories([name]):
        raise RepositoryNotFound(name)


def _fetched(ctx: Context, name: str, wire: dict[str, Any], accepted: list[str] | None) -> Image | dict[str, Any]:
    """The image BatchGetImage's imageIds member names, or the failure ECR reports for it."""
    image_id, failure = _checked_id(wire)
    if failure is not None:
        return failure
    image = ctx.metadata.images.find(name, image_id)
    if image is None:
        return _failure(wire, "ImageNotFound", _NOT_FOUND_REASON)
    if accepted is not None and image.media_type not in accepted:
        return _failure(wire, "ImageNotFound", f"The image's media type {image.media_type} is not one of "
                                               "acceptedMediaTypes")
    return image


@contextmanager
def _repository_errors(ctx: Context, name: str) -> Iterator[None]:
    """The registry's answers about a repository, as ECR words them."""
    registry = ctx.settings.account_id
    try:
        yield
    except RepositoryNotFound:
        raise RepositoryNotFoundException(f"The repository with name '{name}' does not exist in the registry "
                                          f"with id '{registry}'") from None
    except RepositoryExists:
        raise RepositoryAlreadyExistsException(f"The repository with name '{name}' already exists in the registry "
                                               f"with id '{registry}'") from None
    except RepositoryNotEmpty:
        raise RepositoryNotEmptyException(f"The repository with name '{name}' in registry with id '{registry}' "
                                          "cannot be deleted because it still contains images") from None


def _page(items: Sequence[T], params: dict[str, Any], scope: str) -> tuple[Sequence[T], str | None]:
    """The slice of a listing that nextToken (from an earlier page of `scope`) and maxResults select."""
    with reading_tokens():
        start = decode_token(scope, params["nextToken"]) if "nextToken" in params else 0
    end = start + params.get("maxResults", DEFAULT_MAX_RESULTS)
    return items[start:end], (encode_token(scope, end) if end < len(items) else None)


# -- wire shapes ---------------------------------------------------------------------------------

def _repository_uri(account: str, region: str, name: str) -> str:
    return f"{registry_host(account, region)}/{name}"


def _repository_wire(ctx: Context, repository: Repository) -> dict[str, Any]:
    account, region = ctx.settings.account_id, ctx.settings.region
    return {"repositoryArn": f"arn:aws:ecr:{region}:{account}:repository/{repository.name}",
            "registryId": account, "repositoryName": repository.name,
            "repositoryUri": _repository_uri(account, region, repository.name), "createdAt": repository.created_at,
            "imageTagMutability": repository.tag_mutability, **repository.settings}


def _image_wire(ctx: Context, image: Image, tag: str | None) -> dict[str, Any]:
    return {"registryId": ctx.settings.account_id, "repositoryName": image.repository,
            "imageId": _id_wire(ImageId(image.digest, tag)), "imageManifest": image.raw_manifest,
            "imageManifestMediaType": image.media_type}


def _detail_wire(ctx: Context, image: Image) -> dict[str, Any]:
    detail = {"registryId": ctx.settings.account_id, "repositoryName": image.repository, "imageDigest": image.digest,
              "imagePushedAt": image.pushed_at, "imageManifestMediaType": image.media_type, "imageStatus": "ACTIVE"}
    if image.size is not None:
        detail["imageSizeInBytes"] = image.size
    return {**detail, "imageTags": list(image.tags)} if image.tags else detail


def _id_wire(image_id: ImageId) -> dict[str, str]:
    wire = {"imageDigest": image_id.digest, "imageTag": image_id.tag}
    return {key: value for key, value in wire.items() if value is not None}


def _failure(wire: dict[str, Any], code: str, reason: str) -> dict[str, Any]:
    return {"imageId": wire, "failureCode": code, "failureReason": reason}


def _shown(value: str | None) -> str:
    """How ECR's messages show a missing tag or digest."""
    return "null" if value is None else value


def _with_token(output: dict[str, Any], token: str | None) -> dict[str, Any]:
    return output if token is None else {**output, "nextToken": token}


OPERATIONS: dict[str, Handler] = {
    "CreateRepository": create_repository, "DescribeRepositories": describe_repositories,
    "DeleteRepository": delete_repository, "PutImage": put_image, "DescribeImages": describe_images,
    "ListImages": list_images, "BatchGetImage": batch_get_image, "BatchDeleteImage": batch_delete_image,
    "GetAuthorizationToken": get_authorization_token,
}
