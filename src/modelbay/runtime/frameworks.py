"""The built-in framework images: which names and URIs mean them, and the pinned recipe of each version.

A SageMaker framework image is named by the URI the SageMaker Python SDK builds
(`<account>.dkr.ecr.<region>.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3`) or by a short
name (`modelbay/sklearn:1.2-1`, version optional). On the process runtime a version is realised
as a Python environment built from its recipe (see environments.py); the same recipe is what an
OCI image for the container runtime will be built from.

Recipes pin the framework and the packages its ABI depends on, for the server's Python. A
requested version with no recipe gets the nearest newer one (else the newest), with a warning.
An image that is a program of its own (Model Monitor's analyzer) names it in its recipe's `entrypoint_module`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    """One version of a framework image: what its environment holds."""

    framework: str  # short name: sklearn, xgboost, pytorch, python, model-monitor
    version: str  # as SageMaker spells it in image tags: "1.2-1", "2.13.0"
    requirements: tuple[str, ...]
    # the image's own program, `python -m <module>`, run when a processing job gives no ContainerEntrypoint
    entrypoint_module: str | None = None

    @property
    def label(self) -> str:
        return f"{self.framework} {self.version}" if self.version else self.framework


@dataclass(frozen=True)
class Resolution:
    """The recipe an image name resolves to, and a warning when it is not the version asked for."""

    recipe: Recipe
    warning: str | None = None


_SCIENTIFIC_NUMPY1 = ("numpy==1.26.4", "scipy==1.11.4", "pandas==2.1.4", "joblib==1.3.2", "threadpoolctl==3.2.0")
_SCIENTIFIC_NUMPY2 = ("numpy==2.2.6", "scipy==1.15.3", "pandas==2.2.3", "joblib==1.5.1", "threadpoolctl==3.6.0")

RECIPES: dict[str, tuple[Recipe, ...]] = {  # each framework's versions, oldest first
    "sklearn": (
        Recipe("sklearn", "1.2-1", ("scikit-learn==1.2.2", *_SCIENTIFIC_NUMPY1)),
        Recipe("sklearn", "1.4-2", ("scikit-learn==1.4.2", "numpy==1.26.4", "scipy==1.13.1", "pandas==2.2.2",
                                    "joblib==1.4.2", "threadpoolctl==3.5.0")),
    ),
    "xgboost": (
        Recipe("xgboost", "1.7-1", ("xgboost==1.7.6", "scikit-learn==1.2.2", *_SCIENTIFIC_NUMPY1)),
        Recipe("xgboost", "3.0-5", ("xgboost-cpu==3.0.5", "scikit-learn==1.6.1", *_SCIENTIFIC_NUMPY2)),
    ),
    "pytorch": (
        Recipe("pytorch", "2.13.0", ("torch==2.13.0", "numpy==2.2.6")),
    ),
    "python": (
        Recipe("python", "", ()),
    ),
    "model-monitor": (  # SageMaker's Model Monitor analyzer (data quality): baselines and monitoring executions
        Recipe("model-monitor", "", ("numpy==2.2.6", "pandas==2.2.3"),
               entrypoint_module="modelbay.container.model_monitor"),
    ),
    # compiled models (SageMaker Neo's inference images) are served without their framework: numpy and ORT
    "neo": (Recipe("neo", "", ("numpy==2.2.6", "onnxruntime==1.31.1")),),
    # the compilers (container/neo), one environment per framework: the framework that loads the original
    # model (a pickle needs the version that saved it) and the compilers
    "neo-sklearn": (Recipe("neo-sklearn", "1.6-1", ("scikit-learn==1.6.1", *_SCIENTIFIC_NUMPY2, "treelite==4.8.1",
                                                    "tl2cgen==1.0.0", "skl2onnx==1.20.0", "onnx==1.23.2",
                                                    "onnxruntime==1.31.1"),
                           entrypoint_module="modelbay.container.neo"),),
    "neo-xgboost": (Recipe("neo-xgboost", "3.0-5", ("xgboost-cpu==3.0.5", "scikit-learn==1.6.1", *_SCIENTIFIC_NUMPY2,
                                                    "treelite==4.8.1", "tl2cgen==1.0.0", "onnxruntime==1.31.1"),
                           entrypoint_module="modelbay.container.neo"),),
    "neo-pytorch": (Recipe("neo-pytorch", "2.13.0", ("torch==2.13.0", "numpy==2.2.6", "onnx==1.23.2",
                                                     "onnxruntime==1.31.1"),
                           entrypoint_module="modelbay.container.neo"),),
    "neo-onnx": (Recipe("neo-onnx", "", ("numpy==2.2.6", "onnx==1.23.2", "onnxruntime==1.31.1"),
                        entrypoint_module="modelbay.container.neo"),),
}

# SageMaker's ECR repository names for each framework's training and inference images
REPOSITORIES = {"sagemaker-scikit-learn": "sklearn", "sagemaker-xgboost": "xgboost", "pytorch-training": "pytorch",
                "pytorch-inference": "pytorch", "sagemaker-model-monitor-analyzer": "model-monitor",
                "xgboost-neo": "neo", "sagemaker-inference-sklearn": "neo", "sagemaker-inference-pytorch": "neo",
                "sagemaker-inference-onnx": "neo"}


def compiler_recipe(framework: str, framework_version: str | None) -> Resolution:
    """The compiler environment for a compilation job's Framework (XGBOOST, ...) and FrameworkVersion.

    Raises KeyError for a framework without compilers (compilation_targets.resolve refuses those first).
    """
    return choose(f"neo-{framework.lower()}", framework_version or None)


ECR_URI = re.compile(r"(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
                     r"(?P<repository>[a-z0-9._/-]+)(?::(?P<tag>[A-Za-z0-9._-]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?")
_SHORT_NAME = re.compile(r"modelbay/(?P<framework>[a-z][a-z-]*)(?::(?P<tag>[A-Za-z0-9._-]+))?")
_TAG_SUFFIX = re.compile(r"-(cpu|gpu|inf|neuron).*$")  # 1.2-1-cpu-py3 → 1.2-1, 2.1.0-gpu-py310-cu121 → 2.1.0


def framework_image(image: str) -> Resolution | None:
    """The recipe a framework image name or URI means, or None when it names no framework image."""
    if short := _SHORT_NAME.fullmatch(image):
        framework, tag = short["framework"], short["tag"]
    elif (uri := ECR_URI.fullmatch(image)) and uri["repository"] in REPOSITORIES:
        framework, tag = REPOSITORIES[uri["repository"]], uri["tag"]
    else:
        return None
    if framework not in RECIPES:
        return None
    return choose(framework, None if tag in (None, "latest") else _TAG_SUFFIX.sub("", tag))


def choose(framework: str, version: str | None) -> Resolution:
    """The recipe for `version` (None: the newest); else the nearest newer one, else the newest, with a warning."""
    recipes = RECIPES[framework]
    if version is None or any(r.version == version for r in recipes):
        return Resolution(next((r for r in recipes if r.version == version), recipes[-1]))
    wanted = version_key(version)
    newer = [r for r in recipes if version_key(r.version) > wanted]
    recipe = newer[0] if newer else recipes[-1]
    offered = ", ".join(r.version for r in recipes)
    return Resolution(recipe, f"{framework} {version} is not available for this Python (versions here: {offered}); "
                              f"using {recipe.version} instead")


def version_key(version: str) -> tuple[int, ...]:
    """`1.2-1` → (1, 2, 1): the numbers of a version, for ordering."""
    return tuple(int(part) for part in re.findall(r"[0-9]+", version))
