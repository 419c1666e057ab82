"""Configs of the devices in the compatibility tests: the MQTT tests' agent config, per engine and prefix."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from mqtt_agent_process import agent_config

DEVICE = "dev-1"
FAKE_PROGRAM = """#!{python}
import json, sys
with open({log!r}, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def device_config(
    workdir: Path,
    port: int,
    prefix: str,
    *,
    protocol: str = "3.1.1",
    qos: int = 1,
    program: Optional[Path] = None,
) -> Path:
    """One agent under ``prefix``; with ``program``, MESSAGE actions run it (unsigned, from MQTT)."""
    extra = f'topic_prefix = "{prefix}"\nprotocol = "{protocol}"\nqos = {qos}\n'
    path = agent_config(workdir, port, device_id=DEVICE, mqtt_extra=extra)
    if program is not None:
        path.write_text(
            path.read_text()
            + '\n[actions]\nprofile = "none"\nallow = ["MESSAGE"]\n\n'
            + f'[actions.commands]\nMESSAGE = ["{program}", "{{message}}"]\n'
        )
    return path


def fake_program(workdir: Path) -> tuple[Path, Path]:
    """A program that only writes its arguments, one JSON line per run, and where it writes them."""
    ran = workdir / "ran.log"
    program = workdir / "bin" / "fake-notify"
    program.parent.mkdir(exist_ok=True)
    program.write_text(FAKE_PROGRAM.format(python=sys.executable, log=str(ran)))
    program.chmod(0o755)
    return program, ran
