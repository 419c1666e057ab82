"""A Healthchecks.io ping server, written from the public "Pinging API" docs, strict about them.

What it enforces (https://healthchecks.io/docs/http_api/):

* endpoints ``/<uuid>[/start|/fail|/log|/<exit-status>]`` and
  ``/<ping-key>/<slug>[/...]``; an exit status is 0..255 (0 is a success, else a failure);
  anything else is ``400 invalid url format``;
* HEAD, GET and POST only; a POST body is the ping's log, kept up to 100 kB (the rest is cut);
* an unknown check is ``404 not found``; a slug two checks share is ``409 ambiguous slug``;
  a slug URL with ``?create=1`` creates a missing check (``201 Created``);
* more than 5 pings to one check in a minute: ``429 rate limited``, the ping ignored;
* a good ping is ``200 OK``, body ``OK``, with a ``Ping-Body-Limit: 100000`` header.

``legacy_bodies = True`` answers the older way instead: ``200`` with ``OK (not found)`` /
``OK (rate limited)``, which a client must not take for success. Test hooks: :meth:`add_check`,
:meth:`pings`, :attr:`legacy_bodies`. Imports nothing from the agent.
"""

from __future__ import annotations

import re
import threading
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Optional, Union

from edge_agent.simulators.base import SimClock, SimRequest, SimResponse

BODY_LIMIT = 100_000
RATE_LIMIT = 5  # pings per check per minute
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SLUG = re.compile(r"^[a-z0-9_-]+$")
SIGNALS = ("start", "fail", "log")


@dataclass
class Ping:
    """One ping a check received: its kind (success, start, fail, log, exit status) and its log."""

    kind: str
    body: str
    method: str
    at: float


@dataclass
class Check:
    uuid: str
    slug: Optional[str] = None
    ping_key: Optional[str] = None
    pings: list[Ping] = field(default_factory=list)
    recent: list[float] = field(default_factory=list)  # times of pings in the rate window

    @property
    def status(self) -> str:
        """``up`` after a success (or exit status 0), ``down`` after a failure, ``new`` before any."""
        for ping in reversed(self.pings):
            if ping.kind in ("success", "0"):
                return "up"
            if ping.kind == "fail" or ping.kind.isdigit():
                return "down"
        return "new"


class HealthchecksSimulator:
    """The checks of one Healthchecks instance; ``prefix`` is the ping path (``""`` or ``/ping``)."""

    def __init__(self, clock: Optional[SimClock] = None, prefix: str = "") -> None:
        self.clock = clock or SimClock()
        self.prefix = prefix.rstrip("/")
        self.legacy_bodies = False
        self.rate_limit = RATE_LIMIT
        """Pings per check per minute: Healthchecks.io's limit; a test world beating each second raises it."""
        self._checks: dict[str, Check] = {}
        self._lock = threading.Lock()

    # -- test hooks ------------------------------------------------------------------------

    def add_check(self, *, slug: Optional[str] = None, ping_key: Optional[str] = None) -> Check:
        check = Check(str(uuidlib.uuid4()), slug, ping_key)
        with self._lock:
            self._checks[check.uuid] = check
        return check

    def check(self, uuid: str) -> Check:
        return self._checks[uuid]

    def pings(self, uuid: str) -> list[Ping]:
        with self._lock:
            return list(self._checks[uuid].pings)

    # -- the server ------------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimResponse:
        if request.method not in ("HEAD", "GET", "POST"):
            return _text(405, "method not allowed")
        path = request.path
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                return _text(404, "not found")
            path = path[len(self.prefix) :]
        parts = path.strip("/").split("/")
        with self._lock:
            found = self._find(parts, request.arg("create") == "1")
            if isinstance(found, SimResponse):
                return found
            check, kind, created = found
            now = self.clock.timestamp()
            check.recent = [t for t in check.recent if now - t < 60]
            if len(check.recent) >= self.rate_limit:
                return self._refuse(429, "rate limited")
            check.recent.append(now)
            body = (
                request.body[:BODY_LIMIT].decode("utf-8", errors="replace")
                if request.method == "POST"
                else ""
            )
            check.pings.append(Ping(kind, body, request.method, now))
        return _text(201, "Created") if created else _text(200, "OK")

    def _find(self, parts: list[str], create: bool) -> Union[SimResponse, tuple[Check, str, bool]]:
        if parts and UUID.match(parts[0]):
            check_parts, rest = parts[:1], parts[1:]
        elif len(parts) >= 2 and SLUG.match(parts[1]):
            check_parts, rest = parts[:2], parts[2:]
        else:
            return _text(400, "invalid url format")
        if len(rest) > 1:
            return _text(400, "invalid url format")
        kind = rest[0] if rest else "success"
        if rest and kind not in SIGNALS:
            if not (kind.isdigit() and len(kind) <= 3 and int(kind) <= 255):
                return _text(400, "invalid url format")
            kind = str(int(kind))  # Django's int path converter: "007" is exit status 7
        created = False
        if len(check_parts) == 1:
            check = self._checks.get(check_parts[0])
            if check is None:
                return self._refuse(404, "not found")
        else:
            key, slug = check_parts
            matches = [c for c in self._checks.values() if c.ping_key == key and c.slug == slug]
            if len(matches) > 1:
                return _text(409, "ambiguous slug")
            if not matches:
                if not create or not any(c.ping_key == key for c in self._checks.values()):
                    return self._refuse(404, "not found")
                check = Check(str(uuidlib.uuid4()), slug, key)
                self._checks[check.uuid] = check
                created = True
            else:
                check = matches[0]
        return check, kind, created

    def _refuse(self, status: int, reason: str) -> SimResponse:
        if self.legacy_bodies:
            return _text(200, f"OK ({reason})")
        return _text(status, reason)


def _text(status: int, text: str) -> SimResponse:
    headers = {"Content-Type": "text/plain; charset=utf-8", "Ping-Body-Limit": str(BODY_LIMIT)}
    return SimResponse(status, text.encode("utf-8"), headers)


# ---------------------------------------------------------------- registry convention


def create(clock: Optional[SimClock] = None) -> HealthchecksSimulator:
    """A ping server with no checks: tests add their own with :meth:`add_check`."""
    return HealthchecksSimulator(clock)


DEMO_PING_KEY = "demo-ping-key-0001"


def seed_demo(app: HealthchecksSimulator) -> dict[str, str]:
    """One check by UUID and one by slug, for ``edge-agent simulate``."""
    check = app.add_check()
    app.add_check(slug="edge-agent", ping_key=DEMO_PING_KEY)
    return {"uuid": check.uuid, "ping_key": DEMO_PING_KEY, "slug": "edge-agent"}


def describe(base_url: str) -> str:
    """The hint ``edge-agent simulate`` prints for an integrator."""
    return (
        f"Healthchecks ping API: POST/GET {base_url}/<uuid>[/start|/fail|/log|/<0-255>] "
        f"or {base_url}/<ping-key>/<slug>; set [heartbeats.<name>] url = {base_url!r}"
    )
