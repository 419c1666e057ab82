"""The agent as a user runs it: ``python -m edge_agent run -c FILE``, and the config it reads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


class AgentProcess:
    """``python -m edge_agent run -c FILE`` as a user starts it; its log goes to a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "edge_agent", "--log-level", "info", "run", "-c", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush; what survives is what was on disk."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=20)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, needle: str, timeout: float = 30.0) -> str:
        """Wait until ``needle`` appears in the agent's log; return the log."""
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never appeared in the agent's log:\n{self.text()}")
            time.sleep(0.05)
        return self.text()


def agent_config(
    workdir: Path,
    port: int,
    *,
    device_id: str = "dev-1",
    mqtt_extra: str = "",
    outbox_max: int = 10000,
) -> Path:
    """A config file for one agent: metrics every 0.5 s of this machine, quick reconnects."""
    path = workdir / f"{device_id}.toml"
    path.write_text(
        f'[device]\nid = "{device_id}"\n\n'
        "[metrics]\ninterval = 0.5\n\n"
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nkeepalive = 5\n'
        f"reconnect_min = 0.05\nreconnect_max = 0.3\n{mqtt_extra}\n"
        f'[storage]\npath = "{workdir / (device_id + ".db")}"\noutbox_max = {outbox_max}\n'
    )
    return path
