"""The compiler program: /opt/ml/input/config/compilation.json and the model in, the compiled model out.

Reads compilation.json ({"Framework", "FrameworkVersion", "DataInputConfig", "CompilerOptions", "Target"})
and /opt/ml/input/data/model/model.tar.gz; writes the compiled model and neo-manifest.json into
/opt/ml/model/. On any failure the reason goes to /opt/ml/output/failure and the exit status is 1.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import traceback
from pathlib import Path

from modelbay.container.neo.compiler import compile_model
from modelbay.container.neo.errors import CompilationError

PREFIX = Path("/opt/ml")
log = logging.getLogger("modelbay.neo")


def run(prefix: Path) -> int:
    """Compile as the job under `prefix` says; the exit status."""
    failure = prefix / "output" / "failure"
    try:
        config = json.loads((prefix / "input" / "config" / "compilation.json").read_text())
        with tempfile.TemporaryDirectory(prefix="neo-") as work:
            manifest = compile_model(config, prefix / "input" / "data" / "model" / "model.tar.gz",
                                     prefix / "model", Path(work))
    except CompilationError as err:
        reason = str(err)
    except Exception as err:  # anything else is a bug, but the job must still fail with a reason
        traceback.print_exc()
        reason = f"the compiler failed unexpectedly: {type(err).__name__}: {err}"
    else:
        log.info("compiled for %s (%s): %s", manifest["target"]["Name"], manifest["runtime"],
                 manifest["verification"]["detail"])
        return 0
    log.error("compilation failed: %s", reason)
    failure.parent.mkdir(parents=True, exist_ok=True)
    failure.write_text(reason)
    return 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sys.exit(run(PREFIX))
