from __future__ import annotations

import pytest

from modelbay.runtime.instance_types import CATALOG, InstanceType, UnknownInstanceType, instance_type


def test_catalog_holds_what_the_types_offer() -> None:
    m5 = instance_type("ml.m5.large")
    assert (m5.vcpus, m5.memory_mib, m5.gpus, m5.price_per_hour) == (2, 8192, 0, 0.115)
    assert m5.memory_bytes == 8 * 1024**3
    assert instance_type("ml.p3.2xlarge").gpus == 1
    assert len(CATALOG) == 10


def test_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(UnknownInstanceType) as caught:
        instance_type("ml.z9.huge")
    assert "ml.z9.huge" in str(caught.value) and "ml.m5.large" in str(caught.value)
    assert isinstance(caught.value, KeyError)


def test_memory_label_uses_gib_when_whole() -> None:
    assert instance_type("ml.c5.xlarge").memory_label == "8 GiB"
    assert InstanceType("ml.test.small", 1, 200, 0, 0.0).memory_label == "200 MiB"
