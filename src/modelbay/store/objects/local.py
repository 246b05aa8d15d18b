"""LocalObjectStore: the default backend, a folder per bucket under a root directory.

Under the root:

    <bucket>/.bucket                  the bucket's creation time, region and default encryption (JSON)
    <bucket>/<seg>%2F/.../=<seg>      an object: each '/'-separated segment of its key percent-encoded,
                                      directories named `<seg>%2F`, the object file `=<seg>`; a segment
                                      too long for a file name goes on in continuations, `<piece>+/`
    .multipart/<upload id>/.upload    a multipart upload: bucket, key, initiation time, meta (JSON)
    .multipart/<upload id>/<number>   its parts, in the object file format
    .tmp/<store id>/                  the temp files of one open store

Keys map to paths as key_paths.py says: `.bucket` and `.upload` are neither an object's nor a
directory's name, and `a`, `a/`, `a/b`, `a//b` and `../x` are all distinct paths. Bucket names
start with a letter or digit, so `.multipart` and `.tmp` are not buckets. A key has at most 1024
UTF-8 bytes, else KeyTooLong; a segment of any length fits (a non-ASCII character takes 6 to 12
bytes once encoded). The filesystem must be case-sensitive, and support flock (Linux, macOS).

An object file holds the object's bytes (an SSE-KMS object's sealed as sealing.py says, its info
holding the sealing's Envelope), then its info as JSON, the JSON's length and a magic number: one
rename replaces data and metadata together, and a reader that has the file open keeps reading the
version it opened. A write survives the server's crash once acknowledged; to survive
the machine's crash too, open the store `durable` and object files are fsync'd before the rename
that publishes them (it costs about a third of the upload speed).

Keys are compared as Python strings: code point order, which is the UTF-8 byte order S3 lists in
(UTF-8 keeps code point order; it is UTF-16 code units that order differently).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
import threading
import uuid
import weakref
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from modelbay.store.objects.base import (
    BucketAlreadyOwnedByYou,
    BucketEncryption,
    BucketInfo,
    BucketNotEmpty,
    DataKey,
    DataKeys,
    EntityTooSmall,
    InvalidArgument,
    InvalidBucketName,
    InvalidPart,
    Listing,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    ObjectInfo,
    ObjectMeta,
    ObjectReader,
    ObjectStore,
    ObjectStoreError,
    PartInfo,
    UploadInfo,
    check_bucket_name,
    check_part_list,
    encrypted,
    encryption_of,
    resolve_range,
)
from modelbay.store.objects.key_paths import holds_object, listed, object_path, prune
from modelbay.store.objects.sealing import Envelope, Run, SealedReader, SealingStream, opened, stored_span

_CHUNK = 256 * 1024  # fits the CPU cache: hashing then writing it is 2-4x faster than 1 MiB pieces
_MIN_PART_SIZE = 5 * 1024 * 1024
_MAX_PART_NUMBER = 10_000
_BUCKET_FILE = ".bucket"
_UPLOAD_FILE = ".upload"
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_MAGIC = b"mbobject"
_TAIL = struct.Struct(">I8s")  # length of the JSON info, magic


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class LocalObjectStore(ObjectStore):
    """Buckets as folders under `root` (see the module docstring for the layout).

    Thread-safe. A root has one writing store at a time (the server's); opening another store on
    it, to read for instance, is safe: stores remove only the temp files of stores that are gone.
    """

    def __init__(self, root: Path, durable: bool = False) -> None:
        self.root = root
        self._uploads = root / ".multipart"
        self._uploads.mkdir(parents=True, exist_ok=True)
        self._scratch = _Scratch(root / ".tmp", durable)
        self._lock = threading.Lock()  # held for the renames, mkdirs and rmdirs that change names

    # -- buckets ---------------------------------------------------------------------------
    def create_bucket(self, bucket: str, region: str) -> BucketInfo:
        check_bucket_name(bucket)
        info = BucketInfo(bucket, _now(), region)
        with self._lock:
            if (self.root / bucket / _BUCKET_FILE).exists():
                raise BucketAlreadyOwnedByYou(f"You already own bucket {bucket!r}")
            staging = self._scratch.make_dir()
            _write_json(staging / _BUCKET_FILE, {"created": info.created.isoformat(), "region": region})
            os.replace(staging, self.root / bucket)  # replaces at most an empty directory
        return info

    def delete_bucket(self, bucket: str) -> None:
        with self._lock:
            bucket_dir = self._bucket_dir(bucket)
            if holds_object(bucket_dir) or any(u.bucket == bucket for u in self._all_uploads()):
                raise BucketNotEmpty(f"The bucket {bucket!r} you tried to delete is not empty")
            trash = self._scratch.take(bucket_dir)
        shutil.rmtree(trash)

    def head_bucket(self, bucket: str) -> BucketInfo:
        info = _read_bucket(self._bucket_dir(bucket))
        if info is None:
            raise _no_such_bucket(bucket)
        return info

    def list_buckets(self) -> list[BucketInfo]:
        found = (_read_bucket(self.root / name) for name in sorted(os.listdir(self.root)))
        return [info for info in found if info is not None]

    def get_bucket_encryption(self, bucket: str) -> BucketEncryption:
        record = _bucket_record(self._bucket_dir(bucket))
        if record is None:
            raise _no_such_bucket(bucket)
        return BucketEncryption(**record.get("encryption", {}))

    def set_bucket_encryption(self, bucket: str, encryption: BucketEncryption) -> None:
        staging = self._scratch.make_dir()
        try:
            with self._lock:
                bucket_file = self._bucket_dir(bucket) / _BUCKET_FILE
                record = json.loads(bucket_file.read_bytes()) | {"encryption": asdict(encryption)}
                _write_json(staging / _BUCKET_FILE, record)
                os.replace(staging / _BUCKET_FILE, bucket_file)
        finally:
            shutil.rmtree(staging)

    # -- objects ---------------------------------------------------------------------------
    def put(self, bucket: str, key: str, data: BinaryIO, meta: ObjectMeta, keys: DataKeys | None = None) -> ObjectInfo:
        return self._write(bucket, key, data, *self._new_data_key(bucket, key, self._encrypted(bucket, meta), keys))

    def open(self, bucket: str, key: str, byte_range: tuple[int | None, int | None] | None = None,
             keys: DataKeys | None = None) -> ObjectReader:
        file, record = self._open_object(bucket, key)
        try:
            info = _object_info(bucket, key, record)
            resolved = None if byte_range is None else resolve_range(byte_range, info.size)
            if "envelope" not in record:
                return _FileReader(file, info, resolved)
            envelope = Envelope.decode(record["envelope"])
            data_key = self._data_key(keys, envelope.wrapped_key, bucket, key)
            return _sealed_reader(file, info, resolved, envelope, data_key)
        except BaseException:
            file.close()
            raise

    def head(self, bucket: str, key: str) -> ObjectInfo:
        file, record = self._open_object(bucket, key)
        file.close()
        return _object_info(bucket, key, record)

    def delete(self, bucket: str, key: str) -> None:
        bucket_dir = self._bucket_dir(bucket)
        path = object_path(bucket_dir, key)
        with self._lock:
            try:
                path.unlink()
            except FileNotFoundError:
                return
            prune(path.parent, bucket_dir)

    def copy(self, src_bucket: str, src_key: str, bucket: str, key: str, meta: ObjectMeta | None,
             encryption: Mapping[str, str] | None = None, keys: DataKeys | None = None) -> ObjectInfo:
        with self.open(src_bucket, src_key, keys=keys) as source:
            kept = self._encrypted(bucket, meta or encrypted(source.info.meta, {}), encryption)
            return self._write(bucket, key, source, *self._new_data_key(bucket, key, kept, keys))

    # -- multipart uploads -----------------------------------------------------------------
    def create_multipart(self, bucket: str, key: str, meta: ObjectMeta, keys: DataKeys | None = None) -> UploadInfo:
        object_path(self._bucket_dir(bucket), key)  # KeyTooLong now rather than at completion
        meta, data_key = self._new_data_key(bucket, key, self._encrypted(bucket, meta), keys)
        wrapped = None if data_key is None else data_key.ciphertext_blob
        upload = UploadInfo(bucket, key, uuid.uuid4().hex, _now(), meta, wrapped)
        staging = self._scratch.make_dir()
        record = {"bucket": bucket, "key": key, "initiated": upload.initiated.isoformat(), **_meta_fields(meta)}
        if wrapped is not None:
            record["envelope"] = Envelope(wrapped).encode()
        _write_json(staging / _UPLOAD_FILE, record)
        with self._lock:
            self._bucket_dir(bucket)
            os.rename(staging, self._uploads / upload.upload_id)
        return upload

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: BinaryIO,
                    keys: DataKeys | None = None) -> PartInfo:
        if not 1 <= number <= _MAX_PART_NUMBER:
            raise InvalidArgument(f"Part number must be an integer between 1 and {_MAX_PART_NUMBER}, inclusive")
        directory, upload = self._upload(bucket, key, upload_id)
        with self._scratch.spool() as spool:
            if upload.wrapped_key is None:
                record = spool.seal(_record(spool.feed(data), ObjectMeta()))
            else:
                sealed = SealingStream(data, self._data_key(keys, upload.wrapped_key, bucket, key), number)
                record = spool.seal(_record(spool.feed(sealed), ObjectMeta()) | {"plain_size": sealed.size})
            with self._lock:
                self._upload(bucket, key, upload_id)
                spool.publish(directory / str(number))
        return _part_info(number, record, encryption_of(upload.meta.headers))

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        directory, _ = self._upload(bucket, key, upload_id)
        try:
            numbers = sorted(int(name) for name in os.listdir(directory) if name.isdigit())
            return [_part_info(n, _read_file_record(directory / str(n))) for n in numbers]
        except FileNotFoundError:  # completed or aborted meanwhile
            raise _no_such_upload(upload_id) from None

    def complete_multipart(self, bucket: str, key: str, upload_id: str,
                           parts: list[tuple[int, str]]) -> ObjectInfo:
        check_part_list(parts)
        directory, upload = self._upload(bucket, key, upload_id)
        target = object_path(self._bucket_dir(bucket), key)
        with ExitStack() as stack, self._scratch.spool() as spool:
            opened = _open_parts(directory, parts, stack)
            for file, record in opened:
                spool.append(file, record["size"])
            etag = _multipart_etag([record["etag"] for _, record in opened])
            record = spool.seal(_record(etag, upload.meta, _completed_envelope(upload, parts, opened)))
            with self._lock:
                self._upload(bucket, key, upload_id)  # not completed or aborted meanwhile
                self._bucket_dir(bucket)
                _place(spool, target)
                trash = self._scratch.take(directory)
        shutil.rmtree(trash)
        return _object_info(bucket, key, record)

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        with self._lock:
            trash = self._scratch.take(self._upload(bucket, key, upload_id)[0])
        shutil.rmtree(trash)

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[UploadInfo]:
        self._bucket_dir(bucket)
        found = [u for u in self._all_uploads() if u.bucket == bucket and u.key.startswith(prefix)]
        return sorted(found, key=lambda u: (u.key, u.initiated))

    # -- helpers ---------------------------------------------------------------------------
    def _bucket_dir(self, bucket: str) -> Path:
        """The bucket's directory; raise NoSuchBucket (also for names no bucket can have)."""
        path = self.root / bucket
        if not _is_bucket_name(bucket) or not (path / _BUCKET_FILE).is_file():
            raise _no_such_bucket(bucket)
        return path

    def _write(self, bucket: str, key: str, data: _Readable, meta: ObjectMeta,
               data_key: DataKey | None = None) -> ObjectInfo:
        """Stream data (sealed under data_key if given) into a temp file, then rename it over the key's file
        (put and copy)."""
        target = object_path(self._bucket_dir(bucket), key)
        with self._scratch.spool() as spool:
            if data_key is None:
                record = spool.seal(_record(spool.feed(data), meta))
            else:
                sealed = SealingStream(data, data_key.plaintext)
                etag = spool.feed(sealed)
                record = spool.seal(_record(etag, meta, Envelope(data_key.ciphertext_blob, (Run(0, sealed.size),))))
            with self._lock:
                self._bucket_dir(bucket)  # not deleted while the data streamed in
                _place(spool, target)
        return _object_info(bucket, key, record)

    def _open_object(self, bucket: str, key: str) -> tuple[BinaryIO, dict[str, Any]]:
        path = object_path(self._bucket_dir(bucket), key)
        try:
            file = path.open("rb")
        except FileNotFoundError:
            raise NoSuchKey(f"The specified key does not exist: {key!r}") from None
        try:
            return file, _read_record(file)
        except BaseException:
            file.close()
            raise

    def _upload(self, bucket: str, key: str, upload_id: str) -> tuple[Path, UploadInfo]:
        """The upload and its directory; raise NoSuchUpload unless it is an upload of this bucket and key."""
        directory = self._uploads / upload_id
        upload = _read_upload(directory) if _UPLOAD_ID.fullmatch(upload_id) else None
        if upload is None or (upload.bucket, upload.key) != (bucket, key):
            raise _no_such_upload(upload_id)
        return directory, upload

    def _all_uploads(self) -> Iterator[UploadInfo]:
        for name in os.listdir(self._uploads):
            if (upload := _read_upload(self._uploads / name)) is not None:
                yield upload

    # -- listing (last, as in ObjectStore) -------------------------------------------------
    def list(self, bucket: str, prefix: str = "", delimiter: str = "", start_after: str = "",
             max_keys: int = 1000) -> Listing:
        """See ObjectStore; walks only the directory of the prefix, and stops after max_keys + 1."""
        found = list(islice(listed(self._bucket_dir(bucket), prefix, delimiter, start_after), max_keys + 1))
        page = found[:max_keys]
        objects: list[ObjectInfo] = []
        common_prefixes: list[str] = []
        for key, path in page:
            if path is None:
                common_prefixes.append(key)
                continue
            with suppress(FileNotFoundError):  # deleted since the walk saw it
                objects.append(_object_info(bucket, key, _read_file_record(path)))
        return Listing(objects, common_prefixes, len(found) > max_keys, page[-1][0] if page else None)


class _Scratch:
    """One store's temp directory, <root>/.tmp/<id>. It is flock'd while the store lives, so a
    store opened later on the same root removes only the leftovers of stores that are gone."""

    def __init__(self, tmp_root: Path, durable: bool) -> None:
        self.durable = durable
        tmp_root.mkdir(parents=True, exist_ok=True)
        with _flocked(tmp_root / ".open"):  # one opening at a time: none sees another's unlocked dir
            _remove_leftovers(tmp_root)
            self.dir = Path(tempfile.mkdtemp(dir=tmp_root))
            fd = os.open(self.dir, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)
        weakref.finalize(self, os.close, fd)

    @contextmanager
    def spool(self) -> Iterator[_Spool]:
        """A temp file, removed on exit unless published."""
        spool = _Spool(self.dir, self.durable)
        try:
            yield spool
        finally:
            spool.discard()

    def make_dir(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self.dir))

    def take(self, path: Path) -> Path:
        """Move a file tree out of the namespace at once (one rename); return where it went, for the
        caller to delete once it has released the lock."""
        trash = self.dir / uuid.uuid4().hex
        os.rename(path, trash)
        return trash


