"""The OCI distribution API (Docker Registry HTTP API v2) under `/v2/`: what `docker push`/`podman pull` speak.

`/v2/` is free: an S3 bucket name has at least 3 characters. The registry is ECR's: its host is
`<account>.dkr.ecr.<region>.amazonaws.com`, which names the region in the Host header. Under
`localhost:<port>` or `127.0.0.1:<port>` the region is the home one, unless the path's first component
is a region name (`/v2/eu-west-3/<repository>/...`), so that a registries.conf entry can map an ECR
host to `127.0.0.1:<port>/<region>` (a repository whose first component is a region's name can be
reached only through the ECR host then).

Every request needs Basic credentials, user `AWS` and the password of an ECR authorization token
(`aws ecr get-login-password`); without them, or with a password that is not a token the server gave or one past
its expiry (services/registry.py: check_login), the answer is 401 with a Basic challenge. In `open` auth mode any
password will do, as any access key does.

The handlers are plain functions, run in worker threads: they stream request bodies (api/body.py)
into the object store and blobs out of it (api/streaming.py), never holding a layer in memory.
Errors are the spec's JSON, `{"errors": [{"code", "message", "detail"}]}`, with its statuses.
Also here: `POST /_modelbay/v1/registry/garbage-collection?region=&min_age_seconds=` (`modelbay images gc`).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from modelbay.api.body import RequestStream
from modelbay.api.streaming import payload_response
from modelbay.errors import AwsError, RequestTooLarge
from modelbay.platform import Regions, UnknownRegion, aws_regions
from modelbay.services.registry import (
    DEFAULT_MIN_AGE,
    MAX_MANIFEST_BYTES,
    REPOSITORY_NAME,
    Registry,
    RegistryError,
    check_login,
)
from modelbay.store.objects.base import InvalidRange, StoreUnavailable

log = logging.getLogger(__name__)

_STATUSES = {"BLOB_UNKNOWN": 404, "BLOB_UPLOAD_INVALID": 400, "BLOB_UPLOAD_UNKNOWN": 404, "DIGEST_INVALID": 400,
             "MANIFEST_BLOB_UNKNOWN": 400, "MANIFEST_INVALID": 400, "MANIFEST_UNKNOWN": 404, "NAME_INVALID": 400,
             "NAME_UNKNOWN": 404, "SIZE_INVALID": 400, "UNAUTHORIZED": 401, "DENIED": 403, "UNSUPPORTED": 405,
             "RANGE_INVALID": 416, "UNAVAILABLE": 503, "UNKNOWN": 500}
_ECR_HOST = re.compile(r"[0-9]{12}\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(:[0-9]+)?")
_RANGE = re.compile(r"(?:bytes=)?(\d*)-(\d*)")
# a path after /v2/: the repository, then what it asks for (the handlers' key)
_ACTIONS = [(re.compile(rf"(?P<repository>.+){suffix}"), action) for suffix, action in [
    (r"/blobs/uploads/?", "uploads"), (r"/blobs/uploads/(?P<ref>[^/]+)", "upload"), (r"/blobs/(?P<ref>[^/]+)", "blob"),
    (r"/manifests/(?P<ref>[^/]+)", "manifest"), (r"/tags/list", "tags")]]
_API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}


@dataclass(frozen=True)
class _Call:
    """A request as the handlers see it: the region's registry, the repository and what follows it."""

    request: Request
    registry: Registry
    base: str  # `/v2/` or `/v2/<region>/`: where the client's paths start
    repository: str
    ref: str | None
    max_bytes: int

    def body(self, max_bytes: int | None = None) -> RequestStream:
        return RequestStream(self.request.receive, self.request.headers, max_bytes or self.max_bytes)

    def location(self, rest: str) -> str:
        return f"{self.base}{self.repository}/{rest}"


def registry_routes(regions: Regions) -> list[Route]:
    def v2(request: Request) -> Response:  # plain: it reads the stores in a worker thread
        try:
            password = _password(request)
            if password is None:
                raise RegistryError("UNAUTHORIZED", "authentication required: log in with user AWS and the password "
                                    "of `aws ecr get-login-password`")
            check_login(regions.home, password)
            return _dispatch(request, regions)
        except RegistryError as error:
            return _error(error)
        except InvalidRange:
            return _error(RegistryError("RANGE_INVALID", "the requested range is not satisfiable"))
        except RequestTooLarge as error:
            return _error(RegistryError("SIZE_INVALID", error.message), status=413)
        except AwsError as error:  # a body cut short or malformed
            return _error(RegistryError("BLOB_UPLOAD_INVALID", error.message))
        except StoreUnavailable as error:
            return _error(RegistryError("UNAVAILABLE", f"the object store is unavailable: {error}"))
        except Exception:  # a bug: the client still gets the spec's error shape, and the log has the traceback
            log.exception("registry request %s %s failed", request.method, request.url.path)
            return _error(RegistryError("UNKNOWN", "an internal error occurred; the server's log says more"))

    def garbage_collection(request: Request) -> Response:
        try:
            platform = regions.get(request.query_params.get("region") or regions.home.settings.region)
            min_age = timedelta(seconds=float(request.query_params.get("min_age_seconds",
                                                                       DEFAULT_MIN_AGE.total_seconds())))
        except (UnknownRegion, ValueError, OverflowError) as error:
            return JSONResponse({"message": f"Invalid query parameter: {error}"}, status_code=400)
        garbage = Registry(platform).collect_garbage(min_age)
        return JSONResponse({"BlobsRemoved": garbage.blobs, "BytesFreed": garbage.bytes,
                             "UploadsRemoved": garbage.uploads})

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return [Route("/v2/{path:path}", v2, methods=methods),
            Route("/_modelbay/v1/registry/garbage-collection", garbage_collection, methods=["POST"])]


