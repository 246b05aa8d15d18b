"""S3ObjectStore: buckets of any S3-compatible service (MinIO, Ceph, AWS), through boto3.

Buckets map 1:1 to the remote's, multipart uploads to the remote's multipart uploads. This is
the only module that imports boto3; `_translated` turns its errors into the store's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from modelbay.store.objects.base import (
    SSE_MEMBERS,
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
    InvalidPartOrder,
    InvalidRange,
    KeyTooLong,
    Listing,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    NotSupported,
    ObjectInfo,
    ObjectMeta,
    ObjectReader,
    ObjectStore,
    ObjectStoreError,
    PartInfo,
    StoreUnavailable,
    UploadInfo,
    check_bucket_name,
    check_part_list,
    encrypted,
    encryption_of,
    is_kms,
    resolve_range,
)
from modelbay.store.objects.sealing import (
    Envelope,
    Readable,
    Run,
    SealedReader,
    SealingStream,
    opened,
    plain_size,
    stored_span,
)

_PART_SIZE = 8 * 1024 * 1024  # put() streams larger bodies as multipart uploads of parts this size
_CONTENT_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")
_CHECKSUMS = ("ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME", "ChecksumSHA1", "ChecksumSHA256")
# An SSE-KMS object's user metadata of the store's own: its algorithm, KMS key ARN and sealing Envelope.
_SEALED_ALGORITHM, _SEALED_KEY, _ENVELOPE = "modelbay-sse", "modelbay-sse-kms-key-id", "modelbay-envelope"
_ERRORS: dict[str, type[ObjectStoreError]] = {error.code: error for error in (
    NoSuchBucket, NoSuchKey, BucketNotEmpty, BucketAlreadyOwnedByYou, InvalidRange, NoSuchUpload,
    InvalidPart, InvalidPartOrder, EntityTooSmall, KeyTooLong, InvalidBucketName, InvalidArgument)}


@contextmanager
def _translated(not_found: type[ObjectStoreError] = NoSuchKey) -> Iterator[None]:
    """Raise the store's error for a boto3 one. A HEAD answer has no body, hence no error code:
    its bare 404 becomes `not_found`."""
    try:
        yield
    except ClientError as err:
        error = err.response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message") or str(err)
        if code in ("404", "NotFound"):
            raise not_found(message) from err
        if code in _ERRORS:
            raise _ERRORS[code](message) from err
        raise ObjectStoreError(f"{code}: {message}") from err
    except BotoCoreError as err:
        raise StoreUnavailable(f"the S3 service failed: {err}") from err


class S3ObjectStore(ObjectStore):
    """The store's buckets are the remote's.

    Where the remote cannot do exactly what the interface says:
    - Buckets are created in the remote's region (`region` here); the region asked for is ignored.
    - put() sends a body of 8 MiB or more as a multipart upload, so its ETag is a multipart one
      ('"<md5>-<parts>"'), and the checksum headers of such a body are not kept.
    - Listed objects and uploads carry no meta (S3 does not list it); head() has it.
    - copy() takes sources up to 5 GiB, as S3's CopyObject does.
    - The ObjectInfo returned by writes is read back with a HEAD request just after.
    - Writes name their encryption to the remote, the bucket's default included (read with
      GetBucketEncryption when the writer named none), so remotes that predate S3's default
      encryption record it too; a remote without a default configuration has SSE-S3.
    - An SSE-KMS object is sealed here (sealing.py) and stored as one run, its encryption and Envelope
      in user metadata of the store's own (`x-amz-meta-modelbay-*`, never shown as the object's); the
      remote encrypts the sealed bytes as it does by default. Its checksum headers are not kept, a
      listing gives its stored size (head() its plaintext's), a ranged read of it costs a HEAD first,
      a copy from or to it streams through this machine, and SSE-KMS multipart uploads are refused
      (NotSupported): the remote keeps no state of an upload's that could hold its data key.
    """

    def __init__(self, endpoint_url: str, access_key_id: str | None, secret_access_key: str | None,
                 region: str) -> None:
        self.region = region
        config = Config(s3={"addressing_style": "path"}, max_pool_connections=32,
                        request_checksum_calculation="when_required",  # store checksums only when given
                        response_checksum_validation="when_required", retries={"mode": "standard"})
        session = boto3.session.Session()  # clients are thread-safe, the default session is not
        self._client = session.client("s3", endpoint_url=endpoint_url, aws_access_key_id=access_key_id,
                                      aws_secret_access_key=secret_access_key, region_name=region,
                                      config=config)

    # -- buckets ---------------------------------------------------------------------------
    def create_bucket(self, bucket: str, region: str) -> BucketInfo:
        check_bucket_name(bucket)
        if self._bucket_exists(bucket):  # us-east-1 answers a second create with success
            raise BucketAlreadyOwnedByYou(f"You already own bucket {bucket!r}")
        location = {} if self.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": self.region}}
        with _translated():
            self._client.create_bucket(Bucket=bucket, **location)
        return self.head_bucket(bucket)

    def delete_bucket(self, bucket: str) -> None:
        with _translated():
            if self._client.list_multipart_uploads(Bucket=bucket, MaxUploads=1).get("Uploads"):
                raise BucketNotEmpty(f"The bucket {bucket!r} you tried to delete has multipart uploads")
            self._client.delete_bucket(Bucket=bucket)

    def head_bucket(self, bucket: str) -> BucketInfo:
        region = self._region_of(bucket)
        created = {b["Name"]: b["CreationDate"] for b in self._listed_buckets()}.get(bucket)
        if created is None:
            raise NoSuchBucket(f"The specified bucket does not exist: {bucket!r}")
        return BucketInfo(bucket, created, region)

    def list_buckets(self) -> list[BucketInfo]:
        found = [BucketInfo(b["Name"], b["CreationDate"], b.get("BucketRegion") or self._region_of(b["Name"]))
                 for b in self._listed_buckets()]
        return sorted(found, key=lambda info: info.name)

    def get_bucket_encryption(self, bucket: str) -> BucketEncryption:
        with _translated(not_found=NoSuchBucket):
            try:
                response = self._client.get_bucket_encryption(Bucket=bucket)
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") != "ServerSideEncryptionConfigurationNotFoundError":
                    raise
                return BucketEncryption()
        rule = response["ServerSideEncryptionConfiguration"]["Rules"][0]
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        return BucketEncryption(default.get("SSEAlgorithm", "AES256"), default.get("KMSMasterKeyID"),
                                rule.get("BucketKeyEnabled", False))

    def set_bucket_encryption(self, bucket: str, encryption: BucketEncryption) -> None:
        default = {"SSEAlgorithm": encryption.algorithm}
        if encryption.kms_key_id:
            default["KMSMasterKeyID"] = encryption.kms_key_id
        rule = {"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": encryption.bucket_key_enabled}
        with _translated(not_found=NoSuchBucket):
            self._client.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})

    # -- objects ---------------------------------------------------------------------------
    def put(self, bucket: str, key: str, data: BinaryIO, meta: ObjectMeta, keys: DataKeys | None = None) -> ObjectInfo:
        """See ObjectStore; a body of 8 MiB or more goes up as a multipart upload (see the class)."""
        meta, data_key = self._new_data_key(bucket, key, self._encrypted(bucket, meta), keys)
        body = data if data_key is None else SealingStream(data, data_key.plaintext)
        args = _write_args(meta) if data_key is None else _sealed_write_args(meta, data_key)
        first = _read_up_to(body, _PART_SIZE)
        if len(first) < _PART_SIZE:
            checksums = _checksum_args(meta) if data_key is None else {}
            with _translated():
                self._client.put_object(Bucket=bucket, Key=key, Body=first, **args, **checksums)
        else:
            self._put_multipart(bucket, key, first, body, args)
        return self.head(bucket, key)

    def open(self, bucket: str, key: str, byte_range: tuple[int | None, int | None] | None = None,
             keys: DataKeys | None = None) -> ObjectReader:
        """See ObjectStore; a ranged read of an SSE-KMS object asks twice: the first answer tells its layout."""
        ranged = {} if byte_range is None else {"Range": _range_header(byte_range)}
        with _translated():
            response = self._client.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED", **ranged)
        if _ENVELOPE not in response.get("Metadata", {}):
            return _BodyReader(bucket, key, response)
        body = response["Body"]
        try:
            info = _object_info(bucket, key, response, _stored_size(response))
            envelope = Envelope.decode(response["Metadata"][_ENVELOPE])
            data_key = self._data_key(keys, envelope.wrapped_key, bucket, key)
            if byte_range is None:
                return _sealed_reader(info, None, data_key, body)
        finally:
            if byte_range is not None:
                body.close()
        first, last = resolve_range(byte_range, info.size)
        start, end = stored_span(_runs(info), first, last)
        with _translated():
            again = self._client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}",
                                            IfMatch=response["ETag"])
        return _sealed_reader(info, (first, last), data_key, again["Body"])

    def head(self, bucket: str, key: str) -> ObjectInfo:
        try:
            with _translated(not_found=NoSuchKey):
                response = self._client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        except NoSuchKey:
            self._region_of(bucket)  # NoSuchBucket if that is why
            raise
        return _object_info(bucket, key, response, response["ContentLength"])

    def delete(self, bucket: str, key: str) -> None:
        with _translated():
            self._client.delete_object(Bucket=bucket, Key=key)

    def copy(self, src_bucket: str, src_key: str, bucket: str, key: str, meta: ObjectMeta | None,
             encryption: Mapping[str, str] | None = None, keys: DataKeys | None = None) -> ObjectInfo:
        """See ObjectStore; a server-side CopyObject, so the source has at most 5 GiB, unless the source or the
        copy is SSE-KMS: then it streams through (opened and put)."""
        target = self._encrypted(bucket, meta or ObjectMeta(), encryption)
        source = self.head(src_bucket, src_key)
        if is_kms(source.meta.headers) or is_kms(target.headers):
            with self.open(src_bucket, src_key, keys=keys) as reader:
                kept = self._encrypted(bucket, meta or encrypted(source.meta, {}), encryption)
                return self.put(bucket, key, reader, kept, keys)  # type: ignore[arg-type]  # a reader reads
        replaced = (encryption_of(target.headers) if meta is None
                    else {"MetadataDirective": "REPLACE", **_write_args(target)})
        with _translated():
            self._client.copy_object(CopySource={"Bucket": src_bucket, "Key": src_key}, Bucket=bucket, Key=key,
                                     **replaced)
        return self.head(bucket, key)

    # -- multipart uploads -----------------------------------------------------------------
    def create_multipart(self, bucket: str, key: str, meta: ObjectMeta, keys: DataKeys | None = None) -> UploadInfo:
        """See ObjectStore; `initiated` is this machine's clock (S3 does not answer it here). Raise NotSupported for
        an SSE-KMS upload (see the class)."""
        meta = self._encrypted(bucket, meta)
        if is_kms(meta.headers):
            raise NotSupported("The S3-compatible object store takes SSE-KMS objects in one request, not as "
                               "multipart uploads")
        with _translated():
            response = self._client.create_multipart_upload(Bucket=bucket, Key=key, **_write_args(meta))
        return UploadInfo(bucket, key, response["UploadId"], datetime.now(UTC), meta)

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: BinaryIO,
                    keys: DataKeys | None = None) -> PartInfo:
        """See ObjectStore; the part is spooled (to disk past 8 MiB) to learn its length first."""
        with tempfile.SpooledTemporaryFile(max_size=_PART_SIZE) as spool:
            while chunk := data.read(1024 * 1024):
                spool.write(chunk)
            size = spool.tell()
            spool.seek(0)
            with _translated(not_found=NoSuchUpload):
                response = self._client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id,
                                                    PartNumber=number, Body=spool, ContentLength=size)
        return PartInfo(number, size, response["ETag"], datetime.now(UTC), encryption_of(response))

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        pages = self._client.get_paginator("list_parts").paginate(Bucket=bucket, Key=key, UploadId=upload_id)
        with _translated(not_found=NoSuchUpload):
            return [PartInfo(p["PartNumber"], p["Size"], p["ETag"], p["LastModified"])
                    for page in pages for p in page.get("Parts", [])]

    def complete_multipart(self, bucket: str, key: str, upload_id: str,
                           parts: list[tuple[int, str]]) -> ObjectInfo:
        check_part_list(parts)
        listed = [{"PartNumber": number, "ETag": etag} for number, etag in parts]
        with _translated(not_found=NoSuchUpload):
            self._client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                                   MultipartUpload={"Parts": listed})
        return self.head(bucket, key)

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        with _translated(not_found=NoSuchUpload):
            self._client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)

    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[UploadInfo]:
        pages = self._client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
        with _translated():
            found = [UploadInfo(bucket, u["Key"], u["UploadId"], u["Initiated"])
                     for page in pages for u in page.get("Uploads", [])]
        return sorted(found, key=lambda u: (u.key, u.initiated))

    # -- helpers ---------------------------------------------------------------------------
    def _put_multipart(self, bucket: str, key: str, first: bytes, data: Readable, args: dict[str, Any]) -> None:
        """Upload `first` and the rest of `data` in parts, the object written with `args`; abort the upload if
        anything fails."""
        with _translated():
            upload_id = self._client.create_multipart_upload(Bucket=bucket, Key=key, **args)["UploadId"]
        try:
            parts: list[dict[str, Any]] = []
            chunk = first
            with _translated():
                while chunk:
                    response = self._client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id,
                                                        PartNumber=len(parts) + 1, Body=chunk)
                    parts.append({"PartNumber": len(parts) + 1, "ETag": response["ETag"]})
                    chunk = _read_up_to(data, _PART_SIZE)
                self._client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                                       MultipartUpload={"Parts": parts})
        except BaseException:
            with suppress(ClientError, BotoCoreError):
                self._client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            self._region_of(bucket)
        except NoSuchBucket:
            return False
        return True

    def _region_of(self, bucket: str) -> str:
        """The bucket's region as HeadBucket tells it; raise NoSuchBucket."""
        with _translated(not_found=NoSuchBucket):
            response = self._client.head_bucket(Bucket=bucket)
        region: str = response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-bucket-region", self.region)
        return region

    def _listed_buckets(self) -> list[dict[str, Any]]:
        pages = self._client.get_paginator("list_buckets").paginate()
        with _translated():
            return [bucket for page in pages for bucket in page.get("Buckets", [])]

    # -- listing (last, as in ObjectStore) -------------------------------------------------
    def list(self, bucket: str, prefix: str = "", delimiter: str = "", start_after: str = "",
             max_keys: int = 1000) -> Listing:
        """See ObjectStore; one ListObjectsV2 request (S3 answers at most 1000 keys per page)."""
        given = {"Prefix": prefix, "Delimiter": delimiter, "StartAfter": start_after}
        with _translated():
            response = self._client.list_objects_v2(Bucket=bucket, MaxKeys=max_keys,
                                                    **{name: value for name, value in given.items() if value})
        objects = [ObjectInfo(bucket, o["Key"], o["Size"], o["ETag"], o["LastModified"])
                   for o in response.get("Contents", [])]
        common = [p["Prefix"] for p in response.get("CommonPrefixes", [])]
        last = max([o.key for o in objects] + common, default=None)
        return Listing(objects, common, response["IsTruncated"], last)


class _BodyReader(ObjectReader):
    """A GetObject response's streaming body."""

    def __init__(self, bucket: str, key: str, response: dict[str, Any]) -> None:
        self._body = response["Body"]
        content_range = response.get("ContentRange")  # 'bytes 0-9/100'
        if content_range:
            span, _, total = content_range.removeprefix("bytes ").partition("/")
            first, _, last = span.partition("-")
            self.range: tuple[int, int] | None = (int(first), int(last))
            self.info = _object_info(bucket, key, response, int(total))
        else:
            self.range = None
            self.info = _object_info(bucket, key, response, response["ContentLength"])

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._body.read(None if size < 0 else size)
        return data

    def close(self) -> None:
        self._body.close()


def _object_info(bucket: str, key: str, response: dict[str, Any], size: int) -> ObjectInfo:
    """ObjectInfo from a HeadObject or GetObject response; `size` is the object's stored size."""
    headers = {name: response[name] for name in _CONTENT_HEADERS + _CHECKSUMS + SSE_MEMBERS if response.get(name)}
    metadata = dict(response.get("Metadata", {}))
    if _ENVELOPE in metadata:  # sealed here: its encryption is the store's, its size the plaintext's
        headers = {name: value for name, value in headers.items() if name in _CONTENT_HEADERS}
        headers |= {"ServerSideEncryption": metadata.pop(_SEALED_ALGORITHM), "SSEKMSKeyId": metadata.pop(_SEALED_KEY)}
        del metadata[_ENVELOPE]
        size = plain_size(size)
    meta = ObjectMeta(response.get("ContentType", "binary/octet-stream"), metadata, headers)
    return ObjectInfo(bucket, key, size, response["ETag"], response["LastModified"], meta)


def _stored_size(response: dict[str, Any]) -> int:
    """The object's stored size from a GetObject response, ranged or not."""
    content_range = response.get("ContentRange")  # 'bytes 0-9/100'
    return int(content_range.rpartition("/")[2]) if content_range else int(response["ContentLength"])


def _runs(info: ObjectInfo) -> tuple[Run, ...]:
    """An SSE-KMS object's layout here: one run (see the class)."""
    return (Run(0, info.size),)


def _sealed_reader(info: ObjectInfo, byte_range: tuple[int, int] | None, data_key: bytes,
                   body: Any) -> SealedReader:
    """The plaintext of an SSE-KMS object from a body of its stored bytes from the range's first segment on."""
    first, last = byte_range or (0, info.size - 1)
    chunks = opened(body, data_key, _runs(info), first, last) if first <= last else iter(())
    return SealedReader(info, byte_range, chunks, body.close)


def _sealed_write_args(meta: ObjectMeta, data_key: DataKey) -> dict[str, Any]:
    """PutObject / CreateMultipartUpload parameters for an object sealed here under `data_key`: its encryption in
    the store's own metadata, none asked of the remote."""
    plain = encrypted(meta, {})
    sealed = {_SEALED_ALGORITHM: meta.headers["ServerSideEncryption"], _SEALED_KEY: data_key.key_arn,
              _ENVELOPE: Envelope(data_key.ciphertext_blob).encode()}
    args = _write_args(plain)
    return args | {"Metadata": {**args["Metadata"], **sealed}}


def _write_args(meta: ObjectMeta) -> dict[str, Any]:
    """PutObject / CreateMultipartUpload / CopyObject parameters for an object's meta, bar checksums."""
    given = {name: meta.headers[name] for name in _CONTENT_HEADERS + SSE_MEMBERS if name in meta.headers}
    return {"ContentType": meta.content_type, "Metadata": dict(meta.metadata), **given}


def _checksum_args(meta: ObjectMeta) -> dict[str, str]:
    """PutObject parameters that store the given checksum (the algorithm too, as some servers need it)."""
    given = [name for name in _CHECKSUMS if name in meta.headers]
    if not given:
        return {}
    return {"ChecksumAlgorithm": given[0].removeprefix("Checksum"), given[0]: meta.headers[given[0]]}


def _range_header(byte_range: tuple[int | None, int | None]) -> str:
    """HTTP's Range; raise InvalidRange for the ranges that S3 would ignore rather than refuse."""
    first, last = byte_range
    if (first is None and not last) or (first is not None and last is not None and last < first):
        raise InvalidRange("The requested range is not satisfiable")
    return f"bytes={'' if first is None else first}-{'' if last is None else last}"


def _read_up_to(data: Readable, size: int) -> bytes:
    """Read `size` bytes, fewer only at the end of the stream (a read may return less)."""
    chunks, left = [], size
    while left > 0 and (chunk := data.read(left)):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
