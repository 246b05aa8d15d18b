"""The training environment as a framework container's toolkit sees it: `/opt/ml` and `SM_*`.

Runs inside an instance and imports only the standard library. What the instance is given:
- the `/opt/ml` tree (CONTRACT.md section 2), at `/opt/ml` or relocated by the runtime through
  SM_MODEL_DIR, SM_INPUT_DIR, SM_INPUT_CONFIG_DIR, SM_OUTPUT_DIR, SM_OUTPUT_DATA_DIR,
  SM_OUTPUT_INTERMEDIATE_DIR, SM_CHECKPOINT_DIR and SM_MODULE_DIR (the code dir, a local path);
- MODELBAY_NUM_CPUS / MODELBAY_NUM_GPUS: the instance type's vCPUs, and those of its GPUs the
  machine really has (default: this machine's CPU count, and no GPU);
- TRAINING_JOB_NAME (optional): the job's name, when `sagemaker_job_name` does not give it.

`read_training_env` reads the config files; `TrainingEnv.to_env_vars` gives the `SM_*`
variables a user script receives, with the toolkit's names and value encoding.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_ROOT = Path("/opt/ml")
NUM_CPUS_VAR = "MODELBAY_NUM_CPUS"
NUM_GPUS_VAR = "MODELBAY_NUM_GPUS"
RESERVED_PREFIX = "sagemaker_"
# Reserved hyperparameters the toolkit itself consumes; other `sagemaker_*` ones are handed
# to the framework as SM_FRAMEWORK_PARAMS.
TOOLKIT_HYPERPARAMETERS = frozenset({
    "sagemaker_program", "sagemaker_submit_directory", "sagemaker_container_log_level",
    "sagemaker_region", "sagemaker_job_name",
})
_SINGLE_HOST = {"current_host": "algo-1", "hosts": ["algo-1"], "current_instance_type": "local",
                "network_interface_name": "eth0"}


@dataclass(frozen=True)
class OptMl:
    """Where each part of the `/opt/ml` tree is for this instance."""

    model_dir: Path
    input_dir: Path
    input_config_dir: Path
    output_dir: Path
    output_data_dir: Path
    output_intermediate_dir: Path
    checkpoint_dir: Path
    code_dir: Path

    @classmethod
    def at(cls, root: Path) -> OptMl:
        """The standard layout under `root`."""
        return cls(model_dir=root / "model", input_dir=root / "input", input_config_dir=root / "input/config",
                   output_dir=root / "output", output_data_dir=root / "output/data",
                   output_intermediate_dir=root / "output/intermediate", checkpoint_dir=root / "checkpoints",
                   code_dir=root / "code")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], root: Path | None = None) -> OptMl:
        """The layout under `root` (default: the parent of SM_INPUT_DIR if set, else `/opt/ml`),
        each part overridden by its relocation variable when that is set."""
        if root is None:
            root = Path(environ["SM_INPUT_DIR"]).parent if environ.get("SM_INPUT_DIR") else DEFAULT_ROOT
        base = cls.at(root)
        code = environ.get("SM_MODULE_DIR", "")
        return cls(
            model_dir=_path(environ, "SM_MODEL_DIR", base.model_dir),
            input_dir=_path(environ, "SM_INPUT_DIR", base.input_dir),
            input_config_dir=_path(environ, "SM_INPUT_CONFIG_DIR", base.input_config_dir),
            output_dir=_path(environ, "SM_OUTPUT_DIR", base.output_dir),
            output_data_dir=_path(environ, "SM_OUTPUT_DATA_DIR", base.output_data_dir),
            output_intermediate_dir=_path(environ, "SM_OUTPUT_INTERMEDIATE_DIR", base.output_intermediate_dir),
            checkpoint_dir=_path(environ, "SM_CHECKPOINT_DIR", base.checkpoint_dir),
            # SM_MODULE_DIR may also hold the submit directory's s3:// URI, which is no code dir.
            code_dir=Path(code) if os.path.isabs(code) else base.code_dir,
        )

    @property
    def failure_file(self) -> Path:
        """Where a failing job writes its reason (the job's FailureReason)."""
        return self.output_dir / "failure"


@dataclass(frozen=True)
class TrainingEnv:
    """One instance's training environment. `hyperparameters` are the user's (decoded);
    `reserved` holds every `sagemaker_*` one."""

    paths: OptMl
    hyperparameters: dict[str, Any]
    reserved: dict[str, Any]
    resource_config: dict[str, Any]
    input_data_config: dict[str, Any]
    num_cpus: int
    num_gpus: int
    job_name: str | None

    @property
    def user_entry_point(self) -> str | None:
        """The `sagemaker_program` hyperparameter: a `.py` or `.sh` file, or a module name."""
        program = self.reserved.get("sagemaker_program")
        return None if program is None else str(program)

    @property
    def channel_input_dirs(self) -> dict[str, str]:
        return {name: str(self.paths.input_dir / "data" / name) for name in sorted(self.input_data_config)}

    @property
    def framework_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.reserved.items() if k not in TOOLKIT_HYPERPARAMETERS}

    def user_args(self) -> list[str]:
        """The user's hyperparameters as `--name value` in name order (the toolkit's encoding:
        a one-letter name gets `-n`, a mapping becomes `k=v,k=v`, anything else `str()`)."""
        args: list[str] = []
        for name in sorted(self.hyperparameters):
            args += [f"--{name}" if len(name) > 1 else f"-{name}", _arg_value(self.hyperparameters[name])]
        return args

    def to_dict(self) -> dict[str, Any]:
        """SM_TRAINING_ENV: the whole environment under the toolkit's key names."""
        hosts = list(self.resource_config.get("hosts", []))
        current_host = self.resource_config.get("current_host")
        program = self.user_entry_point
        return {
            "additional_framework_parameters": self.framework_params,
            "channel_input_dirs": self.channel_input_dirs,
            "current_host": current_host,
            "current_instance_type": self.resource_config.get("current_instance_type", "local"),
            "framework_module": None,
            "hosts": hosts,
            "hyperparameters": self.hyperparameters,
            "input_config_dir": str(self.paths.input_config_dir),
            "input_data_config": self.input_data_config,
            "input_dir": str(self.paths.input_dir),
            "is_master": bool(hosts) and current_host == sorted(hosts)[0],
            "job_name": self.job_name,
            "log_level": self.reserved.get("sagemaker_container_log_level", logging.INFO),
            "master_hostname": sorted(hosts)[0] if hosts else None,
            "model_dir": str(self.paths.model_dir),
            "module_dir": str(self.reserved.get("sagemaker_submit_directory", self.paths.code_dir)),
            "module_name": program[:-3] if program and program.endswith(".py") else program,
            "network_interface_name": self.resource_config.get("network_interface_name", "eth0"),
            "num_cpus": self.num_cpus,
            "num_gpus": self.num_gpus,
            "output_data_dir": str(self.paths.output_data_dir),
            "output_dir": str(self.paths.output_dir),
            "output_intermediate_dir": str(self.paths.output_intermediate_dir),
            "resource_config": self.resource_config,
            "user_entry_point": program,
        }

    def to_env_vars(self) -> dict[str, str]:
        """The SM_* variables (CONTRACT.md section 2): strings as they are, anything else JSON."""
        full = self.to_dict()
        values: dict[str, Any] = {
            key: full[key] for key in (
                "model_dir", "hosts", "current_host", "current_instance_type", "num_cpus", "num_gpus",
                "log_level", "network_interface_name", "input_dir", "input_config_dir", "output_dir",
                "output_data_dir", "output_intermediate_dir", "resource_config", "input_data_config",
                "module_name", "module_dir", "user_entry_point")
        }
        values |= {"channels": sorted(self.input_data_config), "hps": self.hyperparameters,
                   "framework_params": self.framework_params, "user_args": self.user_args(),
                   "training_env": full}
        values |= {f"channel_{name}": path for name, path in self.channel_input_dirs.items()}
        values |= {f"hp_{name}": value for name, value in self.hyperparameters.items()}
        return {f"SM_{key.upper()}": _env_value(value) for key, value in values.items()}