def _dispatch(request: Request, regions: Regions) -> Response:
    path = request.url.path.removeprefix("/v2/")
    region, base = _region(request, path, regions.home.settings.region)
    path = path.removeprefix(base.removeprefix("/v2/"))
    if not path:
        return JSONResponse({}, headers=_API_VERSION)
    try:
        registry = Registry(regions.get(region))
    except UnknownRegion:
        raise RegistryError("NAME_UNKNOWN", f"modelbay serves no region {region!r}") from None
    for pattern, action in _ACTIONS:
        found = _split(pattern, path)
        if found is not None:
            repository, ref = found
            call = _Call(request, registry, base, repository, ref, regions.home.settings.max_object_bytes)
            handler = _HANDLERS.get((action, request.method))
            if handler is None:
                raise RegistryError("UNSUPPORTED", f"{request.method} is not supported here")
            return handler(call)
    raise RegistryError("NAME_INVALID", f"no registry route matches {request.url.path}")


def _region(request: Request, path: str, home: str) -> tuple[str, str]:
    """The request's region and the path prefix that named it (`/v2/` when the host or home region did)."""
    host = _ECR_HOST.fullmatch(request.headers.get("host", ""))
    if host is not None:
        return host["region"], "/v2/"
    first = path.split("/", 1)[0]
    if first in aws_regions() and "/" in path:
        return first, f"/v2/{first}/"
    return home, "/v2/"


def _split(pattern: re.Pattern[str], path: str) -> tuple[str, str | None] | None:
    """(repository, reference) when `path` matches `pattern`; NAME_INVALID for a name ECR does not take."""
    match = pattern.fullmatch(path)
    if match is None:
        return None
    if not REPOSITORY_NAME.fullmatch(match["repository"]):
        raise RegistryError("NAME_INVALID", f"invalid repository name {match['repository']!r}")
    return match["repository"], match.groupdict().get("ref")


