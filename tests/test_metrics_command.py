"""``edge-agent metrics``, run as a user runs it, on every fixture host and on this machine.

Each folder under tests/fixtures/hosts/ is one device: its proc/ and sys/ trees, the
helper programs it has (bin/, the only thing on PATH), the config it runs with
(edge-agent.toml, optional) and expected.json, the ``metrics --json`` output minus the
timestamp. A new board is a new folder; this file does not change.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

HOSTS = Path(__file__).resolve().parent / "fixtures" / "hosts"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def host_cases() -> list[Path]:
    return sorted(path for path in HOSTS.iterdir() if path.is_dir())


def run_metrics(
    *args: str, root: Optional[Path] = None, path: str, config_env: Optional[Path] = None
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/tmp")}
    if root is not None:
        env["EDGE_AGENT_HOST_ROOT"] = str(root)
    if config_env is not None:
        env["EDGE_AGENT_CONFIG"] = str(config_env)
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", "metrics", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def metrics_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("case", host_cases(), ids=lambda path: path.name)
def test_metrics_json_on_each_fixture_host_matches_expected(case: Path, tmp_path: Path) -> None:
    config = case / "edge-agent.toml"
    if not config.exists():
        config = tmp_path / "empty.toml"
        config.write_text("")
    result = run_metrics("--json", root=case, path=str(case / "bin"), config_env=config)
    snapshot = metrics_json(result)
    assert TIMESTAMP.match(snapshot.pop("timestamp"))
    expected = json.loads((case / "expected.json").read_text())
    assert snapshot == expected


def test_config_host_root_points_the_command_at_a_fixture(tmp_path: Path) -> None:
    case = HOSTS / "x86-hwmon"
    config = tmp_path / "edge-agent.toml"
    config.write_text(f'[metrics]\nhost_root = "{case}"\napps = ["openssh-server"]\n')
    snapshot = metrics_json(run_metrics("--json", "-c", str(config), path=str(case / "bin")))
    expected = json.loads((case / "expected.json").read_text())
    assert snapshot["temperatures"] == expected["temperatures"]
    assert snapshot["ip"] == "192.168.10.42"
    assert snapshot["apps"] == {"openssh-server": expected["apps"]["openssh-server"]}


def test_the_table_shows_units_and_reasons_for_people() -> None:
    case = HOSTS / "android-tablet"
    result = run_metrics("-c", str(case / "edge-agent.toml"), root=case, path=str(case / "bin"))
    assert result.returncode == 0, result.stderr
    lines = {line.split("  ")[0]: line for line in result.stdout.splitlines()}
    assert lines["cpu_percent"].endswith("unavailable: permission denied: /proc/stat")
    assert lines["battery_percent"].endswith(" 76 %")
    assert lines["wifi_signal_dbm"].endswith(" -61 dBm")
    assert lines["temperature tsens_tz_sensor_2"].endswith(" 39.8 °C")
    assert lines["app com.telecomx.iptv"].endswith(" 2.4.1 (versionCode 2041)")
    assert lines["app com.example.missing"].endswith(" not installed")


def test_a_bad_config_exits_2_with_the_problem(tmp_path: Path) -> None:
    config = tmp_path / "edge-agent.toml"
    config.write_text('[metrics]\nrtt_targets = ["no-port"]\n')
    result = run_metrics("--json", "-c", str(config), path="/usr/bin:/bin")
    assert result.returncode == 2
    assert "metrics.rtt_targets" in result.stderr
    assert result.stdout == ""


def test_metrics_on_this_machine_are_sane(tmp_path: Path) -> None:
    config = tmp_path / "edge-agent.toml"
    config.write_text('[metrics]\nhost_root = "/"\n')
    snapshot = metrics_json(run_metrics("--json", "-c", str(config), path=os.environ.get("PATH", "")))
    assert snapshot["cpu_percent"] is not None and 0.0 <= snapshot["cpu_percent"] <= 100.0
    assert snapshot["load_1m"] is not None and snapshot["load_1m"] >= 0.0
    assert snapshot["memory_total_bytes"] > snapshot["memory_available_bytes"] > 0
    assert 0.0 < snapshot["memory_free_percent"] <= 100.0
    assert snapshot["uptime_s"] > 0.0
    for name, celsius in snapshot["temperatures"].items():
        assert -40.0 <= celsius <= 150.0, name
    for key, reason in snapshot["unavailable"].items():
        assert snapshot[key] in (None, {}) and reason, key
