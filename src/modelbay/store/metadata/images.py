"""The image registry behind the ECR API: repositories, the images pushed to them, and their tags.

An image is a manifest, stored as pushed (its digest is over those exact bytes), in one
repository; a tag names at most one image of its repository and moves when it is pushed again
(unless the repository's tags are immutable). Deleting a repository deletes its images and tags.
The tables live here rather than in tables.py because nothing else refers to them.

Blobs (layers and configs pushed through the registry API; their bytes are in the object store) are
the region's, shared by its repositories as a content-addressed store is: a row says a blob's bytes
are stored, and an image pushed with references records the blobs it names (image_blobs), so that
garbage collection knows what nothing names. Writes that make or drop that knowledge (recording a
blob, putting an image that names blobs, collecting garbage) serialise on BLOB_LOCK.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.engine import serialize
from modelbay.store.metadata.records import Clock, utc_now
from modelbay.store.metadata.tables import Base, BigSerial, UtcDateTime
from modelbay.store.objects.internal import INTERNAL_BUCKET

MUTABLE, IMMUTABLE = "MUTABLE", "IMMUTABLE"
DIGEST_PREFIX = "sha256:"
# a bring-your-own image on this machine: a manifest naming a directory that holds `train` and/or `serve`
DIRECTORY_MEDIA_TYPE = "application/vnd.modelbay.directory.v1+json"
BLOB_LOCK = "registry-blobs"
REGISTRY_BUCKET = INTERNAL_BUCKET  # where blob bytes are: the object store's own bucket, which the S3 API hides


def blob_key(region: str, digest: str) -> str:
    """Where a blob's bytes are in REGISTRY_BUCKET: the registry serves them, container runtimes load them."""
    return f"{region}/blobs/sha256/{digest.removeprefix(DIGEST_PREFIX)}"


class ImageRepositoryRow(Base):
    """One repository; `settings` holds what CreateRepository was given besides name and mutability."""

    __tablename__ = "image_repositories"

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    tag_mutability: Mapped[str] = mapped_column(String(32))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)


