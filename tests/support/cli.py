"""The agent's commands as an operator runs them, from tests: a fresh interpreter each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def status_or_empty(config: Path) -> dict[str, Any]:
    """``edge-agent status -c CONFIG --json``; ``{}`` while it cannot answer (the agent not up yet)."""
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "status", "-c", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(result.stdout) if result.returncode == 0 else {}
