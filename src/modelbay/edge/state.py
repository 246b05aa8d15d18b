"""What an edge agent keeps across restarts in its state directory's current.json, written atomically.

- Models: handle → the package serving under it (ModelName, ModelVersion, Path), so a restarted agent serves the
  last good models before it reaches the server, or when it cannot;
- Applied: each deployment the agent has acted on (its key: name and definitions) → DEPLOYED or FAILED, so it is
  not applied again each time GetDeployments lists it;
- Unreported: the DeploymentResults no heartbeat has carried yet, oldest first.

One file holds all three, so the models served and the results reported never disagree after a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelbay.user_files import write_text

FILE = "current.json"


@dataclass
class AgentState:
    models: dict[str, dict[str, str]] = field(default_factory=dict)
    applied: dict[str, str] = field(default_factory=dict)
    unreported: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def read(cls, state_dir: Path) -> AgentState:
        """The saved state, or an empty one if none was saved."""
        try:
            found = json.loads((state_dir / FILE).read_text())
        except FileNotFoundError:
            return cls()
        return cls(found.get("Models", {}), found.get("Applied", {}), found.get("Unreported", []))

    def save(self, state_dir: Path) -> None:
        write_text(state_dir / FILE, json.dumps({"Models": self.models, "Applied": self.applied,
                                                 "Unreported": self.unreported}, indent=1))
