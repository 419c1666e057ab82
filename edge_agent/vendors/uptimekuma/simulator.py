"""An Uptime Kuma push-monitor server, written from Uptime Kuma's public source, strict about it.

What it enforces (``server/routers/api-router.js``, ``router.all("/api/push/:pushToken")``):

* any method; only the query is read: ``status`` (``up`` is UP, anything else DOWN; default
  ``up``), ``msg`` (default ``OK``), ``ping`` (``parseFloat`` or null; outside
  0..100,000,000,000 ms it is refused);
* an unknown or inactive (paused) monitor: ``404 {"ok": false, "msg": "Monitor not found
  or not active."}``; a bad ping: ``404 {"ok": false, "msg": "Invalid ping value. ..."}``;
* a push taken: ``200 {"ok": true}``; any other path: 404 (Express's "Cannot GET").

Test hooks: :meth:`add_monitor`, :meth:`beats`, :meth:`pause`. Imports nothing from the agent.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Optional

from edge_agent.simulators.base import SimClock, SimRequest, SimResponse

MAX_PING_MS = 100_000_000_000
PUSH = re.compile(r"^/api/push/([^/]+)$")
FLOAT_PREFIX = re.compile(r"^\s*[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|Infinity)", re.IGNORECASE)


@dataclass
class Beat:
    """One heartbeat the monitor recorded."""

    status: str  # "up" or "down"
    msg: str
    ping: Optional[float]
    at: float


@dataclass
class Monitor:
    token: str
    active: bool = True
    beats: list[Beat] = field(default_factory=list)


class UptimeKumaSimulator:
    """The push monitors of one Uptime Kuma server."""

    def __init__(self, clock: Optional[SimClock] = None) -> None:
        self.clock = clock or SimClock()
        self._monitors: dict[str, Monitor] = {}
        self._lock = threading.Lock()

    def add_monitor(self, token: Optional[str] = None) -> Monitor:
        monitor = Monitor(token or _gen_secret(32))
        with self._lock:
            self._monitors[monitor.token] = monitor
        return monitor

    def pause(self, token: str) -> None:
        with self._lock:
            self._monitors[token].active = False

    def beats(self, token: str) -> list[Beat]:
        with self._lock:
            return list(self._monitors[token].beats)

    def handle(self, request: SimRequest) -> SimResponse:
        match = PUSH.match(request.path)
        if match is None:
            return SimResponse(
                404, f"Cannot {request.method} {request.path}".encode(), {"Content-Type": "text/html"}
            )
        token = match.group(1)
        msg = request.arg("msg") or "OK"
        ping = _parse_float(request.arg("ping"))
        status = "up" if (request.arg("status") or "up") == "up" else "down"
        if ping is not None and not 0 <= ping <= MAX_PING_MS:
            return _refuse(f"Invalid ping value. Must be between 0 and {MAX_PING_MS} ms.")
        with self._lock:
            monitor = self._monitors.get(token)
            if monitor is None or not monitor.active:
                return _refuse("Monitor not found or not active.")
            monitor.beats.append(Beat(status, msg, ping, self.clock.timestamp()))
        return SimResponse.json({"ok": True})


def _parse_float(text: Optional[str]) -> Optional[float]:
    """JavaScript's ``parseFloat(x) || null``: the leading number, and 0 or NaN become null."""
    match = FLOAT_PREFIX.match(text or "")
    if match is None:
        return None
    number = float(match.group(0).strip().replace("Infinity", "inf").replace("infinity", "inf"))
    return number or None


def _refuse(msg: str) -> SimResponse:
    return SimResponse.json({"ok": False, "msg": msg}, status=404)


def _gen_secret(length: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


# ---------------------------------------------------------------- registry convention


def create(clock: Optional[SimClock] = None) -> UptimeKumaSimulator:
    """A server with no monitors: tests add their own with :meth:`add_monitor`."""
    return UptimeKumaSimulator(clock)


DEMO_TOKEN = "DemoPushToken0001"


def seed_demo(app: UptimeKumaSimulator) -> dict[str, str]:
    """One push monitor, for ``edge-agent simulate``."""
    return {"push_token": app.add_monitor(DEMO_TOKEN).token}


def describe(base_url: str) -> str:
    """The hint ``edge-agent simulate`` prints for an integrator."""
    return (
        f"Uptime Kuma push monitor: GET {base_url}/api/push/<token>?status=up&msg=OK&ping=<ms>; "
        f"set [heartbeats.<name>] url = {base_url!r} and push_token"
    )
