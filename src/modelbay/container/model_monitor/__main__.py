"""`python -m modelbay.container.model_monitor`: the analyzer image's entrypoint."""

import os

from modelbay.container.model_monitor.analyzer import main

raise SystemExit(main(os.environ))
