"""The joblib model as a `kserve.Model`, served by kserve's `ModelServer`: a custom Python model server as KServe
documents it (https://kserve.github.io/website/latest/modelserving/v1beta1/custom/custom_model/), its predict
that of KServe's own scikit-learn server (kserve/python/sklearnserver/sklearnserver/model.py).

    python predictor.py --model_path PATH [kserve.model_server's flags: --http_port, --workers, ...]

Takes KServe's command line (its parser is kserve.model_server.parser, which kserve reads when imported); run by
serve.py, which translates the benchmark's flags into it.
"""

from __future__ import annotations

import argparse
import logging.config
import warnings
from typing import Any

import joblib
from fastapi.exceptions import FastAPIDeprecationWarning
from kserve import Model, ModelServer, model_server
from kserve.utils.utils import get_predict_input, get_predict_response

# No line per request, as with every peer (the classic stack's nginx has access_log off): KServe's loggers to stderr,
# but not uvicorn's access log nor kserve.trace, where ModelServer's timing middleware writes two lines per request.
# Configured here at import, so every worker, which imports this module when spawned, has it: KServe skips its own
# default configuration where logging is configured, and a worker it restarts is not given `--log_config_file`.
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {"uvicorn.access": {"level": "WARNING"}, "kserve.trace": {"level": "WARNING"}},
}
logging.config.dictConfig(LOG_CONFIG)
# kserve answers with FastAPI's deprecated ORJSONResponse, and scikit-learn's predict resets the warnings registry
# (catch_warnings), so the warning would otherwise be written to stderr on every request
warnings.filterwarnings("ignore", category=FastAPIDeprecationWarning)


class JoblibModel(Model):
    """The scikit-learn model at `path`, answering the v1 protocol's {"instances": [[...]]} with its predictions."""

    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.model: Any = None

    def load(self) -> bool:
        self.model = joblib.load(self.path)
        self.ready = True
        return self.ready

    def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        # a plain def, as sklearnserver's: KServe calls it on the worker's event loop, no thread hop
        return get_predict_response(payload, self.model.predict(get_predict_input(payload)), self.name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--model_path", required=True, help="the joblib file")
    args, _ = parser.parse_known_args()
    model = JoblibModel(args.model_name, args.model_path)
    model.load()
    ModelServer().start([model])
