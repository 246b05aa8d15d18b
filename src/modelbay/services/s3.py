"""S3 over the object store: buckets, objects, listings, copies and multipart uploads.

Params arrive bound from the S3 model (URI labels, headers, query, XML payload); a PutObject or
UploadPart `Body` is a readable stream that raises BadDigest at its end when a checksum or
Content-MD5 does not match, so the store throws the half-written object away.

The registry's bucket (store/metadata/images.REGISTRY_BUCKET) is not the S3 API's: ListBuckets leaves it
out, CreateBucket answers that its name is taken, and every other operation that names it (a copy's
source too) answers NoSuchBucket, so no S3 call reads or changes the layers pushed to the registry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote_plus, unquote

from modelbay.errors import AwsError, ServiceUnavailable, ValidationError, aws_error
from modelbay.services import s3_encryption
from modelbay.services.base import Context, Handler, Reply
from modelbay.services.s3_encryption import CallerKeys
from modelbay.store.metadata.images import REGISTRY_BUCKET
from modelbay.store.objects.base import (
    BucketEncryption,
    ObjectInfo,
    ObjectMeta,
    ObjectStoreError,
    StoreUnavailable,
    UploadInfo,
)

MAX_KEYS = 1000
MAX_PART_NUMBER = 10000
_STORED_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")

# The store's errors as S3 answers them: status and message.
_S3_ERRORS: dict[str, tuple[int, str]] = {
    "NoSuchBucket": (404, "The specified bucket does not exist"),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchUpload": (404, "The specified upload does not exist. The upload ID may be invalid, "
                          "or the upload may have been aborted or completed."),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty"),
    "BucketAlreadyOwnedByYou": (409, "Your previous request to create the named bucket succeeded "
                                     "and you already own it."),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "InvalidRange": (416, "The requested range is not satisfiable"),
    "InvalidPart": (400, "One or more of the specified parts could not be found. The part may not have "
                         "been uploaded, or the specified entity tag may not match the part's entity tag."),
    "InvalidPartOrder": (400, "The list of parts was not in ascending order. Parts must be ordered by part number."),
    "EntityTooSmall": (400, "Your proposed upload is smaller than the minimum allowed object size."),
    "KeyTooLongError": (400, "Your key is too long"),
    "NotImplemented": (501, "A header you provided implies functionality that is not implemented"),
}
_ERROR_CLASSES = {code: aws_error(code, status) for code, (status, _) in _S3_ERRORS.items()}
InvalidRequest = aws_error("InvalidRequest")
BucketAlreadyExists = aws_error("BucketAlreadyExists", 409)
InvalidArgument = aws_error("InvalidArgument")
MalformedXML = aws_error("MalformedXML")


@contextmanager
def _s3_errors(**fields: Any) -> Iterator[None]:
    """Translate the object store's errors into S3's, naming what was asked for, and KMS's refusals of an
    object's key (s3_encryption.kms_errors)."""
    try:
        with s3_encryption.kms_errors():
            yield
    except StoreUnavailable as error:
        raise ServiceUnavailable(f"The object store is unavailable: {error}") from error
    except ObjectStoreError as error:
        status_message = _S3_ERRORS.get(error.code)
        if status_message is None:
            raise
        raise _ERROR_CLASSES[error.code](status_message[1], **_error_fields(error.code, fields)) from error


def _error_fields(code: str, fields: dict[str, Any]) -> dict[str, Any]:
    wanted = {"NoSuchBucket": ("BucketName",), "NoSuchKey": ("Key",), "NoSuchUpload": ("UploadId",),
              "BucketNotEmpty": ("BucketName",), "BucketAlreadyOwnedByYou": ("BucketName",),
              "InvalidBucketName": ("BucketName",)}.get(code, ())
    return {name: fields[name] for name in wanted if fields.get(name) is not None}


def _owner(ctx: Context) -> dict[str, str]:
    return {"DisplayName": "modelbay", "ID": hashlib.sha256(ctx.principal.account_id.encode()).hexdigest()}


# -- buckets ---------------------------------------------------------------------------------

