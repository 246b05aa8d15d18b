"""The OCI distribution registry's domain (docker push and pull), over the object and metadata stores; no HTTP.

Blobs (layers, configs) are content-addressed objects in REGISTRY_BUCKET, a bucket the S3 API
refuses and hides (services/s3.py), keyed `<region>/blobs/sha256/<hex>`: ECR is regional, so each
region keeps its own blobs and collects its own garbage. A blob is written once per push with one
atomic put, streamed through a SHA-256 check that fails the put (leaving nothing) when the digest
is wrong, so two pushes of one layer both succeed and leave one blob. Blobs are shared by a region's
repositories, so a cross-repository mount only checks that both repositories exist and the blob is stored.

An upload session lives in the object store too, so it survives a restart: `<region>/uploads/<uuid>/session`
(its repository) and one object per chunk, `chunk-<offset>`, the offset zero-padded so the chunks
list in order. Completing it streams the chunks, in order, into the blob's put.

Manifests and tags are the images of store/metadata/images.py, the records ECR's API answers:
`references` reads what a manifest names (validating it as one of MANIFEST_MEDIA_TYPES) and the
registry refuses a manifest whose blobs (or, for an index, whose manifests) are not there.

Garbage collection (`collect_garbage`) removes the blobs no image names that nothing stored or
asked after for `min_age` (a push's blobs come before its manifest: the age spares a push in
progress), and uploads left untouched as long. It removes bytes under the metadata store's blob
lock, and a completed upload records its blob under that lock only if its bytes are still there,
so a push and a collection never leave an image naming a blob without bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any, Protocol

from modelbay.config import AUTH_OPEN
from modelbay.platform import Platform
from modelbay.security import registry_tokens
from modelbay.store.metadata.images import (
    REGISTRY_BUCKET,
    Blob,
    BlobsUnknown,
    Image,
    ImageExists,
    ImageId,
    ImagesUnknown,
    References,
    RepositoryNotFound,
    TagImmutable,
    blob_key,
)
from modelbay.store.objects.base import (
    BucketAlreadyOwnedByYou,
    NoSuchBucket,
    NoSuchKey,
    ObjectInfo,
    ObjectMeta,
    ObjectReader,
    ObjectStore,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_MEDIA_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_MEDIA_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
MANIFEST_MEDIA_TYPES = IMAGE_MEDIA_TYPES + INDEX_MEDIA_TYPES
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the OCI spec's advice to registries
TOKEN_LIFETIME = timedelta(hours=12)  # ECR's authorization tokens
DEFAULT_MIN_AGE = timedelta(hours=1)
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
# ECR's repository name pattern (botocore's RepositoryName), with its 2 to 256 characters
REPOSITORY_NAME = re.compile(r"(?=.{2,256}$)[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*")
_CHUNK_BYTES = 1024 * 1024
_LISTING_PAGE = 1000


class RegistryError(Exception):
    """An error of the distribution API: `code` is the spec's (BLOB_UNKNOWN, ...), the API gives it its status."""

    def __init__(self, code: str, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.detail = code, message, detail


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class Upload:
    """An upload session: its id and how many bytes it holds so far."""

    id: str
    size: int


@dataclass(frozen=True)
class Garbage:
    """What a collection removed."""

    blobs: int
    bytes: int
    uploads: int


def authorization_token(platform: Platform, access_key_id: str, expires_at: datetime) -> str:
    """ECR's authorizationToken: base64 of `AWS:<password>`, the password naming the caller's access key and the
    token's expiry under the server's MAC (security/registry_tokens.py)."""
    password = registry_tokens.issue(platform.account.master_key, access_key_id, expires_at)
    return base64.b64encode(f"AWS:{password}".encode()).decode()


def check_login(platform: Platform, password: str) -> None:
    """Raise RegistryError UNAUTHORIZED unless `password` is an authorization token the server gave that has not
    expired; in `open` auth mode, where any access key is the account's root, any password will do."""
    if platform.settings.auth_mode == AUTH_OPEN:
        return
    try:
        registry_tokens.verify(platform.account.master_key, password, datetime.now(UTC))
    except registry_tokens.TokenRefused as refused:
        raise RegistryError("UNAUTHORIZED", str(refused)) from None


def registry_host(account: str, region: str) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com"


def references(media_type: str, text: str) -> References:
    """What a manifest of one of MANIFEST_MEDIA_TYPES names; raise RegistryError MANIFEST_INVALID (or
    UNSUPPORTED for another media type) saying what is wrong."""
    if media_type not in MANIFEST_MEDIA_TYPES:
        raise RegistryError("MANIFEST_INVALID", f"unsupported manifest media type {media_type!r}: the registry "
                            f"takes {', '.join(MANIFEST_MEDIA_TYPES)}")
    manifest = _json_object(text)
    if manifest.get("schemaVersion") != 2:
        raise _invalid("schemaVersion must be 2")
    if manifest.get("mediaType", media_type) != media_type:
        raise _invalid(f"its mediaType {manifest.get('mediaType')!r} is not {media_type!r}")
    if media_type in INDEX_MEDIA_TYPES:
        return References(manifests=tuple(_descriptors(manifest, "manifests")))
    config = _descriptor(manifest.get("config"), "config")
    layers = tuple(_descriptors(manifest, "layers"))
    return References(blobs=(config, *layers), layers=layers)


def media_type_of(given: str | None, text: str) -> str:
    """A pushed manifest's media type: its Content-Type when that is a manifest type, else its own mediaType."""
    if given in MANIFEST_MEDIA_TYPES:
        return given
    inside = _json_object(text).get("mediaType")
    if not isinstance(inside, str):
        raise _invalid(f"Content-Type {given!r} is not a manifest media type and the manifest has no mediaType")
    return inside


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json_object(text: str) -> dict[str, Any]:
    try:
        manifest = json.loads(text)
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict):
        raise _invalid("a manifest is a JSON object")
    return manifest


