"""modelbay.sdk.local_server(): a server of one's own, with ready clients."""

from __future__ import annotations

from pathlib import Path

from modelbay.sdk import local_server


def test_local_server_yields_a_working_server(tmp_path: Path) -> None:
    with local_server(tmp_path / "data") as server:
        assert server.url.startswith("http://127.0.0.1:")
        server.s3.create_bucket(Bucket="demo")
        server.s3.put_object(Bucket="demo", Key="k", Body=b"v")
        assert server.s3.get_object(Bucket="demo", Key="k")["Body"].read() == b"v"
        assert server.sagemaker.list_tags(ResourceArn="arn:aws:sagemaker:us-east-1:000000000000:model/m")["Tags"] == []
        assert server.client("sts").get_caller_identity()["Account"] == "000000000000"
    with local_server(tmp_path / "data") as again:  # same data directory: the object is still there
        assert again.s3.get_object(Bucket="demo", Key="k")["Body"].read() == b"v"
