"""``edge-agent watch`` as an operator runs it beside bench/fleet.py: is every device current in it?

A live ``edge-agent watch --json`` runs through the measuring window; a thread reads its
NDJSON and keeps, per device, the newest heartbeat time it has shown. At the end, a
device is *current* when that time is within two intervals of now. ``--once --json`` is
run at the end as well: what a script gets from the retained messages alone.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any, Optional

from fleet_world import PREFIX, cpu_seconds


def _when(text: Optional[str]) -> Optional[float]:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _argv(port: int, *extra: str) -> list[str]:
    broker = ["-H", "127.0.0.1", "-p", str(port), "--prefix", PREFIX]
    return [sys.executable, "-m", "edge_agent", "watch", *broker, "--json", *extra]


class LiveWatch:
    """``edge-agent watch --json`` in a child process, read line by line."""

    def __init__(self, port: int) -> None:
        self.process = subprocess.Popen(
            _argv(port), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self.newest_beat: dict[str, float] = {}
        self.lags: list[float] = []
        self.lines = 0
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            arrived = time.time()
            row = json.loads(line)
            beats = [_when(cell.get("time")) for cell in row.get("heartbeats", {}).values()]
            newest = max((b for b in beats if b is not None), default=None)
            with self._lock:
                self.lines += 1
                if newest is None:
                    continue
                if newest > self.newest_beat.get(row["device_id"], 0.0):
                    self.newest_beat[row["device_id"]] = newest
                    self.lags.append(arrived - newest)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def reset_lags(self) -> None:
        with self._lock:
            self.lags = []

    def summary(self, devices: int, interval: float) -> dict[str, Any]:
        """How current the live view is now: devices shown, the stalest, and how late rows arrive."""
        now = time.time()
        with self._lock:
            ages = [now - beat for beat in self.newest_beat.values()]
            lags = sorted(self.lags)
        current = sum(1 for age in ages if age <= 2 * interval)
        return {
            "shown": len(ages),
            "current": current,
            "stalest_s": round(max(ages), 1) if ages else None,
            "lag_p50_s": round(lags[len(lags) // 2], 2) if lags else None,
            "lag_max_s": round(lags[-1], 2) if lags else None,
            "all_current": len(ages) == devices and current == devices,
        }

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def watch_once(port: int, devices: int, interval: float, timeout: float) -> dict[str, Any]:
    """``edge-agent watch --once --json``: how many devices its table holds, online and current."""
    started = time.monotonic()
    done = subprocess.run(_argv(port, "--once", "--timeout", str(timeout)), capture_output=True, text=True)
    took = time.monotonic() - started
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-300:]}
    rows = json.loads(done.stdout)
    now = datetime.now(timezone.utc).timestamp()
    seen = [_when(row.get("last_seen")) for row in rows]
    current = sum(1 for when in seen if when is not None and now - when <= 2 * interval)
    online = sum(1 for row in rows if row.get("status") == "online")
    return {
        "rows": len(rows),
        "online": online,
        "current": current,
        "took_s": round(took, 1),
        "all_current": len(rows) == devices and current == devices,
    }
