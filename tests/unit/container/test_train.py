"""`python -m modelbay.container.train` against real subprocesses: script mode end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from modelbay.container.training_env import OptMl

RECORDING_SCRIPT = textwrap.dedent("""
    import json, os, sys
    names = ["SM_CHANNEL_TRAIN", "SM_HP_EPOCHS", "SM_HP_NAME", "SM_NUM_CPUS", "SM_USER_ARGS", "SM_MODULE_DIR"]
    record = {"argv": sys.argv[1:], "env": {n: os.environ.get(n) for n in names}, "cwd": os.getcwd()}
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "received.json"), "w") as f:
        json.dump(record, f)
""")
FAILING_SCRIPT = "import sys\nprint('starting')\nraise ValueError('bad learning rate ' + sys.argv[-1])\n"


@pytest.fixture
def opt_ml(tmp_path: Path) -> OptMl:
    """An instance tree with config files as SageMaker writes them for an SDK-launched job."""
    paths = OptMl.at(tmp_path / "opt_ml")
    for path in (paths.input_config_dir, paths.input_dir / "data/train", paths.model_dir, paths.code_dir):
        path.mkdir(parents=True)
    hyperparameters = {"epochs": "10", "lr": "0.5", "sagemaker_program": "\"train.py\"",
                       "sagemaker_submit_directory": "\"s3://bucket/job/source/sourcedir.tar.gz\"",
                       "name": "\"a b\""}
    write_config(paths, "hyperparameters.json", hyperparameters)
    write_config(paths, "resourceconfig.json", {"current_host": "algo-1", "hosts": ["algo-1"],
                                                "current_instance_type": "ml.m5.large"})
    write_config(paths, "inputdataconfig.json", {"train": {"TrainingInputMode": "File"}})
    return paths


def write_config(paths: OptMl, name: str, value: Mapping[str, object]) -> None:
    (paths.input_config_dir / name).write_text(json.dumps(value))


def set_hyperparameter(paths: OptMl, name: str, value: str) -> None:
    file = paths.input_config_dir / "hyperparameters.json"
    file.write_text(json.dumps({**json.loads(file.read_text()), name: json.dumps(value)}))


def run_train(paths: OptMl) -> subprocess.CompletedProcess[str]:
    """Run the toolkit as an instance would, its paths relocated through the SM_* variables."""
    root = paths.model_dir.parent
    env = {"PATH": os.environ["PATH"], "SM_INPUT_DIR": str(paths.input_dir), "SM_MODEL_DIR": str(paths.model_dir),
           "SM_INPUT_CONFIG_DIR": str(paths.input_config_dir), "SM_OUTPUT_DIR": str(paths.output_dir),
           "SM_OUTPUT_DATA_DIR": str(paths.output_data_dir), "SM_CHECKPOINT_DIR": str(paths.checkpoint_dir),
           "MODELBAY_NUM_CPUS": "3", "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run([sys.executable, "-m", "modelbay.container.train"], env=env, cwd=root,
                          capture_output=True, text=True, timeout=120)


def received(paths: OptMl) -> dict[str, object]:
    record: dict[str, object] = json.loads((paths.model_dir / "received.json").read_text())
    return record


def test_script_mode_passes_arguments_and_environment(opt_ml: OptMl) -> None:
    (opt_ml.code_dir / "train.py").write_text(RECORDING_SCRIPT)
    result = run_train(opt_ml)
    assert result.returncode == 0, result.stderr
    record = received(opt_ml)
    assert record["argv"] == ["--epochs", "10", "--lr", "0.5", "--name", "a b"]
    assert record["env"] == {"SM_CHANNEL_TRAIN": str(opt_ml.input_dir / "data/train"), "SM_HP_EPOCHS": "10",
                             "SM_HP_NAME": "a b", "SM_NUM_CPUS": "3",
                             "SM_USER_ARGS": json.dumps(record["argv"], separators=(",", ":")),
                             "SM_MODULE_DIR": "s3://bucket/job/source/sourcedir.tar.gz"}
    assert record["cwd"] == str(opt_ml.code_dir)
    assert not opt_ml.failure_file.exists()


def test_failing_script_writes_its_traceback_tail(opt_ml: OptMl) -> None:
    (opt_ml.code_dir / "train.py").write_text(FAILING_SCRIPT)
    result = run_train(opt_ml)
    assert result.returncode == 1
    assert "starting" in result.stdout and "Traceback" in result.stderr  # passed through
    reason = opt_ml.failure_file.read_text()
    assert "ExitCode 1" in reason and "ValueError: bad learning rate a b" in reason and "Traceback" in reason


def test_exit_code_is_propagated(opt_ml: OptMl) -> None:
    (opt_ml.code_dir / "train.py").write_text("import sys\nsys.exit(7)\n")
    assert run_train(opt_ml).returncode == 7
    assert "ExitCode 7" in opt_ml.failure_file.read_text()


def test_failed_requirements_install_fails_the_job(opt_ml: OptMl) -> None:
    (opt_ml.code_dir / "train.py").write_text(RECORDING_SCRIPT)
    (opt_ml.code_dir / "requirements.txt").write_text("--no-index\n./no-such-package-1.0.tar.gz\n")
    result = run_train(opt_ml)
    assert result.returncode != 0
    assert opt_ml.failure_file.read_text().startswith("requirements.txt install failed (pip exit code")
    assert not (opt_ml.model_dir / "received.json").exists()


def test_local_sourcedir_tarball_is_unpacked(opt_ml: OptMl, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src/entry.sh").write_text('echo "$@" > "$SM_MODEL_DIR/args.txt"\n')
    with tarfile.open(tmp_path / "sourcedir.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "src/entry.sh", arcname="entry.sh")
    set_hyperparameter(opt_ml, "sagemaker_submit_directory", str(tmp_path / "sourcedir.tar.gz"))
    set_hyperparameter(opt_ml, "sagemaker_program", "entry.sh")
    result = run_train(opt_ml)
    assert result.returncode == 0, result.stderr
    assert (opt_ml.code_dir / "entry.sh").is_file()
    assert (opt_ml.model_dir / "args.txt").read_text() == "--epochs 10 --lr 0.5 --name a b\n"


def test_module_entry_point_from_a_local_directory(opt_ml: OptMl, tmp_path: Path) -> None:
    (tmp_path / "src/trainer").mkdir(parents=True)
    (tmp_path / "src/trainer/__init__.py").write_text("")
    (tmp_path / "src/trainer/__main__.py").write_text(RECORDING_SCRIPT)
    set_hyperparameter(opt_ml, "sagemaker_submit_directory", str(tmp_path / "src"))
    set_hyperparameter(opt_ml, "sagemaker_program", "trainer")
    result = run_train(opt_ml)
    assert result.returncode == 0, result.stderr
    assert received(opt_ml)["argv"] == ["--epochs", "10", "--lr", "0.5", "--name", "a b"]


def test_missing_entry_point_is_a_reason(opt_ml: OptMl) -> None:
    result = run_train(opt_ml)
    assert result.returncode == 1
    assert opt_ml.failure_file.read_text() == f"entry point train.py not found in {opt_ml.code_dir}\n"
