"""Targets resolved to what this machine builds, refused with the reason otherwise."""

from __future__ import annotations

import shutil

import pytest

from modelbay import compilation_targets
from modelbay.compilation_targets import UnsupportedTarget, resolve


def test_an_ml_instance_of_this_architecture_builds_native_code_with_gcc() -> None:
    target = resolve({"TargetDevice": "ml_c5"}, "XGBOOST")
    assert (target.os, target.arch, target.accelerator, target.instance_family) == ("linux", "x86_64", None, "ml.c5")
    assert target.as_config()["CCompiler"] == "gcc" and target.as_config()["SharedLibrarySuffix"] == ".so"


@pytest.mark.parametrize("device", ["ml_p3", "ml_g4dn", "ml_inf1", "ml_trn1", "jetson_nano", "rk3399", "coreml"])
def test_accelerators_are_refused_with_the_reason(device: str) -> None:
    with pytest.raises(UnsupportedTarget, match=f"cannot compile for {device}: "):
        resolve({"TargetDevice": device}, "SKLEARN")


def test_native_code_for_arm_needs_the_cross_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda program: None if "aarch64" in program else f"/usr/bin/{program}")
    with pytest.raises(UnsupportedTarget, match="aarch64-linux-gnu-gcc on PATH \\(install gcc-aarch64-linux-gnu\\)"):
        resolve({"TargetDevice": "ml_m6g"}, "XGBOOST")
    onnx_only = resolve({"TargetDevice": "rasp4b"}, "SKLEARN")
    assert onnx_only.c_compiler is None and onnx_only.instance_family is None


def test_a_cross_compiler_on_path_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda program: f"/usr/bin/{program}")
    target = resolve({"TargetPlatform": {"Os": "LINUX", "Arch": "ARM64"}}, "XGBOOST")
    assert (target.name, target.arch, target.c_compiler) == ("LINUX_ARM64", "aarch64", "aarch64-linux-gnu-gcc")
    assert resolve({"TargetDevice": "x86_win64"}, "XGBOOST").as_config()["SharedLibrarySuffix"] == ".dll"


def test_a_platform_with_an_accelerator_is_refused() -> None:
    with pytest.raises(UnsupportedTarget, match="Mali"):
        resolve({"TargetPlatform": {"Os": "LINUX", "Arch": "ARM64", "Accelerator": "MALI"}}, "ONNX")


def test_frameworks_without_compilers_and_missing_targets_are_refused() -> None:
    with pytest.raises(UnsupportedTarget, match="does not compile TENSORFLOW"):
        resolve({"TargetDevice": "ml_c5"}, "TENSORFLOW")
    with pytest.raises(UnsupportedTarget, match="neither a TargetDevice nor a TargetPlatform"):
        resolve({}, "ONNX")


def test_every_target_device_of_botocore_is_known() -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    assert set(model.shape_for("TargetDevice").enum) == set(compilation_targets._DEVICES)


def test_inference_image_for_ml_instances_only() -> None:
    target = resolve({"TargetDevice": "ml_c5"}, "XGBOOST")
    assert compilation_targets.inference_image("XGBOOST", target, "123456789012", "us-east-1") == \
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost-neo:latest"
    assert compilation_targets.inference_image("SKLEARN", resolve({"TargetDevice": "rasp4b"}, "SKLEARN"),
                                               "123456789012", "us-east-1") is None
