"""TrainingEnv: hyperparameter decoding, reserved names, the SM_* variables and user args."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelbay.container.training_env import (
    OptMl,
    TrainingEnv,
    decode_hyperparameters,
    read_training_env,
    split_reserved,
)

SDK_HYPERPARAMETERS = {"epochs": "10", "lr": "0.5", "sagemaker_program": "\"train.py\"",
                       "sagemaker_submit_directory": "\"/path/sourcedir.tar.gz\"", "name": "\"a b\"",
                       "sagemaker_container_log_level": "20", "sagemaker_region": "\"us-east-1\"",
                       "sagemaker_distribution": "{\"x\": 1}", "plain": "not json", "layers": "[1, 2]"}
RESOURCE_CONFIG = {"current_host": "algo-2", "hosts": ["algo-1", "algo-2"],
                   "current_instance_type": "ml.m5.large", "network_interface_name": "eth0"}
INPUT_DATA_CONFIG = {"train": {"ContentType": "text/csv", "TrainingInputMode": "File",
                               "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"},
                     "test": {"TrainingInputMode": "File"}}


@pytest.fixture
def opt_ml(tmp_path: Path) -> OptMl:
    paths = OptMl.at(tmp_path / "ml")
    paths.input_config_dir.mkdir(parents=True)
    for name, value in (("hyperparameters.json", SDK_HYPERPARAMETERS), ("resourceconfig.json", RESOURCE_CONFIG),
                        ("inputdataconfig.json", INPUT_DATA_CONFIG)):
        (paths.input_config_dir / name).write_text(json.dumps(value))
    return paths


@pytest.fixture
def env(opt_ml: OptMl) -> TrainingEnv:
    return read_training_env(opt_ml, {"MODELBAY_NUM_CPUS": "2", "MODELBAY_NUM_GPUS": "1"})


def test_decode_keeps_what_is_not_json() -> None:
    assert decode_hyperparameters({"a": "10", "b": "\"x\"", "c": "x y", "d": "true"}) == \
        {"a": 10, "b": "x", "c": "x y", "d": True}


def test_split_reserved_takes_every_sagemaker_name() -> None:
    user, reserved = split_reserved({"epochs": 1, "sagemaker_program": "t.py", "sagemaker_other": 2})
    assert user == {"epochs": 1}
    assert reserved == {"sagemaker_program": "t.py", "sagemaker_other": 2}


def test_user_args_are_sorted_and_encoded_as_the_toolkit_does(env: TrainingEnv) -> None:
    assert env.user_args() == ["--epochs", "10", "--layers", "[1, 2]", "--lr", "0.5", "--name", "a b",
                               "--plain", "not json"]
    env.hyperparameters.update({"k": {"b": 2, "a": 1}})
    assert env.user_args()[2:4] == ["-k", "a=1,b=2"]


def test_env_vars(env: TrainingEnv, opt_ml: OptMl) -> None:
    sm = env.to_env_vars()
    assert sm["SM_MODEL_DIR"] == str(opt_ml.model_dir)
    assert json.loads(sm["SM_CHANNELS"]) == ["test", "train"]
    assert sm["SM_CHANNEL_TRAIN"] == str(opt_ml.input_dir / "data/train")
    assert json.loads(sm["SM_HPS"]) == {"epochs": 10, "lr": 0.5, "name": "a b", "plain": "not json",
                                        "layers": [1, 2]}
    assert (sm["SM_HP_EPOCHS"], sm["SM_HP_NAME"], sm["SM_HP_LAYERS"]) == ("10", "a b", "[1,2]")
    assert "SM_HP_SAGEMAKER_PROGRAM" not in sm
    assert json.loads(sm["SM_HOSTS"]) == ["algo-1", "algo-2"]
    assert (sm["SM_CURRENT_HOST"], sm["SM_CURRENT_INSTANCE_TYPE"]) == ("algo-2", "ml.m5.large")
    assert (sm["SM_NUM_CPUS"], sm["SM_NUM_GPUS"], sm["SM_LOG_LEVEL"]) == ("2", "1", "20")
    assert sm["SM_NETWORK_INTERFACE_NAME"] == "eth0"
    assert json.loads(sm["SM_USER_ARGS"]) == env.user_args()
    assert sm["SM_OUTPUT_DATA_DIR"] == str(opt_ml.output_data_dir)
    assert sm["SM_OUTPUT_INTERMEDIATE_DIR"] == str(opt_ml.output_intermediate_dir)
    assert (sm["SM_INPUT_DIR"], sm["SM_INPUT_CONFIG_DIR"]) == (str(opt_ml.input_dir), str(opt_ml.input_config_dir))
    assert json.loads(sm["SM_RESOURCE_CONFIG"]) == RESOURCE_CONFIG
    assert json.loads(sm["SM_INPUT_DATA_CONFIG"]) == INPUT_DATA_CONFIG
    assert (sm["SM_MODULE_NAME"], sm["SM_USER_ENTRY_POINT"]) == ("train", "train.py")
    assert sm["SM_MODULE_DIR"] == "/path/sourcedir.tar.gz"
    assert json.loads(sm["SM_FRAMEWORK_PARAMS"]) == {"sagemaker_distribution": {"x": 1}}


def test_training_env_holds_it_all(env: TrainingEnv, opt_ml: OptMl) -> None:
    full = json.loads(env.to_env_vars()["SM_TRAINING_ENV"])
    assert full["model_dir"] == str(opt_ml.model_dir)
    assert full["channel_input_dirs"] == {"test": str(opt_ml.input_dir / "data/test"),
                                          "train": str(opt_ml.input_dir / "data/train")}
    assert full["hyperparameters"]["epochs"] == 10
    assert (full["hosts"], full["current_host"], full["num_cpus"], full["num_gpus"]) == \
        (["algo-1", "algo-2"], "algo-2", 2, 1)
    assert (full["master_hostname"], full["is_master"]) == ("algo-1", False)


def test_missing_files_mean_one_host_and_no_channels(tmp_path: Path) -> None:
    env = read_training_env(OptMl.at(tmp_path), {})
    assert (env.hyperparameters, env.input_data_config, env.resource_config["hosts"]) == ({}, {}, ["algo-1"])
    assert env.num_gpus == 0 and env.num_cpus >= 1


def test_paths_follow_relocation_variables(tmp_path: Path) -> None:
    root = tmp_path / "inst"
    paths = OptMl.from_environ({"SM_INPUT_DIR": str(root / "input"), "SM_MODEL_DIR": str(tmp_path / "m"),
                                "SM_MODULE_DIR": "s3://bucket/sourcedir.tar.gz"})
    assert (paths.model_dir, paths.input_config_dir, paths.code_dir, paths.failure_file) == \
        (tmp_path / "m", root / "input/config", root / "code", root / "output/failure")
    assert OptMl.from_environ({}) == OptMl.at(Path("/opt/ml"))
    assert OptMl.from_environ({"SM_MODULE_DIR": str(tmp_path / "c")}).code_dir == tmp_path / "c"


def test_bad_json_names_the_file(opt_ml: OptMl) -> None:
    (opt_ml.input_config_dir / "resourceconfig.json").write_text("{")
    with pytest.raises(ValueError, match="resourceconfig.json"):
        read_training_env(opt_ml, {})
