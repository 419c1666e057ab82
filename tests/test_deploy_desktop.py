"""The unit's desktop drop-in and sudoers rule: valid, and relaxing only what the unit says."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNIT = DEPLOY / "edge-agent.service"
DROP_IN = DEPLOY / "edge-agent-desktop.conf"
SUDOERS = DEPLOY / "sudoers-edge-agent-desktop"


def settings(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_unit_with_the_desktop_drop_in_verifies_cleanly(tmp_path: Path) -> None:
    command = Path(sys.executable).parent / "edge-agent"
    unit = tmp_path / "edge-agent.service"
    unit.write_text(UNIT.read_text().replace("/opt/edge-agent/bin/edge-agent", str(command)))
    (tmp_path / "edge-agent.service.d").mkdir()
    shutil.copy(DROP_IN, tmp_path / "edge-agent.service.d" / "desktop.conf")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"SYSTEMD_UNIT_PATH": f"{tmp_path}:", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "edge-agent.service" not in result.stderr and "desktop.conf" not in result.stderr, result.stderr


def test_the_drop_in_relaxes_exactly_what_the_units_comment_says() -> None:
    relaxed = settings(DROP_IN)
    assert relaxed == {
        "NoNewPrivileges": "no",
        "CapabilityBoundingSet": "CAP_SETUID CAP_SETGID CAP_AUDIT_WRITE",
        "PrivateTmp": "no",
    }
    comment = " ".join(line.lstrip("# ") for line in UNIT.read_text().splitlines() if line.startswith("#"))
    for key, value in relaxed.items():
        assert f"{key}={value}" in comment, key
    shipped = settings(UNIT)
    assert shipped["NoNewPrivileges"] == "yes" and shipped["CapabilityBoundingSet"] == ""
    assert shipped["SupplementaryGroups"] == "systemd-journal"  # DUMP reads the journal


def test_the_sudoers_rule_lets_the_service_become_one_user_and_only_through_env(tmp_path: Path) -> None:
    rules = [line for line in SUDOERS.read_text().splitlines() if line and not line.startswith("#")]
    assert "edge-agent ALL=(DESKTOP_USER) NOPASSWD: /usr/bin/env" in rules
    assert not any(re.search(r"\(ALL|\(root", line) for line in rules)
    if shutil.which("visudo") is None:
        pytest.skip("visudo is not installed: the syntax was not checked")
    filled = tmp_path / "edge-agent-desktop"
    filled.write_text(SUDOERS.read_text().replace("DESKTOP_USER", "pi"))
    result = subprocess.run(["visudo", "-cf", str(filled)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