class ImageRow(Base):
    """One image (manifest) of a repository, unique by digest within it."""

    __tablename__ = "images"
    __table_args__ = (Index(None, "repository_id", "digest", unique=True),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("image_repositories.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(71))  # sha256: and 64 hex digits
    media_type: Mapped[str] = mapped_column(String(256))
    manifest: Mapped[str] = mapped_column(Text)
    pushed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # None: a manifest naming no blobs


class ImageTagRow(Base):
    """A tag of a repository and the image it names."""

    __tablename__ = "image_tags"
    __table_args__ = (Index(None, "image_id"),)

    repository_id: Mapped[int] = mapped_column(ForeignKey("image_repositories.id", ondelete="CASCADE"),
                                               primary_key=True)
    tag: Mapped[str] = mapped_column(String(300), primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))


class RegistryBlobRow(Base):
    """A blob whose bytes are stored; `touched_at` is when it was last stored or asked after by a push."""

    __tablename__ = "registry_blobs"

    digest: Mapped[str] = mapped_column(String(71), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    touched_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ImageBlobRow(Base):
    """A blob an image names (its config or a layer): the blob is kept while a row names it."""

    __tablename__ = "image_blobs"
    __table_args__ = (Index(None, "digest"),)

    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(71), primary_key=True)


class RepositoryNotFound(LookupError):
    """No repository has this name."""


class RepositoryExists(Exception):
    """A repository with this name exists already."""


class RepositoryNotEmpty(Exception):
    """The repository still holds images."""


class ImageExists(Exception):
    """This manifest is in the repository already, with this tag (or untagged, when no tag was given)."""


class TagImmutable(Exception):
    """The tag names another image and the repository's tags are immutable."""


class BlobsUnknown(LookupError):
    """Blobs a manifest names are not stored; `digests` lists them."""

    def __init__(self, digests: Sequence[str]) -> None:
        super().__init__(", ".join(digests))
        self.digests = tuple(digests)


class ImagesUnknown(LookupError):
    """Manifests an image index names are not in the repository; `digests` lists them."""

    def __init__(self, digests: Sequence[str]) -> None:
        super().__init__(", ".join(digests))
        self.digests = tuple(digests)


@dataclass(frozen=True)
class References:
    """What a manifest names: `blobs` it needs stored (config and layers), of which `layers` make its size,
    and the `manifests` (an index's) that must be in its repository, whose sizes make an index's size."""

    blobs: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    manifests: tuple[str, ...] = ()


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    touched_at: datetime


@dataclass(frozen=True)
class Repository:
    name: str
    created_at: datetime
    tag_mutability: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class Image:
    """An image as pushed: `raw_manifest` is the exact text whose SHA-256 is `digest`; tags in name order."""

    repository: str
    digest: str
    media_type: str
    raw_manifest: str
    pushed_at: datetime
    tags: tuple[str, ...] = ()
    size: int | None = None  # imageSizeInBytes: the layers' sizes; None for a manifest naming no blobs

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest as JSON (the registry only stores manifests that parse to an object)."""
        parsed: dict[str, Any] = json.loads(self.raw_manifest)
        return parsed


@dataclass(frozen=True)
class ImageId:
    """How a request names an image: by digest, by tag, or by both (the tag must then name that digest)."""

    digest: str | None = None
    tag: str | None = None


class ImageRegistry:
    """Repositories by name and their images by digest or tag. Every method that writes is one transaction."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    def create_repository(self, name: str, tag_mutability: str = MUTABLE,
                          settings: dict[str, Any] | None = None) -> Repository:
        """Store an empty repository; raise RepositoryExists, writing nothing, if the name is taken."""
        with self._db.write(lock="image-repositories") as session:
            if session.scalar(select(ImageRepositoryRow.id).where(ImageRepositoryRow.name == name)) is not None:
                raise RepositoryExists(name)
            row = ImageRepositoryRow(name=name, created_at=self._clock(), tag_mutability=tag_mutability,
                                     settings=settings or {})
            session.add(row)
            return _repository(row)

    def repositories(self, names: Sequence[str] | None = None) -> list[Repository]:
        """The repositories with these names (all when None), in creation order; absent names are left out."""
        query = select(ImageRepositoryRow).order_by(ImageRepositoryRow.id)
        if names is not None:
            query = query.where(ImageRepositoryRow.name.in_(list(names)))
        with self._db.read() as session:
            return [_repository(row) for row in session.scalars(query)]

    def delete_repository(self, name: str, force: bool = False) -> Repository:
        """Delete a repository, and its images when `force`; raise RepositoryNotFound or RepositoryNotEmpty."""
        with self._db.write(lock=f"image-repository {name}") as session:
            row = _repository_row(session, name)
            has_images = session.scalar(select(ImageRow.id).where(ImageRow.repository_id == row.id).limit(1))
            if has_images is not None and not force:
                raise RepositoryNotEmpty(name)
            session.execute(delete(ImageRepositoryRow).where(ImageRepositoryRow.id == row.id))
            return _repository(row)

    def put(self, repository: str, digest: str, media_type: str, manifest: str, tag: str | None = None,
            references: References | None = None) -> Image:
        """Store an image (or find it by digest) and point `tag` at it, moving the tag if it named another.

        `references` (None for a manifest naming nothing, as a directory image's) must all be there.
        Raises RepositoryNotFound; BlobsUnknown or ImagesUnknown for missing references; ImageExists
        if the image is there with this tag (or at all, when no tag is given); TagImmutable if the
        tag names another image in a repository whose tags are immutable.
        """
        with self._db.write(lock=f"image-repository {repository}") as session:
            serialize(session.connection(), BLOB_LOCK)  # no garbage collection between the check and the insert
            repo = _repository_row(session, repository)
            size = None if references is None else _size(session, repo.id, references)
            image = session.scalar(select(ImageRow).where(ImageRow.repository_id == repo.id, ImageRow.digest == digest))
            tagged = None if tag is None else session.get(ImageTagRow, (repo.id, tag))
            if image is not None and (tag is None or (tagged is not None and tagged.image_id == image.id)):
                raise ImageExists(digest)
            if tagged is not None and repo.tag_mutability == IMMUTABLE:
                raise TagImmutable(tag)
            if image is None:
                image = ImageRow(repository_id=repo.id, digest=digest, media_type=media_type, manifest=manifest,
                                 pushed_at=self._clock(), size=size)
                session.add(image)
                session.flush()
                session.add_all(ImageBlobRow(image_id=image.id, digest=blob)
                                for blob in dict.fromkeys(references.blobs if references else ()))
            if tag is not None:
                session.merge(ImageTagRow(repository_id=repo.id, tag=tag, image_id=image.id))
                session.flush()
            return _image(session, repository, image)

    def tags(self, repository: str) -> list[str]:
        """The repository's tags in lexical order; raise RepositoryNotFound."""
        with self._db.read() as session:
            repo_id = _repository_row(session, repository).id
            return sorted(session.scalars(select(ImageTagRow.tag).where(ImageTagRow.repository_id == repo_id)))

    def images(self, repository: str) -> list[Image]:
        """Every image of a repository in the order they were first pushed; raise RepositoryNotFound."""
        with self._db.read() as session:
            repo = _repository_row(session, repository)
            rows = session.scalars(select(ImageRow).where(ImageRow.repository_id == repo.id).order_by(ImageRow.id))
            return [_image(session, repository, row) for row in rows]

    def find(self, repository: str, image_id: ImageId) -> Image | None:
        """The image `image_id` names, or None (also when its tag names another digest); raise RepositoryNotFound."""
        with self._db.read() as session:
            row = _find(session, _repository_row(session, repository).id, image_id)
            return None if row is None else _image(session, repository, row)

    def resolve(self, repository: str, reference: str) -> Image | None:
        """The image a reference names: a `sha256:` digest or a tag. None if the repository or image is absent.

        What the training controller calls to turn `<registry>/<repository>:<tag>` (or `@sha256:…`)
        into the manifest to run.
        """
        image_id = ImageId(digest=reference) if reference.startswith(DIGEST_PREFIX) else ImageId(tag=reference)
        try:
            return self.find(repository, image_id)
        except RepositoryNotFound:
            return None

    def untag_or_delete(self, repository: str, image_id: ImageId) -> Image | None:
        """Remove what `image_id` names and return the image as it was, or None if it names nothing.

        A tag alone removes the tag, and the image with it once it has no tag left; a digest
        removes the image and all its tags. Raises RepositoryNotFound.
        """
        with self._db.write(lock=f"image-repository {repository}") as session:
            repo_id = _repository_row(session, repository).id
            row = _find(session, repo_id, image_id)
            if row is None:
                return None
            image = _image(session, repository, row)
            if image_id.digest is None:
                session.execute(delete(ImageTagRow).where(ImageTagRow.repository_id == repo_id,
                                                          ImageTagRow.tag == image_id.tag))
            if image_id.digest is not None or image.tags == (image_id.tag,):
                session.execute(delete(ImageRow).where(ImageRow.id == row.id))
            return image

    # -- blobs -------------------------------------------------------------------------------
    def record_blob(self, digest: str, size: int, is_stored: Callable[[], bool]) -> bool:
        """Record (or touch) a blob whose bytes were just stored, if `is_stored()` still says they are.

        The check runs under BLOB_LOCK, after any garbage collection that could have removed the
        bytes between their write and this call: False means they are gone and nothing was recorded.
        """
        with self._db.write(lock=BLOB_LOCK) as session:
            if not is_stored():
                return False
            session.merge(RegistryBlobRow(digest=digest, size=size, touched_at=self._clock()))
            return True

    def blob(self, digest: str, touch: bool = False) -> Blob | None:
        """A stored blob, or None; `touch` marks it as just asked after (a push that found it will
        name it soon: garbage collection spares it for a while)."""
        if not touch:
            with self._db.read() as session:
                row = session.get(RegistryBlobRow, digest)
                return None if row is None else _blob(row)
        with self._db.write(lock=BLOB_LOCK) as session:
            row = session.get(RegistryBlobRow, digest)
            if row is not None:
                row.touched_at = self._clock()
            return None if row is None else _blob(row)

    def collect_garbage(self, touched_before: datetime, remove: Callable[[Blob], bool]) -> list[Blob]:
        """Forget every blob no image names and nothing touched since `touched_before`, once `remove(blob)`
        says it removed its bytes (False: keep it). Under BLOB_LOCK, so no push names or records a blob
        meanwhile. Returns the blobs forgotten."""
        with self._db.write(lock=BLOB_LOCK) as session:
            named = select(ImageBlobRow.digest)
            rows = session.scalars(select(RegistryBlobRow).where(RegistryBlobRow.touched_at < touched_before,
                                                                 RegistryBlobRow.digest.not_in(named))).all()
            removed = [row for row in rows if remove(_blob(row))]
            for row in removed:
                session.delete(row)
            return [_blob(row) for row in removed]


