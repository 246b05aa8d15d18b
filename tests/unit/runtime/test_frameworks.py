"""Which framework recipe an image name or URI means."""

from __future__ import annotations

import pytest

from modelbay.runtime.frameworks import RECIPES, choose, framework_image, version_key

ECR = "683313688378.dkr.ecr.us-east-1.amazonaws.com"


@pytest.mark.parametrize(("image", "framework", "version"), [
    (f"{ECR}/sagemaker-scikit-learn:1.2-1-cpu-py3", "sklearn", "1.2-1"),
    (f"{ECR}/sagemaker-scikit-learn:1.4-2", "sklearn", "1.4-2"),
    (f"{ECR}/sagemaker-xgboost:3.0-5", "xgboost", "3.0-5"),
    (f"{ECR}/pytorch-training:2.13.0-cpu-py311-ubuntu22.04-sagemaker", "pytorch", "2.13.0"),
    ("modelbay/sklearn:1.2-1", "sklearn", "1.2-1"),
    ("modelbay/sklearn", "sklearn", RECIPES["sklearn"][-1].version),
    ("modelbay/xgboost:latest", "xgboost", RECIPES["xgboost"][-1].version),
    ("modelbay/python", "python", ""),
    ("156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer", "model-monitor", ""),
    ("modelbay/model-monitor", "model-monitor", ""),
])
def test_names_and_uris_resolve_to_their_recipe(image: str, framework: str, version: str) -> None:
    resolution = framework_image(image)
    assert resolution is not None and resolution.warning is None
    assert (resolution.recipe.framework, resolution.recipe.version) == (framework, version)


@pytest.mark.parametrize("image", [f"{ECR}/my-algorithm:1", "modelbay/tensorflow:2.1", "/opt/images/algo",
                                   "example.com/sagemaker-xgboost:1.7-1"])
def test_other_images_are_not_framework_images(image: str) -> None:
    assert framework_image(image) is None


def test_a_missing_version_takes_the_nearest_newer_with_a_warning() -> None:
    resolution = choose("sklearn", "1.0-1")
    assert resolution.recipe.version == "1.2-1"
    assert resolution.warning is not None and "sklearn 1.0-1 is not available" in resolution.warning
    assert "using 1.2-1 instead" in resolution.warning


def test_a_version_newer_than_all_takes_the_newest() -> None:
    resolution = choose("pytorch", "9.0.0")
    assert resolution.recipe.version == RECIPES["pytorch"][-1].version and resolution.warning is not None


def test_versions_order_by_their_numbers() -> None:
    assert version_key("1.2-1") < version_key("1.10-1") < version_key("2.0.0")
