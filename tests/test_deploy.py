"""The deployment files are valid for the tools that read them."""

from __future__ import annotations

import os
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
    settings = _unit_settings()
    assert settings["Type"] == "notify" and settings["WatchdogSec"]
    assert " run -c /etc/edge-agent/edge-agent.toml" in settings["ExecStart"]
    assert settings["User"] == "edge-agent" and settings["StateDirectory"] == "edge-agent"
    assert settings["Restart"] == "on-failure"


def test_a_config_error_stops_the_unit_instead_of_a_restart_loop(tmp_path: Path) -> None:
    settings = _unit_settings()
    assert set(settings["RestartPreventExitStatus"].split()) == {"2", "65"}  # config error, newer store
    # ... which holds only if `run` exits 2 on a config error
    broken = tmp_path / "broken.toml"
    broken.write_text('[mqtt]\nport = "not a port"\n')
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "run", "-c", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "mqtt.port" in result.stderr


def test_secrets_reach_the_unit_through_an_optional_root_only_file() -> None:
    settings = _unit_settings()
    assert settings["EnvironmentFile"] == "-/etc/edge-agent/environment"
    installer = (DEPLOY / "install-raspberrypi.sh").read_text()
    assert 'chmod 0600 "$ENV_FILE"' in installer and "umask 077" in installer


def _unit_settings() -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in UNIT.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )


def test_the_pi_installer_refuses_an_unknown_option() -> None:
    result = subprocess.run(
        ["bash", str(DEPLOY / "install-raspberrypi.sh"), "--no-such-option"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--uninstall" in result.stderr


def _boot(tmp_path: Path, config: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The Termux boot script on this host, against this environment's agent, with HOME in tmp."""
    home = tmp_path / "home"
    (home / ".config" / "edge-agent").mkdir(parents=True)
    (home / ".config" / "edge-agent" / "edge-agent.toml").write_text(config)
    return subprocess.run(
        ["sh", str(DEPLOY / "termux" / "boot-edge-agent")],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "EDGE_AGENT_BIN": str(Path(sys.executable).parent / "edge-agent"),
            "EDGE_AGENT_RESTART_MIN": "1",
            "EDGE_AGENT_RESTART_MAX": "1",
            "EDGE_AGENT_POLL": "0.1",
            **env,
        },
    )


def test_the_boot_script_stops_on_a_config_error_with_a_clear_line(tmp_path: Path) -> None:
    result = _boot(tmp_path, '[mqtt]\nport = "not a port"\n')
    assert result.returncode == 2
    log = (tmp_path / "home" / ".local" / "state" / "edge-agent" / "agent.log").read_text()
    assert "mqtt.port" in log
    assert log.count("a config error") == 1 and "not restarting" in log
    assert "restarting in" not in log


@pytest.mark.parametrize("script", ["install-raspberrypi.sh", "termux/install.sh", "termux/boot-edge-agent"])
def test_the_scripts_parse(script: str) -> None:
    shell = "sh" if script.endswith("boot-edge-agent") else "bash"
    result = subprocess.run([shell, "-n", str(DEPLOY / script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