def _descriptors(manifest: dict[str, Any], member: str) -> Iterator[str]:
    found = manifest.get(member)
    if not isinstance(found, list):
        raise _invalid(f"{member} must be a list of descriptors")
    return (_descriptor(item, f"{member}[{index}]") for index, item in enumerate(found))


def _descriptor(item: Any, where: str) -> str:
    """The digest a descriptor names, once it is one: a mediaType, a sha256 digest and a size."""
    if not isinstance(item, dict):
        raise _invalid(f"{where} must be a descriptor object")
    if not isinstance(item.get("mediaType"), str):
        raise _invalid(f"{where}.mediaType must be a string")
    if not isinstance(item.get("size"), int) or isinstance(item.get("size"), bool) or item["size"] < 0:
        raise _invalid(f"{where}.size must be a non-negative integer")
    digest = item.get("digest")
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise _invalid(f"{where}.digest must be sha256: and 64 lower-case hex digits")
    return digest


def _invalid(problem: str) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", f"manifest invalid: {problem}")


class Registry:
    """One region's registry: blobs, upload sessions, manifests and tags of its repositories."""

    def __init__(self, platform: Platform) -> None:
        self.objects = platform.objects
        self.images = platform.metadata.images
        self.region = platform.settings.region

    # -- blobs -------------------------------------------------------------------------------
    def blob(self, repository: str, digest: str, touch: bool = False) -> Blob:
        """A stored blob (touched: see ImageRegistry.blob); raise NAME_UNKNOWN, BLOB_UNKNOWN."""
        self._check_repository(repository)
        blob = self.images.blob(_checked_digest(digest), touch=touch)
        if blob is None:
            raise RegistryError("BLOB_UNKNOWN", f"blob unknown to registry: {digest}", {"digest": digest})
        return blob

    def open_blob(self, repository: str, digest: str,
                  byte_range: tuple[int | None, int | None] | None = None) -> ObjectReader:
        """A blob's bytes (or a range of them: see ObjectStore.open, which raises InvalidRange)."""
        self.blob(repository, digest)
        try:
            return self.objects.open(REGISTRY_BUCKET, self._blob_key(digest), byte_range)
        except (NoSuchBucket, NoSuchKey):
            raise RegistryError("BLOB_UNKNOWN", f"blob unknown to registry: {digest}", {"digest": digest}) from None

    def put_blob(self, repository: str, digest: str, data: _Readable) -> None:
        """Store a whole blob (a monolithic upload); raise DIGEST_INVALID if its bytes are not `digest`'s."""
        self._check_repository(repository)
        self._store(_checked_digest(digest), data)

    def mount(self, repository: str, digest: str, source: str | None) -> bool:
        """Whether `digest`, stored and `source` a repository (any when None), now serves `repository` too."""
        self._check_repository(repository)
        if source is not None and not self.images.repositories([source]):
            return False
        return DIGEST.fullmatch(digest) is not None and self.images.blob(digest, touch=True) is not None

    # -- upload sessions ---------------------------------------------------------------------
    def start_upload(self, repository: str) -> Upload:
        self._check_repository(repository)
        self._ensure_bucket()
        upload = Upload(uuid.uuid4().hex, 0)
        session = json.dumps({"repository": repository, "started": datetime.now(UTC).isoformat()}).encode()
        self.objects.put(REGISTRY_BUCKET, self._upload_key(upload.id, "session"), BytesIO(session), ObjectMeta())
        return upload

    def upload(self, repository: str, upload_id: str) -> Upload:
        """The session's state; raise BLOB_UPLOAD_UNKNOWN unless it is an upload to `repository`."""
        self._session(repository, upload_id)
        return Upload(upload_id, sum(info.size for info in self._chunks(upload_id)))

    def append(self, repository: str, upload_id: str, data: _Readable, start: int | None = None) -> Upload:
        """Add a chunk; `start` (from Content-Range), when given, must be the bytes held so far, else RANGE_INVALID."""
        upload = self.upload(repository, upload_id)
        if start is not None and start != upload.size:
            raise RegistryError("RANGE_INVALID", f"the chunk starts at {start}, the upload holds {upload.size} bytes",
                                {"size": upload.size})
        info = self.objects.put(REGISTRY_BUCKET, self._upload_key(upload_id, f"chunk-{upload.size:020d}"),
                                data, ObjectMeta())  # type: ignore[arg-type]  # put reads, as a BinaryIO
        return Upload(upload_id, upload.size + info.size)

    def finish_upload(self, repository: str, upload_id: str, digest: str, data: _Readable) -> None:
        """Add the last chunk (maybe empty), store the blob, end the session; raise DIGEST_INVALID."""
        _checked_digest(digest)
        upload = self.append(repository, upload_id, data)
        self._store(digest, _Chained(self.objects, [info.key for info in self._chunks(upload_id)]))
        self.cancel_upload(repository, upload.id)

    def cancel_upload(self, repository: str, upload_id: str) -> None:
        self._session(repository, upload_id)
        self._remove_upload(upload_id)

    # -- manifests and tags ------------------------------------------------------------------
    def put_manifest(self, repository: str, reference: str, content_type: str | None, body: bytes) -> str:
        """Store a manifest under a tag, or under its digest; return its digest."""
        text = _text(body)
        media_type = media_type_of(content_type, text)
        names = references(media_type, text)
        digest = digest_of(body)
        if DIGEST.fullmatch(reference) and reference != digest:
            raise RegistryError("DIGEST_INVALID", f"the manifest's digest is {digest}, not {reference}")
        tag = None if DIGEST.fullmatch(reference) else _checked_tag(reference)
        try:
            self.images.put(repository, digest, media_type, text, tag, names)
        except ImageExists:
            pass  # pushed again: the same image, already under this tag
        except RepositoryNotFound:
            raise _name_unknown(repository) from None
        except (BlobsUnknown, ImagesUnknown) as missing:
            raise RegistryError("MANIFEST_BLOB_UNKNOWN", f"manifest references unknown blobs or manifests: "
                                f"{', '.join(missing.digests)}", {"digests": list(missing.digests)}) from None
        except TagImmutable:
            raise RegistryError("DENIED", f"the tag {reference} already exists in the repository {repository}, "
                                "whose tags are immutable") from None
        return digest

    def manifest(self, repository: str, reference: str) -> Image:
        """The image a tag or digest names; raise NAME_UNKNOWN, MANIFEST_UNKNOWN."""
        image_id = ImageId(digest=reference) if DIGEST.fullmatch(reference) else ImageId(tag=_checked_tag(reference))
        try:
            image = self.images.find(repository, image_id)
        except RepositoryNotFound:
            raise _name_unknown(repository) from None
        if image is None:
            raise RegistryError("MANIFEST_UNKNOWN", f"manifest unknown: {reference}", {"reference": reference})
        return image

    def delete_manifest(self, repository: str, reference: str) -> None:
        """Delete the image a digest names, or untag a tag (and the image with its last tag), as BatchDeleteImage."""
        image = self.manifest(repository, reference)
        image_id = ImageId(digest=image.digest) if DIGEST.fullmatch(reference) else ImageId(tag=reference)
        self.images.untag_or_delete(repository, image_id)

    def tags(self, repository: str, limit: int | None, last: str | None) -> tuple[list[str], bool]:
        """Up to `limit` tags after `last`, in lexical order, and whether more follow."""
        try:
            found = [tag for tag in self.images.tags(repository) if last is None or tag > last]
        except RepositoryNotFound:
            raise _name_unknown(repository) from None
        return (found, False) if limit is None else (found[:limit], len(found) > limit)

    # -- garbage collection ------------------------------------------------------------------
    def collect_garbage(self, min_age: timedelta = DEFAULT_MIN_AGE) -> Garbage:
        """Remove the blobs no image names and uploads left alone, untouched for `min_age` (see the module)."""
        cutoff = datetime.now(UTC) - min_age

        def remove(blob: Blob) -> bool:
            key = self._blob_key(blob.digest)
            try:
                if self.objects.head(REGISTRY_BUCKET, key).last_modified >= cutoff:
                    return False  # stored again since: a push is under way
            except (NoSuchBucket, NoSuchKey):
                return True
            self.objects.delete(REGISTRY_BUCKET, key)
            return True

        removed = self.images.collect_garbage(cutoff, remove)
        uploads = self._stale_uploads(cutoff)
        for upload_id in uploads:
            self._remove_upload(upload_id)
        return Garbage(len(removed), sum(blob.size for blob in removed), len(uploads))

    # -- helpers -----------------------------------------------------------------------------
    def _store(self, digest: str, data: _Readable) -> None:
        """Put the blob's bytes through the digest check, then record it (again, if the bytes vanished meanwhile:
        see ImageRegistry.record_blob, else BLOB_UPLOAD_INVALID)."""
        self._ensure_bucket()
        key = self._blob_key(digest)
        info = self.objects.put(REGISTRY_BUCKET, key, _Verified(data, digest), ObjectMeta())  # type: ignore[arg-type]

        def is_stored() -> bool:
            try:
                self.objects.head(REGISTRY_BUCKET, key)
            except NoSuchKey:
                return False
            return True

        if not self.images.record_blob(digest, info.size, is_stored):
            raise RegistryError("BLOB_UPLOAD_INVALID", "the blob was collected as garbage while it was stored: "
                                "push it again")

    def _check_repository(self, repository: str) -> None:
        if not self.images.repositories([repository]):
            raise _name_unknown(repository)

    def _ensure_bucket(self) -> None:
        with suppress(BucketAlreadyOwnedByYou):
            self.objects.create_bucket(REGISTRY_BUCKET, self.region)

    def _session(self, repository: str, upload_id: str) -> None:
        unknown = RegistryError("BLOB_UPLOAD_UNKNOWN", f"blob upload unknown to registry: {upload_id}")
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
            raise unknown
        try:
            with self.objects.open(REGISTRY_BUCKET, self._upload_key(upload_id, "session")) as reader:
                session = json.loads(reader.read())
        except (NoSuchBucket, NoSuchKey):
            raise unknown from None
        if session.get("repository") != repository:
            raise unknown

    def _chunks(self, upload_id: str) -> list[ObjectInfo]:
        return list(self._listed(self._upload_key(upload_id, "chunk-")))

    def _listed(self, prefix: str) -> Iterator[ObjectInfo]:
        after = ""
        while True:
            try:
                page = self.objects.list(REGISTRY_BUCKET, prefix, start_after=after, max_keys=_LISTING_PAGE)
            except NoSuchBucket:
                return
            yield from page.objects
            if not page.is_truncated or page.next_marker is None:
                return
            after = page.next_marker

    def _stale_uploads(self, cutoff: datetime) -> list[str]:
        """The uploads whose objects were all written before `cutoff`."""
        newest: dict[str, datetime] = {}
        prefix = f"{self.region}/uploads/"
        for info in self._listed(prefix):
            upload_id = info.key[len(prefix):].split("/", 1)[0]
            newest[upload_id] = max(newest.get(upload_id, info.last_modified), info.last_modified)
        return [upload_id for upload_id, last in newest.items() if last < cutoff]

    def _remove_upload(self, upload_id: str) -> None:
        for info in list(self._listed(self._upload_key(upload_id, ""))):
            self.objects.delete(REGISTRY_BUCKET, info.key)

    def _blob_key(self, digest: str) -> str:
        return blob_key(self.region, digest)

    def _upload_key(self, upload_id: str, name: str) -> str:
        return f"{self.region}/uploads/{upload_id}/{name}"