class _Spool:
    """A temp file being written; `publish` renames it into place, `discard` removes it if it was not."""

    def __init__(self, directory: Path, durable: bool) -> None:
        fd, name = tempfile.mkstemp(dir=directory)
        self.path: Path | None = Path(name)
        self.file = os.fdopen(fd, "wb")
        self.size = 0
        self.durable = durable

    def feed(self, source: _Readable) -> str:
        """Copy source to its end; return the quoted MD5 of what was copied (S3's ETag)."""
        md5 = hashlib.md5()
        while chunk := source.read(_CHUNK):
            md5.update(chunk)
            self.file.write(chunk)
            self.size += len(chunk)
        return f'"{md5.hexdigest()}"'

    def append(self, source: BinaryIO, size: int) -> None:
        """Copy the first `size` bytes of an object or part file, in the kernel where it can."""
        self.file.flush()
        copied = 0
        with suppress(OSError):  # not on this system or between these filesystems: copy by hand below
            while copied < size:
                step = os.copy_file_range(source.fileno(), self.file.fileno(), size - copied, copied)
                if step == 0:
                    break
                copied += step
        source.seek(copied)
        while copied < size:
            chunk = source.read(min(_CHUNK, size - copied))
            if not chunk:
                raise ObjectStoreError(f"{source.name} is shorter than its recorded size")
            self.file.write(chunk)
            copied += len(chunk)
        self.size += size

    def seal(self, record: dict[str, Any]) -> dict[str, Any]:
        """Add the size to the record, write it after the data and flush it all to disk."""
        record["size"] = self.size
        body = json.dumps(record).encode()
        self.file.write(body + _TAIL.pack(len(body), _MAGIC))
        self.file.flush()
        if self.durable:
            os.fsync(self.file.fileno())
        self.file.close()
        return record

    def publish(self, target: Path) -> None:
        assert self.path is not None, "published twice"
        os.replace(self.path, target)
        self.path = None  # from here on the temp name may be another spool's

    def discard(self) -> None:
        self.file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class _FileReader(ObjectReader):
    """Reads an open object file; the data ends where the info begins."""

    def __init__(self, file: BinaryIO, info: ObjectInfo, byte_range: tuple[int, int] | None) -> None:
        self.info, self.range, self._file = info, byte_range, file
        first, last = byte_range or (0, info.size - 1)
        file.seek(first)
        self._left = last - first + 1

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(self._left if size < 0 else min(size, self._left))
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._file.close()


