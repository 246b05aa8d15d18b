"""Framework images built with podman from the recipes, run as SageMaker runs them.

The scikit-learn image is built once per machine (about 50 s and 680 MB the first time, podman's store keeps it
for every later run: see `--durations`); the tests then run containers of it with podman directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay.config import default_podman_dir
from modelbay.podman_engine import podman, podman_available
from modelbay.runtime.framework_images import FrameworkImages, _containerfile
from modelbay.runtime.frameworks import RECIPES, choose

needs_podman = pytest.mark.skipif(not podman_available(), reason="podman and runc are not installed here")
SKLEARN = choose("sklearn", "1.2-1").recipe
TRAIN_SCRIPT = textwrap.dedent("""
    import argparse, os, joblib, pandas
    from sklearn.tree import DecisionTreeClassifier
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-depth", type=int)
    args = parser.parse_args()
    data = pandas.read_csv(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "data.csv"), header=None)
    model = DecisionTreeClassifier(max_depth=args.max_depth).fit(data.iloc[:, 1:], data.iloc[:, 0])
    joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
    print("depth", model.get_depth(), "framework", os.environ["MODELBAY_FRAMEWORK"])
""")


@pytest.fixture(scope="module")
def sklearn_image() -> Iterator[tuple[str, Path]]:
    """The scikit-learn image (built if this machine lacks it) and podman's configuration directory."""
    config_dir = default_podman_dir(os.environ)  # the machine's store, so the image is built once
    yield FrameworkImages(config_dir).ensure(SKLEARN), config_dir


def test_the_reference_changes_with_the_recipe(tmp_path: Path) -> None:
    images = FrameworkImages(tmp_path)
    reference = images.reference(SKLEARN)
    assert reference.startswith("localhost/modelbay/sklearn:1.2-1-") and reference == images.reference(SKLEARN)
    assert images.reference(RECIPES["sklearn"][-1]) != reference
    assert images.reference(RECIPES["python"][0]).startswith("localhost/modelbay/python:latest-")


def test_an_image_with_a_program_of_its_own_runs_it_as_its_entrypoint() -> None:
    analyzer = _containerfile(choose("model-monitor", None).recipe, "base")
    assert 'ENTRYPOINT ["python", "-m", "modelbay.container.model_monitor"]\nCMD []\n' in analyzer
    assert "ENTRYPOINT" not in _containerfile(SKLEARN, "base") and 'CMD ["/bin/bash"]' in _containerfile(SKLEARN, "b")


@needs_podman
def test_the_image_holds_the_framework_and_the_toolkit(sklearn_image: tuple[str, Path]) -> None:
    reference, config_dir = sklearn_image
    program = "import sklearn, modelbay.container, shutil, sys; print(sklearn.__version__, sys.prefix, " \
              "shutil.which('pip'), shutil.which('train'), shutil.which('python3'))"
    said = podman(["run", "--rm", "--network", "none", reference, "python", "-c", program], config_dir).split()
    assert said == ["1.2.2", "/opt/modelbay/venv", "/opt/modelbay/venv/bin/pip", "/usr/local/bin/train",
                    "/opt/modelbay/venv/bin/python3"]


@needs_podman
def test_a_script_mode_job_trains_in_the_image(sklearn_image: tuple[str, Path], tmp_path: Path) -> None:
    reference, config_dir = sklearn_image
    opt_ml = tmp_path / "opt_ml"
    for directory in ("input/config", "input/data/train", "code", "model", "output"):
        (opt_ml / directory).mkdir(parents=True)
    configs = {"hyperparameters.json": {"max-depth": "2", "sagemaker_program": '"train.py"',
                                        "sagemaker_submit_directory": '"s3://bucket/source/sourcedir.tar.gz"'},
               "resourceconfig.json": {"current_host": "algo-1", "hosts": ["algo-1"]},
               "inputdataconfig.json": {"train": {"TrainingInputMode": "File"}}}
    for name, config in configs.items():
        (opt_ml / "input/config" / name).write_text(json.dumps(config))
    (opt_ml / "input/data/train/data.csv").write_text("".join(f"{n % 2},{n},{n * n % 7}\n" for n in range(40)))
    (opt_ml / "code/train.py").write_text(TRAIN_SCRIPT)
    done = subprocess.run(["podman", "run", "--rm", "--network", "none", "--volume", f"{opt_ml}:/opt/ml",
                           reference, "train"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CONTAINERS_CONF": str(config_dir / "containers.conf")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "depth 2 framework sklearn" in done.stdout
    assert (opt_ml / "model/model.joblib").stat().st_size > 0
