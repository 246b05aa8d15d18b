"""Training images: what command an instance runs for a job's AlgorithmSpecification.TrainingImage.

For now an image is either a built-in framework image or a bring-your-own directory:
- SageMaker framework image URIs (`<account>.dkr.ecr.<region>.amazonaws.com/sagemaker-scikit-learn:…`,
  `sagemaker-xgboost`, `pytorch-training`) and the short names `modelbay/sklearn|xgboost|pytorch`
  run the training toolkit (`python -m modelbay.container.train`) with the server's own
  interpreter. The isolated per-framework environments come later; until then the framework
  packages are whatever the server's environment holds.
- An absolute path of a directory holding an executable `train` runs that program (the image
  registry and OCI images come later).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

_FRAMEWORK_URI = re.compile(
    r"[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/"
    r"(sagemaker-scikit-learn|sagemaker-xgboost|pytorch-training):[A-Za-z0-9._-]+")
_SHORT_NAMES = frozenset({"modelbay/sklearn", "modelbay/xgboost", "modelbay/pytorch"})
TOOLKIT_COMMAND = (sys.executable, "-m", "modelbay.container.train")


class UnknownImage(ValueError):
    """The training image names nothing modelbay can run; the message says so for FailureReason."""


def train_command(image: str) -> tuple[str, ...]:
    """The argv that runs `image`'s training program; raise UnknownImage."""
    if image in _SHORT_NAMES or _FRAMEWORK_URI.fullmatch(image):
        return TOOLKIT_COMMAND
    program = Path(image) / "train"
    if Path(image).is_absolute() and program.is_file() and os.access(program, os.X_OK):
        return (str(program),)
    raise UnknownImage(
        f"TrainingImage {image!r} is not an image modelbay can run: use a SageMaker scikit-learn, XGBoost "
        "or PyTorch training image URI, modelbay/sklearn|xgboost|pytorch, or the absolute path of a "
        "directory holding an executable 'train'")
