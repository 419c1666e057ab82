"""``edge-agent check`` and ``metrics`` load only what they use (issue 15: they must feel instant).

Building the command line used to import every subcommand's module, and with them the
store (sqlite3), asyncio and the fleet view, for a command that only validates a file.
Checked in a fresh interpreter, as the command runs: which modules it ends up with.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import contextlib, io, json, sys
from edge_agent.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""
HEAVY = (
    "sqlite3",
    "asyncio",
    "paho",
    "httpx",
    "h11",
    "edge_agent.heartbeat",
    "edge_agent.store",
    "edge_agent.fleet.view",
    "edge_agent.mqtt.mirror",
)


def modules_after(*argv: str) -> tuple[int, set[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


@pytest.mark.parametrize("command", ["check", "metrics"])
def test_check_and_metrics_import_no_store_no_mqtt_no_asyncio(command: str, tmp_path: Path) -> None:
    config = tmp_path / "edge-agent.toml"
    config.write_text(f'[device]\nid = "d1"\n\n[storage]\npath = "{tmp_path / "agent.db"}"\n')
    code, modules = modules_after(command, "-c", str(config))
    assert code == 0
    loaded = sorted(name for name in modules if name.split(".")[0] in HEAVY or name in HEAVY)
    assert loaded == [], f"{command} loaded {loaded}"


def test_every_subcommand_is_still_listed_in_the_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "--help"], capture_output=True, text=True, timeout=60
    )
    from edge_agent.cli import COMMANDS

    for name in COMMANDS:
        assert name in result.stdout
