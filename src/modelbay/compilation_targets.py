"""What a compilation job builds for: SageMaker Neo's TargetDevice and TargetPlatform, resolved on this machine.

Every TargetDevice of botocore's enum and every TargetPlatform (Os, Arch, Accelerator) names an operating
system, an architecture and maybe an accelerator. modelbay's compilers produce CPU code only: a native shared
library of a tree ensemble (TL2cgen's C, built with a C compiler) or an ONNX model run by ONNX Runtime. So:

- a CPU target of this machine's architecture is built with the host's C compiler (`gcc`);
- a CPU target of another architecture (ml_m6g, rasp4b, ARM64 platforms, Windows) is built with the cross
  compiler found on PATH (`aarch64-linux-gnu-gcc`, ...). Without one, frameworks whose backend is ONNX (ONNX,
  PYTORCH; SKLEARN falls back to ONNX for trees too) still compile, since an .onnx file is portable; XGBOOST,
  whose only backend here is native code, is refused with the Debian package that provides the compiler;
- a target whose point is an accelerator (NVIDIA GPUs, Inferentia/Trainium, Mali, Intel graphics, NNA,
  Ambarella CVflow, TI's C7x, Core ML) is refused: modelbay generates no code for it.

The module imports nothing of modelbay: services check targets with it, the compiler program reads its
`Target.as_config()`.
"""

from __future__ import annotations

import platform
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class UnsupportedTarget(Exception):
    """A target this machine cannot build for; str() is the reason a user reads."""


@dataclass(frozen=True)
class Target:
    """A resolved compilation target."""

    name: str  # the TargetDevice ("ml_c5"), or the platform spelled "LINUX_ARM64[_ACCELERATOR]"
    os: str  # linux | android | windows
    arch: str  # x86_64 | x86 | aarch64 | armv7 | armv7-softfp
    accelerator: str | None
    instance_family: str | None  # "ml.c5" for TargetDevice ml_c5, None for devices and platforms
    c_compiler: str | None = None  # the program name of the C compiler for native code; None: ONNX only

    def as_config(self) -> dict[str, Any]:
        """What the compiler program needs (compilation.json's "Target")."""
        return {"Name": self.name, "Os": self.os, "Arch": self.arch, "Accelerator": self.accelerator,
                "InstanceFamily": self.instance_family, "CCompiler": self.c_compiler,
                "HostArch": host_arch(), "SharedLibrarySuffix": ".dll" if self.os == "windows" else ".so"}


@dataclass(frozen=True)
class _Device:
    os: str
    arch: str
    accelerator: str | None = None


_CPU_INSTANCES = {"ml_m4": "x86_64", "ml_m5": "x86_64", "ml_c4": "x86_64", "ml_c5": "x86_64",
                  "ml_m6g": "aarch64", "ml_c6g": "aarch64"}
_ACCELERATED_INSTANCES = {"ml_p2": "NVIDIA", "ml_p3": "NVIDIA", "ml_g4dn": "NVIDIA", "ml_inf1": "NEURON",
                          "ml_inf2": "NEURON", "ml_trn1": "NEURON", "ml_eia2": "ELASTIC_INFERENCE"}