def read_training_env(paths: OptMl | None = None, environ: Mapping[str, str] | None = None) -> TrainingEnv:
    """Read the instance's config files (under `paths`, default from `environ`, default
    `os.environ`). A missing resourceconfig.json means one host, algo-1; a missing
    hyperparameters.json or inputdataconfig.json means none. Raises ValueError on bad JSON."""
    environ = os.environ if environ is None else environ
    paths = OptMl.from_environ(environ) if paths is None else paths
    user, reserved = split_reserved(decode_hyperparameters(_read_json(paths, "hyperparameters.json", {})))
    return TrainingEnv(
        paths=paths, hyperparameters=user, reserved=reserved,
        resource_config=_read_json(paths, "resourceconfig.json", dict(_SINGLE_HOST)),
        input_data_config=_read_json(paths, "inputdataconfig.json", {}),
        num_cpus=read_count(environ, NUM_CPUS_VAR, os.cpu_count() or 1),
        num_gpus=read_count(environ, NUM_GPUS_VAR, 0),
        job_name=reserved.get("sagemaker_job_name") or environ.get("TRAINING_JOB_NAME"),
    )


def decode_hyperparameters(raw: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-decode each value that parses (`"\\"a\\""` → `"a"`, `"10"` → 10); keep the rest."""
    decoded: dict[str, Any] = {}
    for name, value in raw.items():
        try:
            decoded[name] = json.loads(value)
        except (ValueError, TypeError):
            decoded[name] = value
    return decoded


def split_reserved(hyperparameters: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the user's hyperparameters, the reserved `sagemaker_*` ones)."""
    user = {k: v for k, v in hyperparameters.items() if not k.startswith(RESERVED_PREFIX)}
    reserved = {k: v for k, v in hyperparameters.items() if k.startswith(RESERVED_PREFIX)}
    return user, reserved


def _read_json(paths: OptMl, name: str, default: dict[str, Any]) -> dict[str, Any]:
    file = paths.input_config_dir / name
    if not file.is_file():
        return default
    try:
        value = json.loads(file.read_text())
    except ValueError as err:
        raise ValueError(f"{file} is not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise ValueError(f"{file} must hold a JSON object")
    return value


def _path(environ: Mapping[str, str], name: str, default: Path) -> Path:
    value = environ.get(name)
    return Path(value) if value else default


def read_count(environ: Mapping[str, str], name: str, default: int) -> int:
    """The whole number in variable `name`, or `default` when it is unset or not one."""
    value = environ.get(name, "")
    return int(value) if value.strip().isdigit() else default


def _arg_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)


def _env_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
