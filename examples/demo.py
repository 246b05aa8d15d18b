"""modelbay's end-to-end demo on the embedded defaults (SQLite metadata, local-folder objects).

Starts a server of its own, then talks to it only as AWS tools do: boto3's s3, sagemaker and
sts clients pointed at its URL.
"""

from __future__ import annotations

import csv
import io
import random

from botocore.exceptions import ClientError
from rich.console import Console

from modelbay.sdk import local_server

console = Console(markup=False)  # answers hold [brackets] that are not markup


def synthetic_dataset(rows: int = 500) -> bytes:
    """A small regression set: y = 3a - 2b + noise."""
    rng = random.Random(7)
    out = io.StringIO()
    writer = csv.writer(out)
    for _ in range(rows):
        a, b = rng.uniform(-1, 1), rng.uniform(-1, 1)
        writer.writerow([round(3 * a - 2 * b + rng.gauss(0, 0.1), 4), round(a, 4), round(b, 4)])
    return out.getvalue().encode()


def main() -> None:
    with local_server() as server:
        console.rule(f"modelbay server at {server.url} (data in {server.data_dir})")
        s3, sagemaker, sts = server.s3, server.sagemaker, server.client("sts")
        console.print("STS  GetCallerIdentity:", sts.get_caller_identity()["Arn"])

        s3.create_bucket(Bucket="demo")
        data = synthetic_dataset()
        s3.put_object(Bucket="demo", Key="train/data.csv", Body=data, ContentType="text/csv")
        s3.put_object(Bucket="demo", Key="validation/data.csv", Body=data[:2000], ContentType="text/csv")
        listing = s3.list_objects_v2(Bucket="demo", Delimiter="/")
        console.print("S3   prefixes in s3://demo:", [p["Prefix"] for p in listing["CommonPrefixes"]])
        head = s3.head_object(Bucket="demo", Key="train/data.csv")
        console.print(f"S3   train/data.csv: {head['ContentLength']} bytes, ETag {head['ETag']}")
        first_line = s3.get_object(Bucket="demo", Key="train/data.csv", Range="bytes=0-40")["Body"].read()
        console.print("S3   first bytes (ranged GET):", first_line.decode().splitlines()[0])

        arn = "arn:aws:sagemaker:us-east-1:000000000000:training-job/demo-job"
        sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "project", "Value": "demo"}])
        console.print("SageMaker ListTags:", sagemaker.list_tags(ResourceArn=arn)["Tags"])
        try:
            sagemaker.list_tags(ResourceArn="not-an-arn")
        except ClientError as error:
            console.print(f"SageMaker answers a bad request as AWS does: {error.response['Error']['Code']}: "
                          f"{error.response['Error']['Message']}")
        console.rule("done: the S3, SageMaker and STS APIs answered on one port")


if __name__ == "__main__":
    main()