_DEVICES: dict[str, _Device] = {
    "lambda": _Device("linux", "x86_64"),
    "jetson_tx1": _Device("linux", "aarch64", "NVIDIA"), "jetson_tx2": _Device("linux", "aarch64", "NVIDIA"),
    "jetson_nano": _Device("linux", "aarch64", "NVIDIA"), "jetson_xavier": _Device("linux", "aarch64", "NVIDIA"),
    "rasp3b": _Device("linux", "armv7"), "rasp4b": _Device("linux", "aarch64"),
    "imx8qm": _Device("linux", "aarch64"), "imx8mplus": _Device("linux", "aarch64"),
    "deeplens": _Device("linux", "x86_64", "INTEL_GRAPHICS"),
    "rk3399": _Device("linux", "aarch64", "MALI"), "rk3288": _Device("linux", "armv7", "MALI"),
    "aisage": _Device("linux", "aarch64", "MALI"), "sbe_c": _Device("linux", "x86_64"),
    "qcs605": _Device("android", "aarch64"), "qcs603": _Device("android", "aarch64"),
    "sitara_am57x": _Device("linux", "armv7"),
    "amba_cv2": _Device("linux", "aarch64", "CVFLOW"), "amba_cv22": _Device("linux", "aarch64", "CVFLOW"),
    "amba_cv25": _Device("linux", "aarch64", "CVFLOW"),
    "x86_win32": _Device("windows", "x86"), "x86_win64": _Device("windows", "x86_64"),
    "coreml": _Device("ios", "aarch64", "COREML"), "jacinto_tda4vm": _Device("linux", "aarch64", "TIDL"),
    **{name: _Device("linux", arch) for name, arch in _CPU_INSTANCES.items()},
    **{name: _Device("linux", "x86_64", accelerator) for name, accelerator in _ACCELERATED_INSTANCES.items()},
}
_PLATFORM_OS = {"LINUX": "linux", "ANDROID": "android"}
_PLATFORM_ARCH = {"X86_64": "x86_64", "X86": "x86", "ARM64": "aarch64", "ARM_EABI": "armv7-softfp",
                  "ARM_EABIHF": "armv7"}

# (os, arch) → the C compiler that builds for it, and the Debian package that provides it
_CROSS_COMPILERS: dict[tuple[str, str], tuple[str, str]] = {
    ("linux", "aarch64"): ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
    ("linux", "armv7"): ("arm-linux-gnueabihf-gcc", "gcc-arm-linux-gnueabihf"),
    ("linux", "armv7-softfp"): ("arm-linux-gnueabi-gcc", "gcc-arm-linux-gnueabi"),
    ("linux", "x86_64"): ("x86_64-linux-gnu-gcc", "gcc-x86-64-linux-gnu"),
    ("linux", "x86"): ("i686-linux-gnu-gcc", "gcc-i686-linux-gnu"),
    ("windows", "x86_64"): ("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64"),
    ("windows", "x86"): ("i686-w64-mingw32-gcc", "gcc-mingw-w64-i686"),
    ("android", "aarch64"): ("aarch64-linux-android21-clang", "the Android NDK"),
}
_ACCELERATOR_REASONS = {
    "NVIDIA": "NVIDIA GPUs need CUDA/TensorRT code, which modelbay's compilers do not generate",
    "NEURON": "AWS Inferentia and Trainium need the AWS Neuron compiler, which is not available here",
    "ELASTIC_INFERENCE": "Elastic Inference accelerators are retired and have no compiler here",
    "MALI": "Arm Mali GPUs need OpenCL code, which modelbay's compilers do not generate",
    "INTEL_GRAPHICS": "Intel graphics need OpenCL code, which modelbay's compilers do not generate",
    "NNA": "neural network accelerators need their vendor's compiler, which is not available here",
    "CVFLOW": "Ambarella CVflow needs Ambarella's toolchain, which is not available here",
    "TIDL": "TI's deep-learning accelerator needs TI's TIDL toolchain, which is not available here",
    "COREML": "Core ML models need coremltools and Apple's runtime, which modelbay does not use",
}
# frameworks whose models all compile to ONNX, so a target without a C compiler is fine
_ONNX_CAPABLE = frozenset({"ONNX", "PYTORCH", "SKLEARN"})
_NATIVE_ONLY = frozenset({"XGBOOST"})
SUPPORTED_FRAMEWORKS = _ONNX_CAPABLE | _NATIVE_ONLY


