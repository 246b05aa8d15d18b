from __future__ import annotations

import botocore.session
import pytest

from modelbay.instance_types import AcceleratorKind, InstanceType, UnknownInstanceType, catalog, instance_type


def _enum_instance_types() -> set[str]:
    """Every ml.* value of the SageMaker model's *InstanceType enums (training, hosting, transform, processing,
    apps, notebooks, clusters, ...)."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    return {value for name in model.shape_names if name.endswith("InstanceType")
            for value in model.shape_for(name).enum or [] if value.startswith("ml.")}


def test_catalog_holds_every_type_botocore_names_and_no_other() -> None:
    # a botocore upgrade that adds instance types fails here until the data file has them
    assert set(catalog()) == _enum_instance_types()


def test_catalog_holds_what_the_types_offer() -> None:
    m5 = instance_type("ml.m5.large")
    assert (m5.vcpus, m5.memory_mib, m5.gpus, m5.price_per_hour, m5.accelerators) == (2, 8192, 0, 0.1152, None)
    assert m5.memory_bytes == 8 * 1024**3 and m5.family == "m5"
    assert (instance_type("ml.c4.2xlarge").vcpus, instance_type("ml.c4.2xlarge").memory_label) == (8, "15 GiB")
    g5 = instance_type("ml.g5.12xlarge")
    assert (g5.vcpus, g5.memory_label, g5.gpus) == (48, "192 GiB", 4)
    assert g5.accelerators is not None and g5.accelerators.label == "4 × NVIDIA A10G (24 GiB)"


def test_only_gpus_count_as_gpus() -> None:
    inf2 = instance_type("ml.inf2.24xlarge")
    assert inf2.accelerators is not None and inf2.accelerators.kind is AcceleratorKind.INFERENTIA
    assert (inf2.accelerators.count, inf2.gpus) == (6, 0)
    assert instance_type("ml.trn1.32xlarge").accelerators.kind is AcceleratorKind.TRAINIUM  # type: ignore[union-attr]


def test_every_type_has_sane_facts() -> None:
    for kind in catalog().values():
        assert kind.vcpus >= 1 and kind.memory_mib >= 1024, kind
        assert kind.price_per_hour is None or kind.price_per_hour > 0, kind
        assert kind.accelerators is None or kind.accelerators.count >= 1, kind


def test_unknown_type_says_where_the_known_ones_are() -> None:
    with pytest.raises(UnknownInstanceType) as caught:
        instance_type("ml.z9.huge")
    assert str(caught.value) == "unknown instance type 'ml.z9.huge'; `modelbay instance-types` lists them"
    assert isinstance(caught.value, KeyError)


def test_memory_label() -> None:
    assert instance_type("ml.c5.xlarge").memory_label == "8 GiB"
    assert instance_type("ml.c5n.large").memory_label == "5.25 GiB"
    assert InstanceType("ml.test.small", 1, 200).memory_label == "200 MiB"
