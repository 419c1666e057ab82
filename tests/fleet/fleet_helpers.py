"""What the fleet tests share: a settable clock, agent-shaped payloads, and the CLI as a process."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
WAIT = 30.0


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def state(**fields: Any) -> bytes:
    """A retained ``state`` payload as the agent publishes it (snapshot keys, agent, heartbeats)."""
    body: dict[str, Any] = {
        "timestamp": iso(T0),
        "cpu_percent": None,
        "memory_free_percent": None,
        "temperatures": {},
        "battery_percent": None,
        "charging": None,
        "wifi_signal_dbm": None,
        "agent": {"version": "1.2.3", "started": iso(T0)},
        "heartbeats": {},
    }
    body.update(fields)
    return json.dumps(body).encode()


def outcome(ok: bool, *, status: Optional[int] = 200, time: str = iso(T0), **fields: Any) -> dict[str, Any]:
    """A heartbeat outcome as ``<prefix>/<id>/heartbeat/<name>`` carries it."""
    body = {"endpoint": "x", "vendor": "telecomx", "ok": ok, "status": status, "latency_ms": 12.0}
    body.update({"time": time, "error": None if ok else "HTTP 503", "actions": 0, "next_in_s": 30.0})
    body.update(fields)
    return body


def event(event_type: str, **fields: Any) -> bytes:
    return json.dumps({"id": os.urandom(8).hex(), "time": iso(T0), "type": event_type, **fields}).encode()


def cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``python -m edge_agent ARGS`` as a user runs it, to completion."""
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True, timeout=timeout
    )


class CliProcess:
    """``python -m edge_agent ARGS`` left running: stdout read line by line, stderr to a file."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.stderr_path = workdir / f"cli-{os.urandom(4).hex()}.err"
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        with open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "edge_agent", "--log-level", "info", *args],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_stderr(self, needle: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.stderr():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never appeared on stderr:\n{self.stderr()}")
            time.sleep(0.02)

    def next_line(self, timeout: float = WAIT) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output line within {timeout} s; stderr:\n{self.stderr()}") from None
        self.stdout.append(line)
        return line

    def terminate(self) -> int:
        """SIGTERM, as systemd or a Ctrl-C would end it; the exit code. The rest of stdout is read."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=WAIT)
        self._reader.join(timeout=WAIT)
        while not self.lines.empty():
            self.stdout.append(self.lines.get_nowait())
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=WAIT)