def host_arch() -> str:
    """This machine's architecture, spelled as Target.arch is."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64", "i686": "x86", "armv7l": "armv7"}.get(machine, machine)


def resolve(output_config: Mapping[str, Any], framework: str) -> Target:
    """The target OutputConfig names (TargetDevice or TargetPlatform), checked buildable here for `framework`.

    Raises UnsupportedTarget with the reason: an unknown name, an accelerator, a framework modelbay does not
    compile, or native code for another architecture without its cross compiler on PATH.
    """
    if framework not in SUPPORTED_FRAMEWORKS:
        offered = ", ".join(sorted(SUPPORTED_FRAMEWORKS))
        raise UnsupportedTarget(f"modelbay does not compile {framework} models (it compiles {offered})")
    name, device, family = _named(output_config)
    if device.accelerator is not None:
        reason = _ACCELERATOR_REASONS.get(device.accelerator, f"{device.accelerator} is not available here")
        raise UnsupportedTarget(f"cannot compile for {name}: {reason}")
    if device.os == "ios":
        raise UnsupportedTarget(f"cannot compile for {name}: {_ACCELERATOR_REASONS['COREML']}")
    compiler = _c_compiler(device)
    if compiler is None and framework in _NATIVE_ONLY:
        program, package = _CROSS_COMPILERS.get((device.os, device.arch), ("a C compiler", "a cross toolchain"))
        raise UnsupportedTarget(f"cannot compile {framework} for {name} ({device.os} {device.arch}): {framework} "
                                f"models compile to native code, which needs {program} on PATH (install {package})")
    return Target(name, device.os, device.arch, None, family, compiler)


def _named(output_config: Mapping[str, Any]) -> tuple[str, _Device, str | None]:
    """The target's name, device and instance family from OutputConfig."""
    if (device_name := output_config.get("TargetDevice")) is not None:
        if device_name not in _DEVICES:
            raise UnsupportedTarget(f"unknown TargetDevice {device_name!r}")
        family = "ml." + device_name[3:] if device_name.startswith("ml_") else None
        return device_name, _DEVICES[device_name], family
    if (target_platform := output_config.get("TargetPlatform")) is not None:
        os_name, arch = target_platform.get("Os"), target_platform.get("Arch")
        if os_name not in _PLATFORM_OS or arch not in _PLATFORM_ARCH:
            raise UnsupportedTarget(f"unknown TargetPlatform Os {os_name!r} or Arch {arch!r}")
        accelerator = target_platform.get("Accelerator")
        name = "_".join(part for part in (os_name, arch, accelerator) if part)
        return name, _Device(_PLATFORM_OS[os_name], _PLATFORM_ARCH[arch], accelerator), None
    raise UnsupportedTarget("OutputConfig names neither a TargetDevice nor a TargetPlatform")


def _c_compiler(device: _Device) -> str | None:
    """The C compiler that builds native code for `device` on this machine, or None when none is on PATH."""
    if device.os == "linux" and device.arch == host_arch():
        return "gcc" if shutil.which("gcc") else None
    program, _package = _CROSS_COMPILERS.get((device.os, device.arch), ("", ""))
    return program if program and shutil.which(program) else None


# the ECR repository and tag of SageMaker Neo's inference image, by framework (the SageMaker SDK's image_uri_config
# names xgboost-neo and sagemaker-inference-pytorch; modelbay names the other two alike). All mean one serving
# environment here: compiled models are served by numpy and ONNX Runtime, without their framework.
NEO_IMAGES = {"XGBOOST": ("xgboost-neo", "latest"), "SKLEARN": ("sagemaker-inference-sklearn", "latest"),
              "PYTORCH": ("sagemaker-inference-pytorch", "2.0-cpu-py3"), "ONNX": ("sagemaker-inference-onnx", "latest")}


def inference_image(framework: str, target: Target, account: str, region: str) -> str | None:
    """The image DescribeCompilationJob's InferenceImage names; None for targets that are no ml_ instance."""
    if target.instance_family is None or framework not in NEO_IMAGES:
        return None
    repository, tag = NEO_IMAGES[framework]
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}:{tag}"
