"""A small made-up model with every shape feature the body codecs handle, for tests that
need a feature no real model of ours exercises (or exercises only deep inside)."""

from __future__ import annotations

from botocore.model import ServiceModel, Shape

_SHAPES = {
    "Thing": {"type": "structure", "members": {
        "Name": {"shape": "String", "locationName": "name"},
        "Count": {"shape": "Integer"},
        "Total": {"shape": "Long"},
        "Ratio": {"shape": "Double"},
        "Enabled": {"shape": "Boolean"},
        "When": {"shape": "Time"},
        "WhenIso": {"shape": "IsoTime"},
        "WhenHttp": {"shape": "HttpTime"},
        "Data": {"shape": "Blob"},
        "Labels": {"shape": "Labels"},
        "Flat": {"shape": "FlatMap", "locationName": "Pair"},
        "Items": {"shape": "Items"},
        "Named": {"shape": "NamedItems"},
        "Repeated": {"shape": "RepeatedItems", "locationName": "Repeat"},
        "Aliases": {"shape": "Aliases"},
        "Kind": {"shape": "String", "xmlAttribute": True, "locationName": "kind"},
        "Header": {"shape": "String", "location": "header", "locationName": "x-thing"},
        "Child": {"shape": "Child"},
        "Document": {"shape": "Document"},
    }},
    "Child": {"type": "structure", "members": {"Value": {"shape": "String"}}},
    "Labels": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "Integer"}},
    "FlatMap": {"type": "map", "flattened": True, "key": {"shape": "String", "locationName": "Left"},
                "value": {"shape": "String", "locationName": "Right"}},
    "Items": {"type": "list", "member": {"shape": "Child"}},
    "NamedItems": {"type": "list", "member": {"shape": "String", "locationName": "Item"}},
    "RepeatedItems": {"type": "list", "flattened": True, "member": {"shape": "Integer"}},
    "Aliases": {"type": "list", "flattened": True, "member": {"shape": "String", "locationName": "Alias"}},
    "Document": {"type": "structure", "members": {}, "document": True},
    "String": {"type": "string"},
    "Integer": {"type": "integer"},
    "Long": {"type": "long"},
    "Double": {"type": "double"},
    "Boolean": {"type": "boolean"},
    "Time": {"type": "timestamp"},
    "IsoTime": {"type": "timestamp", "timestampFormat": "iso8601"},
    "HttpTime": {"type": "timestamp", "timestampFormat": "rfc822"},
    "Blob": {"type": "blob"},
}


def thing_service(protocol: str) -> ServiceModel:
    """A service of the protocol with one operation, `Op`, taking and returning a Thing."""
    metadata = {"apiVersion": "2020-01-01", "protocol": protocol, "serviceId": "Things", "jsonVersion": "1.0",
                "targetPrefix": "Things", "endpointPrefix": "things"}
    operation = {"name": "Op", "http": {"method": "POST", "requestUri": "/"},
                 "input": {"shape": "Thing"}, "output": {"shape": "Thing", "resultWrapper": "OpResult"}}
    return ServiceModel({"metadata": metadata, "operations": {"Op": operation}, "shapes": _SHAPES})


def thing() -> Shape:
    """The structure `Thing`: every member kind, locationNames, flattened and wrapped lists and
    maps, an xmlAttribute, a header member (outside any body) and a document."""
    return thing_service("json").shape_for("Thing")
