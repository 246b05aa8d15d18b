"""Session: the boto3 clients for one modelbay server and the defaults the SageMaker SDK derives from them."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from modelbay.sdk.clients import client, resolve_url


class Session:
    """Clients for SageMaker, S3, CloudWatch Logs and (made on first use) sagemaker-runtime on the server at `url`
    (see `resolve_url`).

    `account_id` is asked of STS once; `default_bucket()` creates its bucket on first use. `region` is the
    clients' (default: the AWS configuration's, else us-east-1).
    """

    def __init__(self, url: str | None = None, region: str | None = None) -> None:
        self.url, self._region_name = resolve_url(url), region
        self.sagemaker: Any = self._client("sagemaker")
        self.s3: Any = self._client("s3")
        self.logs: Any = self._client("logs")
        self._bucket: str | None = None

    def _client(self, service: str) -> Any:
        return client(service, self.url, region_name=self._region_name)

    @cached_property
    def runtime(self) -> Any:
        """The sagemaker-runtime client, for InvokeEndpoint."""
        return self._client("sagemaker-runtime")

    @property
    def region(self) -> str:
        return str(self.sagemaker.meta.region_name)

    @cached_property
    def account_id(self) -> str:
        return str(self._client("sts").get_caller_identity()["Account"])

    def default_bucket(self) -> str:
        """`sagemaker-<region>-<account>`, as the SageMaker SDK names it; created if it does not exist yet."""
        if self._bucket is None:
            name = f"sagemaker-{self.region}-{self.account_id}"
            self._create_bucket(name)
            self._bucket = name
        return self._bucket

    def upload_data(self, path: str | Path, bucket: str | None = None, key_prefix: str = "data") -> str:
        """Upload a file to `<key_prefix>/<name>`, or a directory's files under `<key_prefix>/` keeping their
        relative paths, into `bucket` (the default bucket unless given).

        Returns the s3:// URI of the file, or of the prefix for a directory, as the SageMaker SDK does.
        """
        source, bucket = Path(path), bucket or self.default_bucket()
        if not source.is_dir():
            key = f"{key_prefix}/{source.name}"
            self.s3.upload_file(str(source), bucket, key)
            return f"s3://{bucket}/{key}"
        for file in sorted(p for p in source.rglob("*") if p.is_file()):
            self.s3.upload_file(str(file), bucket, f"{key_prefix}/{file.relative_to(source).as_posix()}")
        return f"s3://{bucket}/{key_prefix}"

    def _create_bucket(self, name: str) -> None:
        where = {} if self.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": self.region}}  # S3 rejects us-east-1 here
        try:
            self.s3.create_bucket(Bucket=name, **where)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise


def default_role(account_id: str) -> str:
    """The execution role sent where the user names none: SageMaker's API asks for one."""
    return f"arn:aws:iam::{account_id}:role/SageMakerRole"
