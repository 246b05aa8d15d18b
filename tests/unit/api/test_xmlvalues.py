"""XML values by shape: read what botocore's rest-xml serializer writes, write what its parsers read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element

import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from modelbay.api.xmlvalues import MALFORMED_XML, parse_xml, read_xml, write_xml, xml_bytes, xml_document
from modelbay.errors import SerializationError
from tests.unit.api.codec_harness import service_model
from tests.unit.api.shapes import thing

S3 = service_model("s3")
S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
MOMENT = datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=UTC)
EVERYTHING = {"Name": "n & <m>", "Count": -3, "Total": 2**40, "Ratio": 0.25, "Enabled": False, "When": MOMENT,
              "WhenHttp": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), "Data": b"\x00\xff", "Labels": {"a": 1, "b": 2},
              "Flat": {"x": "1", "y": ""}, "Items": [{"Value": "v1"}, {"Value": "v2"}], "Named": ["p", "q"],
              "Repeated": [5, 6], "Aliases": ["a1", "a2"], "Kind": "special", "Child": {"Value": "c"}}


def payload(operation: str, params: dict[str, Any]) -> tuple[Any, bytes]:
    """The payload shape of an S3 operation and the body botocore writes for `params`."""
    model = S3.operation_model(operation)
    body = create_serializer("rest-xml").serialize_to_request(params, model)["body"]
    return model.input_shape.members[model.input_shape.serialization["payload"]], body


def botocore_reads(shape: Any, body: bytes) -> Any:
    parsed = create_parser("rest-xml").parse({"body": body, "headers": {}, "status_code": 200}, shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


@pytest.mark.parametrize(("operation", "params"), [
    ("PutBucketTagging", {"Tagging": {"TagSet": [{"Key": "k", "Value": "v"}, {"Key": "e", "Value": ""}]}}),
    ("DeleteObjects", {"Delete": {"Objects": [{"Key": "a"}, {"Key": "b", "VersionId": "1"}], "Quiet": True}}),
    ("PutBucketAcl", {"AccessControlPolicy": {"Owner": {"ID": "o"}, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": "abc"}, "Permission": "READ"}]}}),
    ("PutBucketLifecycleConfiguration", {"LifecycleConfiguration": {"Rules": [
        {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
         "Expiration": {"Date": datetime(2030, 1, 1, tzinfo=UTC)}},
        {"Status": "Disabled", "Filter": {}, "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}]}}),
])
def test_reads_what_botocore_serializes(operation: str, params: dict[str, Any]) -> None:
    shape, body = payload(operation, {"Bucket": "b", **params})
    assert read_xml(shape, parse_xml(body)) == next(iter(params.values()))


def test_every_feature_round_trips_through_botocores_parser() -> None:
    root = Element("Thing")
    write_xml(root, "Thing", thing(), EVERYTHING)
    body = xml_bytes(root[0])
    assert botocore_reads(thing(), body) == EVERYTHING
    assert read_xml(thing(), parse_xml(body)) == EVERYTHING


def test_layout_of_lists_maps_and_attributes() -> None:
    body = xml_document("Thing", thing(), {"Kind": "k", "Named": ["p"], "Repeated": [1, 2], "Aliases": ["a"],
                                           "Labels": {"a": 1}, "Flat": {"x": "y"}, "Items": [],
                                           "Header": "not in the body"}, None)
    assert body == (b'<?xml version="1.0" encoding="UTF-8"?>\n<Thing kind="k"><Named><Item>p</Item></Named>'
                    b"<Repeat>1</Repeat><Repeat>2</Repeat><Alias>a</Alias><Labels><entry><key>a</key><value>1</value></entry></Labels>"
                    b"<Pair><Left>x</Left><Right>y</Right></Pair><Items></Items></Thing>")


def test_s3_list_output_round_trips_through_botocore() -> None:
    operation = S3.operation_model("ListObjectsV2")
    output = {"IsTruncated": False, "Name": "bkt", "Prefix": "", "KeyCount": 2, "MaxKeys": 1000,
              "Contents": [{"Key": "a", "LastModified": MOMENT, "ETag": '"x"', "Size": 3, "StorageClass": "STANDARD"},
                           {"Key": "b/c", "Size": 0}],
              "CommonPrefixes": [{"Prefix": "p/"}]}
    body = xml_document("ListBucketResult", operation.output_shape, output, S3_NAMESPACE)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="' + S3_NAMESPACE.encode())
    assert b"<Contents><Key>a</Key><LastModified>2024-05-06T07:08:09.250Z</LastModified>" in body
    assert b"<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>" in body
    assert botocore_reads(operation.output_shape, body) == output


def test_a_shapes_namespace_is_written_as_botocore_does() -> None:
    model = S3.operation_model("CreateBucket")
    shape = model.input_shape.members["CreateBucketConfiguration"]
    root = Element("root")
    write_xml(root, "CreateBucketConfiguration", shape, {"LocationConstraint": "eu-west-1"})
    expected = create_serializer("rest-xml").serialize_to_request(
        {"Bucket": "b", "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"}}, model)["body"]
    assert xml_bytes(root[0]).split(b"\n", 1)[1] == expected


def test_namespaces_are_stripped_from_tags_and_attributes() -> None:
    root = parse_xml(b'<?xml version="1.0"?><a:Thing xmlns:a="urn:a" xmlns:x="urn:x" x:kind="k"><a:name>n</a:name>'
                     b"<Unknown>ignored</Unknown></a:Thing>")
    assert read_xml(thing(), root) == {"Name": "n", "Kind": "k"}


@pytest.mark.parametrize("body", [
    b"", b"<a>", b"<a></b>", b"not xml", "<a>\u00e9</a>".encode("latin-1"),
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
    b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>',
    b'<?xml version="1.0"?><!doctype a><a/>',
])
def test_malformed_or_dangerous_xml_is_refused(body: bytes) -> None:
    with pytest.raises(SerializationError) as raised:
        parse_xml(body)
    assert raised.value.message == MALFORMED_XML


@pytest.mark.parametrize(("xml", "message"), [
    (b"<Thing><Count>abc</Count></Thing>", "Value 'abc' at 'count' is not a valid integer"),
    (b"<Thing><Count>1_000</Count></Thing>", "Value '1_000' at 'count' is not a valid integer"),
    (b"<Thing><Count>2147483648</Count></Thing>", "Value '2147483648' at 'count' is not a valid integer"),
    (b"<Thing><Enabled>yes</Enabled></Thing>", "Value 'yes' at 'enabled' is not a valid boolean"),
    (b"<Thing><Ratio>1.5x</Ratio></Thing>", "Value '1.5x' at 'ratio' is not a valid double"),
    (b"<Thing><When>soon</When></Thing>", "Value 'soon' at 'when' is not a valid timestamp"),
    (b"<Thing><Data>!!</Data></Thing>", "Value '!!' at 'data' is not a valid base64 blob"),
    (b"<Thing><Repeat>1</Repeat><Repeat>x</Repeat></Thing>", "Value 'x' at 'repeated.2.member' is not a valid integer"),
    (b"<Thing><Labels><entry><key>a</key><value>z</value></entry></Labels></Thing>",
     "Value 'z' at 'labels.a' is not a valid integer"),
    (b"<Thing><Labels><entry><value>1</value></entry></Labels></Thing>",
     "Value '<entry><value>1</value></entry>' at 'labels' is not a valid map entry (it has no key)"),
])
def test_a_wrong_type_names_its_member_path(xml: bytes, message: str) -> None:
    with pytest.raises(SerializationError) as raised:
        read_xml(thing(), parse_xml(xml))
    assert raised.value.message == message


def test_scalars_are_read_leniently_where_aws_is() -> None:
    xml = (b"<Thing><Count> +7 </Count><Ratio>-Infinity</Ratio><When>1714979289.25</When>"
           b"<WhenHttp>Mon, 06 May 2024 07:08:09 GMT</WhenHttp><Data>AP8=\n</Data><name> keep </name></Thing>")
    assert read_xml(thing(), parse_xml(xml)) == {
        "Count": 7, "Ratio": float("-inf"), "When": MOMENT, "WhenHttp": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        "Data": b"\x00\xff", "Name": " keep "}


def test_an_unknown_output_key_is_a_bug() -> None:
    with pytest.raises(KeyError, match="'Bogus' is not a member of Child"):
        xml_document("Thing", thing(), {"Child": {"Bogus": 1}}, None)


@pytest.mark.parametrize("value", [{"Count": "1"}, {"Labels": ["a"]}, {"Named": "p"}, {"Repeated": 5},
                                   {"Child": "c"}, {"When": "2024-01-01"}, {"Enabled": 1}])
def test_an_output_value_of_the_wrong_type_is_a_bug(value: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        xml_document("Thing", thing(), value, None)
