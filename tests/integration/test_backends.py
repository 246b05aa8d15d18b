"""The server on its scale-out backends: PostgreSQL for metadata, an S3-compatible store for objects."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from botocore.exceptions import ClientError

from tests.conftest import POSTGRES_ADMIN_URL, client
from tests.helpers import modelbay_server, refusing_port
from tests.integration.test_regions import PARIS, in_region


@pytest.fixture
def postgres_database() -> Iterator[str]:
    name = "modelbay_it_" + uuid.uuid4().hex[:10]
    admin = sqlalchemy.create_engine(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_server_on_postgresql_and_s3_backends(tmp_path: Path, postgres_database: str, moto_url: str) -> None:
    env = {"MODELBAY_DATABASE_URL": postgres_database, "MODELBAY_S3_ENDPOINT_URL": moto_url,
           "MODELBAY_S3_ACCESS_KEY_ID": "testing", "MODELBAY_S3_SECRET_ACCESS_KEY": "testing"}
    arn = "arn:aws:sagemaker:us-east-1:000000000000:model/on-postgres"
    paris_arn = f"arn:aws:sagemaker:{PARIS}:000000000000:model/on-postgres"
    bucket = "pg-" + uuid.uuid4().hex[:8]
    with modelbay_server(tmp_path, env) as server:
        client(server.url, "sagemaker").add_tags(ResourceArn=arn, Tags=[{"Key": "db", "Value": "postgresql"}])
        in_region(server.url, "sagemaker", PARIS).add_tags(ResourceArn=paris_arn, Tags=[{"Key": "in", "Value": PARIS}])
        s3 = client(server.url, "s3")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="through/modelbay", Body=b"stored in moto")
    backend = client(moto_url, "s3")  # the bytes really live in the S3-compatible service
    assert backend.get_object(Bucket=bucket, Key="through/modelbay")["Body"].read() == b"stored in moto"
    with modelbay_server(tmp_path, env) as server:  # and the metadata in PostgreSQL, across restarts
        tags = client(server.url, "sagemaker").list_tags(ResourceArn=arn)["Tags"]
        assert tags == [{"Key": "db", "Value": "postgresql"}]
        paris = in_region(server.url, "sagemaker", PARIS)  # a second region, in a schema of its own
        assert paris.list_tags(ResourceArn=paris_arn)["Tags"] == [{"Key": "in", "Value": PARIS}]
        assert client(server.url, "sagemaker").list_tags(ResourceArn=paris_arn)["Tags"] == []
    assert not list(tmp_path.rglob("metadata.db"))
    database = sqlalchemy.create_engine(postgres_database)
    with database.connect() as connection:
        schemas = connection.execute(sqlalchemy.text("SELECT schema_name FROM information_schema.schemata")).scalars()
        assert "modelbay_eu_west_3" in list(schemas)
    database.dispose()


def test_an_unreachable_object_store_is_service_unavailable(tmp_path: Path) -> None:
    with refusing_port() as port:
        env = {"MODELBAY_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
               "MODELBAY_S3_ACCESS_KEY_ID": "testing", "MODELBAY_S3_SECRET_ACCESS_KEY": "testing"}
        with modelbay_server(tmp_path, env) as server, pytest.raises(ClientError) as caught:
            client(server.url, "s3").list_buckets()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert caught.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert "object store is unavailable" in caught.value.response["Error"]["Message"]
