"""Object storage: the ObjectStore interface, its backends, and the URIs that name objects."""

from __future__ import annotations

from modelbay.config import Settings
from modelbay.store.objects.base import (
    SSE_MEMBERS,
    BucketAlreadyOwnedByYou,
    BucketEncryption,
    BucketInfo,
    BucketNotEmpty,
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
    ObjectInfo,
    ObjectMeta,
    ObjectReader,
    ObjectStore,
    ObjectStoreError,
    PartInfo,
    UploadInfo,
    check_bucket_name,
    check_part_list,
    encryption_of,
)
from modelbay.store.objects.local import LocalObjectStore
from modelbay.store.objects.uris import FileLocation, S3Location, parse_uri

__all__ = [
    "SSE_MEMBERS",
    "BucketAlreadyOwnedByYou",
    "BucketEncryption",
    "BucketInfo",
    "BucketNotEmpty",
    "EntityTooSmall",
    "FileLocation",
    "InvalidArgument",
    "InvalidBucketName",
    "InvalidPart",
    "InvalidPartOrder",
    "InvalidRange",
    "KeyTooLong",
    "Listing",
    "LocalObjectStore",
    "NoSuchBucket",
    "NoSuchKey",
    "NoSuchUpload",
    "ObjectInfo",
    "ObjectMeta",
    "ObjectReader",
    "ObjectStore",
    "ObjectStoreError",
    "PartInfo",
    "S3Location",
    "UploadInfo",
    "check_bucket_name",
    "check_part_list",
    "encryption_of",
    "open_object_store",
    "parse_uri",
]


def open_object_store(settings: Settings) -> ObjectStore:
    """The S3-compatible backend when settings.s3_endpoint_url is set (credentials left None come from
    boto3's usual chain), else the local folder one under settings.objects_dir."""
    if settings.s3_endpoint_url:
        from modelbay.store.objects.s3 import S3ObjectStore  # boto3 loads only here

        return S3ObjectStore(settings.s3_endpoint_url, settings.s3_access_key_id, settings.s3_secret_access_key,
                             settings.s3_region)
    return LocalObjectStore(settings.objects_dir, durable=settings.fsync)