class _Verified:
    """A stream that raises DIGEST_INVALID at its end unless what it gave has `digest`'s SHA-256 (so the
    object store's put, reading it, throws what it wrote away)."""

    def __init__(self, source: _Readable, digest: str) -> None:
        self._source, self._digest, self._hash = source, digest, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._hash.update(data)
        if not data or size < 0:
            found = "sha256:" + self._hash.hexdigest()
            if found != self._digest:
                raise RegistryError("DIGEST_INVALID", f"provided digest did not match uploaded content: "
                                    f"{self._digest} was given, the content's is {found}")
        return data


class _Chained:
    """The objects at `keys` read one after another, as one stream."""

    def __init__(self, objects: ObjectStore, keys: list[str]) -> None:
        self._objects, self._keys = objects, list(keys)
        self._reader: ObjectReader | None = None

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return b"".join(iter(lambda: self.read(_CHUNK_BYTES), b""))
        while self._keys or self._reader is not None:
            if self._reader is None:
                self._reader = self._objects.open(REGISTRY_BUCKET, self._keys.pop(0))
            data = self._reader.read(size)
            if data:
                return data
            self._reader.close()
            self._reader = None
        return b""


def _checked_digest(digest: str) -> str:
    if not DIGEST.fullmatch(digest):
        raise RegistryError("DIGEST_INVALID", f"invalid digest {digest!r}: modelbay takes sha256: and 64 "
                            "lower-case hex digits")
    return digest


def _checked_tag(tag: str) -> str:
    if not TAG.fullmatch(tag):
        raise RegistryError("MANIFEST_INVALID", f"invalid tag {tag!r}: a tag matches {TAG.pattern}")
    return tag


def _name_unknown(repository: str) -> RegistryError:
    return RegistryError("NAME_UNKNOWN", f"The repository with name '{repository}' does not exist in the registry",
                         {"name": repository})


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("a manifest is UTF-8 JSON") from None