def _size(session: Session, repository_id: int, references: References) -> int:
    """The size of an image naming `references`; raise BlobsUnknown or ImagesUnknown for what is missing."""
    blobs: dict[str, int] = {digest: size for digest, size in session.execute(
        select(RegistryBlobRow.digest, RegistryBlobRow.size).where(RegistryBlobRow.digest.in_(set(references.blobs))))}
    missing = [digest for digest in dict.fromkeys(references.blobs) if digest not in blobs]
    if missing:
        raise BlobsUnknown(missing)
    images: dict[str, int] = {digest: size for digest, size in session.execute(
        select(ImageRow.digest, func.coalesce(ImageRow.size, 0))
        .where(ImageRow.repository_id == repository_id, ImageRow.digest.in_(set(references.manifests))))}
    missing = [digest for digest in dict.fromkeys(references.manifests) if digest not in images]
    if missing:
        raise ImagesUnknown(missing)
    return sum(blobs[digest] for digest in references.layers) + sum(images.values())


def _blob(row: RegistryBlobRow) -> Blob:
    return Blob(row.digest, row.size, row.touched_at)


def _repository_row(session: Session, name: str) -> ImageRepositoryRow:
    row = session.scalar(select(ImageRepositoryRow).where(ImageRepositoryRow.name == name))
    if row is None:
        raise RepositoryNotFound(name)
    return row


def _find(session: Session, repository_id: int, image_id: ImageId) -> ImageRow | None:
    if image_id.digest is None and image_id.tag is None:
        return None
    query = select(ImageRow).where(ImageRow.repository_id == repository_id)
    if image_id.digest is not None:
        query = query.where(ImageRow.digest == image_id.digest)
    if image_id.tag is not None:
        query = query.join(ImageTagRow, ImageTagRow.image_id == ImageRow.id).where(ImageTagRow.tag == image_id.tag)
    return session.scalar(query)


def _repository(row: ImageRepositoryRow) -> Repository:
    return Repository(row.name, row.created_at, row.tag_mutability, row.settings)


def _image(session: Session, repository: str, row: ImageRow) -> Image:
    tags = session.scalars(select(ImageTagRow.tag).where(ImageTagRow.image_id == row.id).order_by(ImageTagRow.tag))
    return Image(repository, row.digest, row.media_type, row.manifest, row.pushed_at, tuple(tags), row.size)