def _password(request: Request) -> str | None:
    """The password of the request's Basic credentials for user AWS; None without them."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password if user == "AWS" and password else None


# -- blobs -----------------------------------------------------------------------------------

def _start_upload(call: _Call) -> Response:
    """POST: a monolithic upload (`?digest=`), a cross-repository mount (`?mount=&from=`), or a new session."""
    params = call.request.query_params
    if "mount" in params and call.registry.mount(call.repository, params["mount"], params.get("from")):
        return _created(call, params["mount"])
    if "digest" in params:
        call.registry.put_blob(call.repository, params["digest"], call.body())
        return _created(call, params["digest"])
    upload = call.registry.start_upload(call.repository)
    return _upload_answer(call, upload.id, upload.size, 202)


def _upload_status(call: _Call) -> Response:
    upload = call.registry.upload(call.repository, _ref(call))
    return _upload_answer(call, upload.id, upload.size, 204)


def _append(call: _Call) -> Response:
    content_range = call.request.headers.get("content-range")
    start = None if content_range is None else _range(content_range)[0]
    upload = call.registry.append(call.repository, _ref(call), call.body(), start)
    return _upload_answer(call, upload.id, upload.size, 202)


def _finish_upload(call: _Call) -> Response:
    digest = call.request.query_params.get("digest")
    if digest is None:
        raise RegistryError("DIGEST_INVALID", "the digest query parameter is required to complete an upload")
    call.registry.finish_upload(call.repository, _ref(call), digest, call.body())
    return _created(call, digest)


def _cancel_upload(call: _Call) -> Response:
    call.registry.cancel_upload(call.repository, _ref(call))
    return Response(status_code=204, headers=_API_VERSION)


def _head_blob(call: _Call) -> Response:
    blob = call.registry.blob(call.repository, _ref(call), touch=True)
    return Response(status_code=200, headers={**_blob_headers(blob.digest), "Content-Length": str(blob.size)})


def _get_blob(call: _Call) -> Response:
    header = call.request.headers.get("range")
    reader = call.registry.open_blob(call.repository, _ref(call), None if header is None else _range(header))
    headers = {**_blob_headers(_ref(call)), "Content-Length": str(reader.info.size)}
    if reader.range is None:
        return payload_response(reader, 200, headers)
    first, last = reader.range
    headers |= {"Content-Length": str(last - first + 1), "Content-Range": f"bytes {first}-{last}/{reader.info.size}"}
    return payload_response(reader, 206, headers)


def _delete_blob(call: _Call) -> Response:
    raise RegistryError("UNSUPPORTED", "ECR deletes no blob: delete the images that name it, then run "
                        "`modelbay images gc`")


# -- manifests and tags ----------------------------------------------------------------------

def _put_manifest(call: _Call) -> Response:
    body = call.body(MAX_MANIFEST_BYTES).read()
    digest = call.registry.put_manifest(call.repository, _ref(call), call.request.headers.get("content-type"), body)
    return Response(status_code=201, headers={**_API_VERSION, "Location": call.location(f"manifests/{digest}"),
                                              "Docker-Content-Digest": digest, "Content-Length": "0"})


def _get_manifest(call: _Call) -> Response:
    image = call.registry.manifest(call.repository, _ref(call))
    body = image.raw_manifest.encode()
    headers = {**_API_VERSION, "Content-Type": image.media_type, "Docker-Content-Digest": image.digest,
               "Content-Length": str(len(body))}
    return Response(b"" if call.request.method == "HEAD" else body, 200, headers)


def _delete_manifest(call: _Call) -> Response:
    call.registry.delete_manifest(call.repository, _ref(call))
    return Response(status_code=202, headers=_API_VERSION)


def _tags(call: _Call) -> Response:
    params = call.request.query_params
    try:
        limit = None if params.get("n") is None else int(params["n"])
    except ValueError:
        raise RegistryError("UNSUPPORTED", f"n must be a number, not {params['n']!r}") from None
    tags, more = call.registry.tags(call.repository, limit, params.get("last"))
    headers = dict(_API_VERSION)
    if more and tags:
        query = urlencode({"n": limit, "last": tags[-1]})
        headers["Link"] = f'<{call.location("tags/list")}?{query}>; rel="next"'
    return JSONResponse({"name": call.repository, "tags": tags}, headers=headers)


_HANDLERS: dict[tuple[str, str], Callable[[_Call], Response]] = {
    ("uploads", "POST"): _start_upload,
    ("upload", "GET"): _upload_status, ("upload", "PATCH"): _append, ("upload", "PUT"): _finish_upload,
    ("upload", "DELETE"): _cancel_upload,
    ("blob", "HEAD"): _head_blob, ("blob", "GET"): _get_blob, ("blob", "DELETE"): _delete_blob,
    ("manifest", "PUT"): _put_manifest, ("manifest", "GET"): _get_manifest, ("manifest", "HEAD"): _get_manifest,
    ("manifest", "DELETE"): _delete_manifest,
    ("tags", "GET"): _tags,
}


# -- answers ---------------------------------------------------------------------------------

def _ref(call: _Call) -> str:
    assert call.ref is not None, "the route's pattern names a reference"
    return call.ref


def _range(header: str) -> tuple[int | None, int | None]:
    """A Range or Content-Range value, `bytes=<first>-<last>` or `<first>-<last>`; RANGE_INVALID otherwise."""
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.groups() == ("", ""):
        raise RegistryError("RANGE_INVALID", f"invalid range {header!r}")
    first, last = (int(group) if group else None for group in match.groups())
    return first, last


def _created(call: _Call, digest: str) -> Response:
    return Response(status_code=201, headers={**_blob_headers(digest), "Location": call.location(f"blobs/{digest}"),
                                              "Content-Length": "0"})


def _upload_answer(call: _Call, upload_id: str, size: int, status: int) -> Response:
    return Response(status_code=status, headers={
        **_API_VERSION, "Location": call.location(f"blobs/uploads/{upload_id}"), "Docker-Upload-UUID": upload_id,
        "Range": f"0-{max(size - 1, 0)}", "Content-Length": "0"})


def _blob_headers(digest: str) -> dict[str, str]:
    return {**_API_VERSION, "Docker-Content-Digest": digest, "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes"}


def _error(error: RegistryError, status: int | None = None) -> Response:
    headers = dict(_API_VERSION)
    if error.code == "UNAUTHORIZED":
        headers["WWW-Authenticate"] = 'Basic realm="modelbay",service="ecr.amazonaws.com"'
    body: dict[str, Any] = {"code": error.code, "message": error.message, "detail": error.detail}
    return JSONResponse({"errors": [body]}, status_code=status or _STATUSES[error.code], headers=headers)
