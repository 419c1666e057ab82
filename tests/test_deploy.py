"""The deployment files are valid for the tools that read them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNIT = DEPLOY / "edge-agent.service"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_unit_verifies_cleanly(tmp_path: Path) -> None:
    # systemd-analyze checks that ExecStart exists, so point it at this environment's command.
    command = Path(sys.executable).parent / "edge-agent"
    unit = tmp_path / "edge-agent.service"
    unit.write_text(UNIT.read_text().replace("/opt/edge-agent/bin/edge-agent", str(command)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    # it exits 0 on unknown settings too, only warning: any warning about our unit is a failure
    assert "edge-agent.service" not in result.stderr, result.stderr


def test_the_unit_waits_for_readiness_and_runs_the_agent() -> None:
    settings = dict(
        line.split("=", 1)
        for line in UNIT.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert settings["Type"] == "notify" and settings["WatchdogSec"]
    assert " run -c /etc/edge-agent/edge-agent.toml" in settings["ExecStart"]
    assert settings["User"] == "edge-agent" and settings["StateDirectory"] == "edge-agent"
    assert settings["Restart"] == "on-failure"


@pytest.mark.parametrize("script", ["install-raspberrypi.sh", "termux/install.sh", "termux/boot-edge-agent"])
def test_the_scripts_parse(script: str) -> None:
    shell = "sh" if script.endswith("boot-edge-agent") else "bash"
    result = subprocess.run([shell, "-n", str(DEPLOY / script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