def list_buckets(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    prefix = params.get("Prefix", "")
    after = _decode_token(params.get("ContinuationToken"))
    limit = params.get("MaxBuckets", 10000)
    with _s3_errors():
        buckets = [b for b in ctx.objects.list_buckets()
                   if b.name.startswith(prefix) and b.name > after and b.name != REGISTRY_BUCKET]
    page = buckets[:limit]
    output: dict[str, Any] = {
        "Buckets": [{"Name": b.name, "CreationDate": b.created, "BucketRegion": b.region} for b in page],
        "Owner": _owner(ctx),
    }
    if prefix:
        output["Prefix"] = prefix
    if len(buckets) > limit:
        output["ContinuationToken"] = _encode_token(page[-1].name)
    return output


def create_bucket(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    bucket = params["Bucket"]
    region = (params.get("CreateBucketConfiguration") or {}).get("LocationConstraint") or ctx.region
    with _s3_errors(BucketName=bucket):
        ctx.objects.create_bucket(bucket, region)
    return {"Location": f"/{bucket}"}


def head_bucket(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with _s3_errors(BucketName=params["Bucket"]):
        info = ctx.objects.head_bucket(params["Bucket"])
    return {"BucketRegion": info.region}


def delete_bucket(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with _s3_errors(BucketName=params["Bucket"]):
        ctx.objects.delete_bucket(params["Bucket"])
    return {}


def get_bucket_location(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with _s3_errors(BucketName=params["Bucket"]):
        region = ctx.objects.head_bucket(params["Bucket"]).region
    return {} if region == "us-east-1" else {"LocationConstraint": region}  # S3's quirk for us-east-1


def put_bucket_encryption(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    encryption = s3_encryption.bucket_encryption(params["ServerSideEncryptionConfiguration"])
    with _s3_errors(BucketName=params["Bucket"]):
        ctx.objects.set_bucket_encryption(params["Bucket"], encryption)
    return {}


def get_bucket_encryption(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with _s3_errors(BucketName=params["Bucket"]):
        encryption = ctx.objects.get_bucket_encryption(params["Bucket"])
    return {"ServerSideEncryptionConfiguration": s3_encryption.configuration(encryption)}


def delete_bucket_encryption(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Back to SSE-S3, every bucket's default since January 2023 (S3 keeps no bucket unencrypted)."""
    with _s3_errors(BucketName=params["Bucket"]):
        ctx.objects.set_bucket_encryption(params["Bucket"], BucketEncryption())
    return {}


# -- objects ---------------------------------------------------------------------------------

def put_object(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    bucket, key = params["Bucket"], params["Key"]
    with _s3_errors(BucketName=bucket, Key=key):
        info = ctx.objects.put(bucket, key, params["Body"], _meta(params), CallerKeys(ctx))
    return {"ETag": info.etag, "Size": info.size, **_checksums_of(params), **s3_encryption.answered(info.meta.headers)}


def get_object(ctx: Context, params: dict[str, Any]) -> Reply:
    bucket, key = params["Bucket"], params["Key"]
    with _s3_errors(BucketName=bucket, Key=key):
        reader = ctx.objects.open(bucket, key, _byte_range(params.get("Range")), CallerKeys(ctx))
    output = {**_object_headers(ctx, reader.info, params), "Body": reader}
    if reader.range is None:
        return Reply(output, 200)
    first, last = reader.range
    output |= {"ContentLength": last - first + 1, "ContentRange": f"bytes {first}-{last}/{reader.info.size}"}
    return Reply(output, 206)


def head_object(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    bucket, key = params["Bucket"], params["Key"]
    with _s3_errors(BucketName=bucket, Key=key):
        info = ctx.objects.head(bucket, key)
    return _object_headers(ctx, info, params)


def delete_object(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with _s3_errors(BucketName=params["Bucket"], Key=params["Key"]):
        ctx.objects.delete(params["Bucket"], params["Key"])
    return {}


def delete_objects(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    bucket, request = params["Bucket"], params["Delete"]
    deleted: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    if not 1 <= len(request.get("Objects", [])) <= MAX_KEYS:  # S3's schema: 1 to 1,000 Object elements
        raise MalformedXML("The XML you provided was not well-formed or did not validate against our "
                           "published schema")
    with _s3_errors(BucketName=bucket):
        ctx.objects.head_bucket(bucket)
    for item in request.get("Objects", []):
        try:
            with _s3_errors(BucketName=bucket, Key=item["Key"]):
                ctx.objects.delete(bucket, item["Key"])
            deleted.append({"Key": item["Key"]})
        except AwsError as error:
            errors.append({"Key": item["Key"], "Code": error.code, "Message": error.message})
    output: dict[str, Any] = {"Errors": errors} if errors else {}
    if not request.get("Quiet"):
        output["Deleted"] = deleted
    return output


def copy_object(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    bucket, key = params["Bucket"], params["Key"]
    src_bucket, src_key = _copy_source(params["CopySource"])
    replace = params.get("MetadataDirective", "COPY") == "REPLACE"
    encryption = s3_encryption.requested(params)
    if (src_bucket, src_key) == (bucket, key) and not replace and not encryption:
        raise InvalidRequest("This copy request is illegal because it is trying to copy an object to itself "
                             "without changing the object's metadata, storage class, website redirect "
                             "location or encryption attributes.")
    with _s3_errors(BucketName=src_bucket, Key=src_key):
        info = ctx.objects.copy(src_bucket, src_key, bucket, key, _meta(params) if replace else None, encryption,
                                CallerKeys(ctx))
    return {"CopyObjectResult": {"ETag": info.etag, "LastModified": info.last_modified},
            **s3_encryption.answered(info.meta.headers)}


def list_objects_v2(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    token = params.get("ContinuationToken")
    start_after = _decode_token(token) if token else params.get("StartAfter", "")
    listing, output = _list(ctx, params, start_after)
    output["KeyCount"] = len(listing.objects) + len(listing.common_prefixes)
    for name in ("ContinuationToken", "StartAfter"):
        if params.get(name):
            output[name] = params[name] if name == "ContinuationToken" else _encoded(params, params[name])
    if listing.is_truncated and listing.next_marker is not None:
        output["NextContinuationToken"] = _encode_token(listing.next_marker)
    return output


def list_objects(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    marker = params.get("Marker", "")
    listing, output = _list(ctx, params, marker)
    output["Marker"] = _encoded(params, marker)
    if listing.is_truncated and params.get("Delimiter") and listing.next_marker is not None:
        output["NextMarker"] = _encoded(params, listing.next_marker)  # S3 sends it only with a delimiter
    return output


def _list(ctx: Context, params: dict[str, Any], start_after: str) -> tuple[Any, dict[str, Any]]:
    bucket, prefix, delimiter = params["Bucket"], params.get("Prefix", ""), params.get("Delimiter", "")
    max_keys = _page_size(params, "MaxKeys", "maxKeys")
    with _s3_errors(BucketName=bucket):
        listing = ctx.objects.list(bucket, prefix, delimiter, start_after, max_keys)
    output: dict[str, Any] = {
        "Name": bucket, "Prefix": _encoded(params, prefix), "MaxKeys": max_keys, "IsTruncated": listing.is_truncated,
        "Contents": [_listed(params, info) for info in listing.objects],
        "CommonPrefixes": [{"Prefix": _encoded(params, p)} for p in listing.common_prefixes],
    }
    if delimiter:
        output["Delimiter"] = _encoded(params, delimiter)
    if params.get("EncodingType"):
        output["EncodingType"] = params["EncodingType"]
    return listing, output


def _page_size(params: dict[str, Any], member: str, argument: str) -> int:
    """A listing's page size as S3 takes it: more than 1,000 is 1,000, a negative one an error."""
    size: int = params.get(member, MAX_KEYS)
    if size < 0:
        raise InvalidArgument(f"Argument {argument} must be an integer between 0 and 2147483647",
                              ArgumentName=argument, ArgumentValue=str(size))
    return min(size, MAX_KEYS)


def _listed(params: dict[str, Any], info: ObjectInfo) -> dict[str, Any]:
    return {"Key": _encoded(params, info.key), "LastModified": info.last_modified, "ETag": info.etag,
            "Size": info.size, "StorageClass": "STANDARD"}


# -- multipart uploads -----------------------------------------------------------------------

def create_multipart_upload(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    bucket, key = params["Bucket"], params["Key"]
    with _s3_errors(BucketName=bucket, Key=key):
        upload = ctx.objects.create_multipart(bucket, key, _meta(params), CallerKeys(ctx))
    return {"Bucket": bucket, "Key": key, "UploadId": upload.upload_id, **s3_encryption.answered(upload.meta.headers)}


def upload_part(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    number = _part_number(params["PartNumber"])
    with _s3_errors(BucketName=params["Bucket"], Key=params["Key"], UploadId=params["UploadId"]):
        part = ctx.objects.upload_part(params["Bucket"], params["Key"], params["UploadId"], number, params["Body"],
                                       CallerKeys(ctx))
    return {"ETag": part.etag, **_checksums_of(params), **s3_encryption.answered(part.encryption)}


def complete_multipart_upload(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    bucket, key, upload_id = params["Bucket"], params["Key"], params["UploadId"]
    listed = (params.get("MultipartUpload") or {}).get("Parts") or []
    if not listed:
        raise _ERROR_CLASSES["InvalidPart"]("You must specify at least one part")
    parts = [(_part_number(p.get("PartNumber", 0)), p.get("ETag", "")) for p in listed]
    with _s3_errors(BucketName=bucket, Key=key, UploadId=upload_id):
        info = ctx.objects.complete_multipart(bucket, key, upload_id, parts)
    return {"Location": f"/{bucket}/{quote_plus(key, safe='/')}", "Bucket": bucket, "Key": key, "ETag": info.etag,
            **s3_encryption.answered(info.meta.headers)}


def abort_multipart_upload(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with _s3_errors(BucketName=params["Bucket"], Key=params["Key"], UploadId=params["UploadId"]):
        ctx.objects.abort_multipart(params["Bucket"], params["Key"], params["UploadId"])
    return {}


def list_parts(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    bucket, key, upload_id = params["Bucket"], params["Key"], params["UploadId"]
    marker, limit = params.get("PartNumberMarker", 0), _page_size(params, "MaxParts", "max-parts")
    with _s3_errors(BucketName=bucket, Key=key, UploadId=upload_id):
        parts = [p for p in ctx.objects.list_parts(bucket, key, upload_id) if p.number > marker]
    page = parts[:limit]
    output: dict[str, Any] = {
        "Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumberMarker": marker, "MaxParts": limit,
        "IsTruncated": len(parts) > limit, "StorageClass": "STANDARD",
        "Initiator": {"ID": _owner(ctx)["ID"], "DisplayName": "modelbay"}, "Owner": _owner(ctx),
        "Parts": [{"PartNumber": p.number, "LastModified": p.last_modified, "ETag": p.etag, "Size": p.size}
                  for p in page],
    }
    if page:
        output["NextPartNumberMarker"] = page[-1].number
    return output


def list_multipart_uploads(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    bucket, prefix = params["Bucket"], params.get("Prefix", "")
    key_marker, id_marker = params.get("KeyMarker", ""), params.get("UploadIdMarker", "")
    limit = _page_size(params, "MaxUploads", "max-uploads")
    with _s3_errors(BucketName=bucket):
        uploads = [u for u in ctx.objects.list_multipart_uploads(bucket, prefix)
                   if (u.key, u.upload_id) > (key_marker, id_marker if key_marker else "")]
    page = uploads[:limit]
    output: dict[str, Any] = {
        "Bucket": bucket, "KeyMarker": _encoded(params, key_marker), "UploadIdMarker": id_marker,
        "MaxUploads": limit, "IsTruncated": len(uploads) > limit,
        "Uploads": [_upload(ctx, params, u) for u in page],
    }
    if prefix:
        output["Prefix"] = _encoded(params, prefix)
    if len(uploads) > limit:
        output |= {"NextKeyMarker": _encoded(params, page[-1].key), "NextUploadIdMarker": page[-1].upload_id}
    if params.get("EncodingType"):
        output["EncodingType"] = params["EncodingType"]
    return output


def _upload(ctx: Context, params: dict[str, Any], upload: UploadInfo) -> dict[str, Any]:
    owner = _owner(ctx)
    return {"UploadId": upload.upload_id, "Key": _encoded(params, upload.key), "Initiated": upload.initiated,
            "StorageClass": "STANDARD", "Owner": owner, "Initiator": owner}


# -- helpers ---------------------------------------------------------------------------------

def _meta(params: dict[str, Any]) -> ObjectMeta:
    headers = {name: params[name] for name in _STORED_HEADERS if params.get(name)} | s3_encryption.requested(params)
    encodings = [e.strip() for e in headers.pop("ContentEncoding", "").split(",") if e.strip()]
    encodings = [e for e in encodings if e != "aws-chunked"]  # a transfer framing, not the object's encoding
    if encodings:
        headers["ContentEncoding"] = ", ".join(encodings)
    return ObjectMeta(content_type=params.get("ContentType") or "binary/octet-stream",
                      metadata=dict(params.get("Metadata") or {}), headers=headers)


def _object_headers(ctx: Context, info: ObjectInfo, params: dict[str, Any]) -> dict[str, Any]:
    output: dict[str, Any] = {
        "ETag": info.etag, "ContentLength": info.size, "ContentType": info.meta.content_type,
        "LastModified": info.last_modified, "AcceptRanges": "bytes", **info.meta.headers,
    }
    if info.meta.metadata:
        output["Metadata"] = dict(info.meta.metadata)
    output |= s3_encryption.answered(info.meta.headers)
    for name in ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage", "ContentType"):
        override = params.get(f"Response{name}")
        if override:
            output[name] = override
    return output


def _checksums_of(params: dict[str, Any]) -> dict[str, str]:
    """The checksums the body stream verified, to echo them as S3 does."""
    found = getattr(params.get("Body"), "checksums", None) or {}
    return {name: value for name, value in found.items() if name.startswith("Checksum")}


def _byte_range(header: str | None) -> tuple[int | None, int | None] | None:
    """An HTTP Range header as (first, last); S3 ignores a range it cannot read, so do we."""
    match = _RANGE.match(header or "")
    if match is None or match.groups() == ("", ""):
        return None
    first, last = (int(g) if g else None for g in match.groups())
    if first is not None and last is not None and last < first:
        return None
    return first, last


def _copy_source(source: str) -> tuple[str, str]:
    path = unquote(source.split("?", 1)[0]).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise InvalidRequest(f"Copy Source must mention the source bucket and key: sourcebucket/sourcekey; "
                             f"got {source!r}")
    return bucket, key


def _part_number(number: int) -> int:
    if not 1 <= number <= MAX_PART_NUMBER:
        raise ValidationError(f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive",
                              ArgumentName="partNumber", ArgumentValue=str(number))
    return number


def _encoded(params: dict[str, Any], value: str) -> str:
    """Listing values, URL-encoded when the client asked for EncodingType=url (botocore always does)."""
    return quote_plus(value, safe="/") if params.get("EncodingType") == "url" else value


def _encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _decode_token(token: str | None) -> str:
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise ValidationError("The continuation token provided is incorrect",
                              ArgumentName="continuation-token") from error


def _refusing_registry_bucket(handler: Handler) -> Handler:
    """The handler, answering as if the registry's bucket were someone else's (see the module docstring)."""

    def refusing(ctx: Context, params: dict[str, Any]) -> Any:
        named = {params.get("Bucket"), _copy_source(params["CopySource"])[0] if "CopySource" in params else None}
        if REGISTRY_BUCKET in named and handler is create_bucket:
            raise BucketAlreadyExists("The requested bucket name is not available. The bucket namespace is shared "
                                      "by all users of the system. Please select a different name and try again.",
                                      BucketName=REGISTRY_BUCKET)
        if REGISTRY_BUCKET in named:
            raise _ERROR_CLASSES["NoSuchBucket"](_S3_ERRORS["NoSuchBucket"][1], BucketName=REGISTRY_BUCKET)
        return handler(ctx, params)

    refusing.__name__ = refusing.__qualname__ = getattr(handler, "__name__", "handler")
    return refusing


_HANDLERS: dict[str, Handler] = {
    "ListBuckets": list_buckets,
    "CreateBucket": create_bucket,
    "HeadBucket": head_bucket,
    "DeleteBucket": delete_bucket,
    "GetBucketLocation": get_bucket_location,
    "PutBucketEncryption": put_bucket_encryption,
    "GetBucketEncryption": get_bucket_encryption,
    "DeleteBucketEncryption": delete_bucket_encryption,
    "PutObject": put_object,
    "GetObject": get_object,
    "HeadObject": head_object,
    "DeleteObject": delete_object,
    "DeleteObjects": delete_objects,
    "CopyObject": copy_object,
    "ListObjects": list_objects,
    "ListObjectsV2": list_objects_v2,
    "CreateMultipartUpload": create_multipart_upload,
    "UploadPart": upload_part,
    "CompleteMultipartUpload": complete_multipart_upload,
    "AbortMultipartUpload": abort_multipart_upload,
    "ListParts": list_parts,
    "ListMultipartUploads": list_multipart_uploads,
}
OPERATIONS: dict[str, Handler] = {name: _refusing_registry_bucket(handler) for name, handler in _HANDLERS.items()}
