"""An S3 endpoint that reads every request body and throws it away: the ceiling a client can reach.

    python benchmarks/null_s3.py PORT

It answers just enough of S3 for boto3's upload_file (CreateMultipartUpload, UploadPart,
CompleteMultipartUpload, PutObject) to run; the benchmark uses it to show how fast the client
itself can send on this machine, so the servers' figures can be read against it.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

_CREATED = (b'<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>bench</Bucket>'
            b"<Key>big.bin</Key><UploadId>null</UploadId></InitiateMultipartUploadResult>")
_COMPLETED = (b'<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult>'
              b'<ETag>"null-1"</ETag></CompleteMultipartUploadResult>')


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    query, post = scope["query_string"], scope["method"] == "POST"
    body = _CREATED if post and b"uploads" in query else _COMPLETED if post and b"uploadId" in query else b""
    headers = [(b"etag", b'"null"'), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("port", type=int, help="the loopback port to listen on")
    uvicorn.run(app, host="127.0.0.1", port=parser.parse_args().port, log_level="warning", loop="uvloop",
                http="httptools")