def _sealed_reader(file: BinaryIO, info: ObjectInfo, byte_range: tuple[int, int] | None, envelope: Envelope,
                   key: bytes) -> SealedReader:
    """A reader of an SSE-KMS object's plaintext, opening only the segments that hold the range."""
    first, last = byte_range or (0, info.size - 1)
    if last < first:  # the whole of an empty object
        return SealedReader(info, byte_range, iter(()), file.close)
    file.seek(stored_span(envelope.runs, first, last)[0])
    return SealedReader(info, byte_range, opened(file, key, envelope.runs, first, last), file.close)


def _place(spool: _Spool, target: Path) -> None:
    """Publish a sealed spool as target, making its directories (the caller holds the lock)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    spool.publish(target)


# -- records: the JSON after an object's or a part's data, and the bucket and upload files ----
def _record(etag: str, meta: ObjectMeta, envelope: Envelope | None = None) -> dict[str, Any]:
    record = {"etag": etag, "last_modified": _now().isoformat(), **_meta_fields(meta)}
    return record if envelope is None else record | {"envelope": envelope.encode()}


def _meta_fields(meta: ObjectMeta) -> dict[str, Any]:
    return {"content_type": meta.content_type, "metadata": dict(meta.metadata), "headers": dict(meta.headers)}


def _meta(record: dict[str, Any]) -> ObjectMeta:
    return ObjectMeta(record["content_type"], record["metadata"], record["headers"])


def _object_info(bucket: str, key: str, record: dict[str, Any]) -> ObjectInfo:
    modified = datetime.fromisoformat(record["last_modified"])
    size = Envelope.decode(record["envelope"]).size if "envelope" in record else record["size"]
    return ObjectInfo(bucket, key, size, record["etag"], modified, _meta(record))


def _part_info(number: int, record: dict[str, Any], encryption: Mapping[str, str] | None = None) -> PartInfo:
    modified = datetime.fromisoformat(record["last_modified"])
    return PartInfo(number, _part_size(record), record["etag"], modified, encryption or {})


def _part_size(record: dict[str, Any]) -> int:
    """A part's size as uploaded (its plaintext's, if it was sealed)."""
    size: int = record.get("plain_size", record["size"])
    return size


def _read_record(file: BinaryIO) -> dict[str, Any]:
    """The record at the end of an open object or part file."""
    file.seek(-_TAIL.size, os.SEEK_END)
    length, magic = _TAIL.unpack(file.read(_TAIL.size))
    if magic != _MAGIC:
        raise ObjectStoreError(f"{file.name} is not an object file")
    file.seek(-_TAIL.size - length, os.SEEK_END)
    record: dict[str, Any] = json.loads(file.read(length))
    return record


def _read_file_record(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        return _read_record(file)


def _read_bucket(bucket_dir: Path) -> BucketInfo | None:
    record = _bucket_record(bucket_dir)
    if record is None:
        return None
    return BucketInfo(bucket_dir.name, datetime.fromisoformat(record["created"]), record["region"])


def _bucket_record(bucket_dir: Path) -> dict[str, Any] | None:
    try:
        record: dict[str, Any] = json.loads((bucket_dir / _BUCKET_FILE).read_bytes())
    except (FileNotFoundError, NotADirectoryError):
        return None
    return record


def _read_upload(directory: Path) -> UploadInfo | None:
    try:
        record = json.loads((directory / _UPLOAD_FILE).read_bytes())
    except (FileNotFoundError, NotADirectoryError):
        return None
    initiated = datetime.fromisoformat(record["initiated"])
    wrapped = Envelope.decode(record["envelope"]).wrapped_key if "envelope" in record else None
    return UploadInfo(record["bucket"], record["key"], directory.name, initiated, _meta(record), wrapped)


def _write_json(path: Path, record: dict[str, Any]) -> None:
    with path.open("wb") as file:
        file.write(json.dumps(record).encode())
        file.flush()
        os.fsync(file.fileno())


# -- multipart -------------------------------------------------------------------------------
def _open_parts(directory: Path, parts: list[tuple[int, str]],
                stack: ExitStack) -> list[tuple[BinaryIO, dict[str, Any]]]:
    """Open the listed parts' files, checking each in turn as S3 does. Open files keep their
    content even if a part is uploaded again meanwhile."""
    opened: list[tuple[BinaryIO, dict[str, Any]]] = []
    for number, etag in parts:
        try:
            file = stack.enter_context((directory / str(number)).open("rb"))
        except FileNotFoundError:
            raise InvalidPart(f"Part {number} has not been uploaded") from None
        record = _read_record(file)
        if record["etag"].strip('"') != etag.strip('"'):
            raise InvalidPart(f"The ETag given for part {number} does not match the part's")
        if opened and _part_size(opened[-1][1]) < _MIN_PART_SIZE:
            raise EntityTooSmall("Your proposed upload is smaller than the minimum allowed size (5 MiB per part)")
        opened.append((file, record))
    return opened


def _completed_envelope(upload: UploadInfo, parts: list[tuple[int, str]],
                        opened: list[tuple[BinaryIO, dict[str, Any]]]) -> Envelope | None:
    """An SSE-KMS upload's object: a run per part, each part sealed under the upload's data key."""
    if upload.wrapped_key is None:
        return None
    return Envelope(upload.wrapped_key, tuple(Run(number, _part_size(record))
                                              for (number, _), (_, record) in zip(parts, opened, strict=True)))


def _multipart_etag(etags: list[str]) -> str:
    md5 = hashlib.md5(b"".join(bytes.fromhex(etag.strip('"')) for etag in etags))
    return f'"{md5.hexdigest()}-{len(etags)}"'


# -- small things ----------------------------------------------------------------------------
def _is_bucket_name(name: str) -> bool:
    try:
        check_bucket_name(name)
    except InvalidBucketName:
        return False
    return True


def _no_such_bucket(bucket: str) -> NoSuchBucket:
    return NoSuchBucket(f"The specified bucket does not exist: {bucket!r}")


def _no_such_upload(upload_id: str) -> NoSuchUpload:
    return NoSuchUpload(f"The specified multipart upload does not exist: {upload_id!r}")


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _flocked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _remove_leftovers(tmp_root: Path) -> None:
    """Remove what crashed or closed stores left in .tmp: everything but the dirs still flock'd."""
    for entry in os.scandir(tmp_root):
        if entry.name == ".open":
            continue
        if not entry.is_dir(follow_symlinks=False):
            os.unlink(entry.path)
        elif _is_unlocked(entry.path):
            shutil.rmtree(entry.path)


def _is_unlocked(path: str) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True
