"""Telecom X IPTV app heartbeat, server side (seed 000, protocols.md section 1).

``POST /iptv/app/heartbeat`` takes a JSON object carrying the device's session
``token`` and its statistics, and answers a JSON array of the actions queued for that
device. What the simulator enforces, and where each rule comes from:

- [DOC] the heartbeat is a POST with a JSON body; other paths answer 404 and other
  methods on the heartbeat path 405 [INFERRED statuses].
- [DOC] a missing or unknown token: 403 ``access_denied``. Then, per device flag, the
  other 403 cases: ``mac`` "Mac not authorized", ``mac`` "Device not enabled",
  ``customer`` "Customer not active", ``portal`` "Portal not found". The order in which
  the flags are checked is [INFERRED] (the documentation lists them in that order).
- [DOC] 500 ``internal_error``, injected with :meth:`TelecomXSimulator.fail_internal`.
- [INFERRED] the error body's shape is undocumented; the default is
  ``{"error": key, "message": text}`` and ``error_body=`` replaces it.
- [DOC] a heartbeat returns every queued action in FIFO order and clears the queue;
  with ``noEvents: true`` (JSON ``true`` only [INFERRED]) it returns them and keeps them.
- [INFERRED] a body that is not a JSON object answers 400 ``bad_request``.
- [INFERRED] the real server's type checks are unknown, so the simulator is lenient by
  default: it accepts and records unknown fields and any types. ``strict=True`` checks
  the seed's declared types (and ``freeMemory`` within 0-100) before the token and
  answers 400 ``{"error": "bad_request", "message": ..., "field": <name>}``.
- [INFERRED] an action queued without ``date`` gets the simulator clock's time in
  milliseconds (the seed's examples are placeholders; the platform is Node-style).

Devices are keyed by device id; :meth:`TelecomXSimulator.reset_token` mints a new token
for a device (mirroring ``api:iptv:device:resettoken``), after which the old one is
unknown (403 ``access_denied``) while the device keeps its queue and history.
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from edge_agent.simulators.base import SimClock, SimRequest, SimResponse

HEARTBEAT_PATH = "/iptv/app/heartbeat"

# The seed's own response example, verbatim: JavaScript object literals, not JSON.
# Feed it to a client with ``server.inject(Fault("garbage", body=SEED_JS_LITERAL_REPLY))``.
SEED_JS_LITERAL_REPLY = (
    b"[ { type: 'MESSAGE', message: 'We need to reboot your box' date: 149465756 }, "
    b"{ type: 'REBOOT', date: 149465758 } ]"
)

ErrorBody = Callable[[str, str], Union[dict[str, Any], str, bytes]]

_NUMBER_FIELDS = (
    "wifiLinkSpeed",
    "wifiSignalStrength",
    "freeMemory",
    "uptime",
    "remoteRtt",
    "remotePacketLoss",
    "batteryState",
    "interactions",
)
_BOOLEAN_FIELDS = ("chargingState", "awakeState", "turnedOff", "noEvents")
_STRING_FIELDS = ("token", "cpuUsage", "place")
_APP_FIELD_TYPES = {
    "name": "string",
    "versionCode": "number",
    "versionName": "string",
    "installed": "boolean",
}
_DEVICE_FLAGS = (
    "device_id",
    "mac",
    "enabled",
    "mac_authorized",
    "customer_active",
    "portal_exists",
    "technical_room_number",
)


def default_error_body(key: str, text: str) -> dict[str, Any]:
    """[INFERRED] the shape we assume for Telecom X error bodies; the wiki documents none."""
    return {"error": key, "message": text}


@dataclass
class TelecomXDevice:
    """One tablet as the platform knows it: identity, the flags behind the 403s, its queue."""

    token: str
    device_id: str
    mac: str
    enabled: bool = True
    mac_authorized: bool = True
    customer_active: bool = True
    portal_exists: bool = True
    technical_room_number: str = ""
    actions: deque[dict[str, Any]] = field(default_factory=deque)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)


class BadField(ValueError):
    """A heartbeat field of the wrong type (strict mode); ``field`` names it."""

    def __init__(self, field_name: str, reason: str) -> None:
        self.field = field_name
        super().__init__(f"{field_name}: {reason}")


class TelecomXSimulator:
    """The heartbeat endpoint of the Telecom X IPTV platform, with hooks for tests."""

    def __init__(
        self,
        clock: Optional[SimClock] = None,
        *,
        rng: Optional[random.Random] = None,
        strict: bool = False,
        error_body: ErrorBody = default_error_body,
        history_limit: Optional[int] = None,
    ) -> None:
        self.clock = clock or SimClock()
        self.strict = strict
        self.error_body = error_body
        self.history_limit = history_limit
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._devices: dict[str, TelecomXDevice] = {}  # device_id -> device
        self._by_token: dict[str, str] = {}  # token -> device_id
        self._internal_errors = 0

    # ----------------------------------------------------------------- test hooks

    def add_device(self, token: str, **flags: Any) -> TelecomXDevice:
        """Provision a tablet; ``flags`` are :class:`TelecomXDevice` fields (ids are minted if absent)."""
        unknown = set(flags) - set(_DEVICE_FLAGS)
        if unknown:
            raise TypeError(f"unknown device flags: {', '.join(sorted(unknown))}")
        with self._lock:
            if token in self._by_token:
                raise ValueError(f"token {token!r} already belongs to a device")
            device_id = str(flags.pop("device_id", None) or self._mint(10, "0123456789"))
            if device_id in self._devices:
                raise ValueError(f"device id {device_id!r} already exists")
            mac = str(flags.pop("mac", None) or self._mint_mac())
            device = TelecomXDevice(token=token, device_id=device_id, mac=mac, **flags)
            self._devices[device_id] = device
            self._by_token[token] = device_id
            return device

    def set_flags(self, token: str, **flags: Any) -> None:
        """Change a device's flags (``enabled=False`` etc.) to provoke the 403 cases."""
        allowed = set(_DEVICE_FLAGS) - {"device_id"}
        unknown = set(flags) - allowed
        if unknown:
            raise TypeError(f"unknown device flags: {', '.join(sorted(unknown))}")
        with self._lock:
            device = self._device(token)
            for name, value in flags.items():
                setattr(device, name, value)

    def queue_action(self, token: str, action: dict[str, Any]) -> dict[str, Any]:
        """Queue one action for the device's next heartbeat; fills ``date`` if absent."""
        queued = dict(action)
        queued.setdefault("date", int(self.clock.timestamp() * 1000))
        with self._lock:
            self._device(token).actions.append(queued)
        return dict(queued)

    def queued_actions(self, token: str) -> list[dict[str, Any]]:
        """What the device's next heartbeat would receive."""
        with self._lock:
            return [dict(action) for action in self._device(token).actions]

    def reset_token(self, device_id: str) -> str:
        """Mint a new session token for ``device_id``; the old one stops working at once."""
        with self._lock:
            try:
                device = self._devices[device_id]
            except KeyError:
                raise KeyError(f"no device with id {device_id!r}") from None
            new_token = self._mint(24, "0123456789ABCDEF")
            while new_token in self._by_token:
                new_token = self._mint(24, "0123456789ABCDEF")
            del self._by_token[device.token]
            device.token = new_token
            self._by_token[new_token] = device_id
            return new_token

    def fail_internal(self, times: int = 1) -> None:
        """Answer the next ``times`` heartbeats with 500 ``internal_error``."""
        with self._lock:
            self._internal_errors += times

    def heartbeats(self, token: str) -> list[dict[str, Any]]:
        """Every accepted heartbeat body of the device, oldest first, unknown fields kept."""
        with self._lock:
            return [dict(body) for body in self._device(token).heartbeats]

    def last_heartbeat(self, token: str) -> Optional[dict[str, Any]]:
        """The device's latest accepted heartbeat body, or None before the first."""
        with self._lock:
            bodies = self._device(token).heartbeats
            return dict(bodies[-1]) if bodies else None

    # ----------------------------------------------------------------- the server

    def handle(self, request: SimRequest) -> SimResponse:
        if request.path.rstrip("/") != HEARTBEAT_PATH:
            return self._error(404, "not_found", f"no route for {request.path}")
        if request.method != "POST":
            return self._error(405, "method_not_allowed", "use POST", {"Allow": "POST"})
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return self._error(400, "bad_request", "the body is not JSON")
        if not isinstance(body, dict):
            return self._error(400, "bad_request", "the body must be a JSON object")
        if self.strict:
            try:
                check_heartbeat_types(body)
            except BadField as exc:
                return self._error(400, "bad_request", str(exc), field_name=exc.field)
        with self._lock:
            return self._answer(body)

    def _answer(self, body: dict[str, Any]) -> SimResponse:
        token = body.get("token")
        device_id = self._by_token.get(token) if isinstance(token, str) else None
        if device_id is None:
            return self._error(403, "access_denied", "Insufficient access level")
        device = self._devices[device_id]
        refusal = _refusal(device)
        if refusal is not None:
            return self._error(403, *refusal)
        if self._internal_errors > 0:
            self._internal_errors -= 1
            return self._error(500, "internal_error", "Internal error")
        device.heartbeats.append(dict(body))
        if self.history_limit is not None and len(device.heartbeats) > self.history_limit:
            del device.heartbeats[: -self.history_limit]
        actions = list(device.actions)
        if body.get("noEvents") is not True:
            device.actions.clear()
        return SimResponse.json(actions)

    def _error(
        self,
        status: int,
        key: str,
        text: str,
        headers: Optional[dict[str, str]] = None,
        field_name: Optional[str] = None,
    ) -> SimResponse:
        payload = self.error_body(key, text)
        if isinstance(payload, bytes):
            return SimResponse(status, payload, dict(headers or {}))
        if isinstance(payload, str):
            merged = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
            return SimResponse(status, payload.encode("utf-8"), merged)
        if field_name is not None:
            payload = {**payload, "field": field_name}
        return SimResponse.json(payload, status, headers)

    def _device(self, token: str) -> TelecomXDevice:
        try:
            return self._devices[self._by_token[token]]
        except KeyError:
            raise KeyError(f"no device with token {token!r}") from None

    def _mint(self, length: int, alphabet: str) -> str:
        return "".join(self._rng.choice(alphabet) for _ in range(length))

    def _mint_mac(self) -> str:
        return ":".join(f"{self._rng.randrange(256):02x}" for _ in range(6))


def _refusal(device: TelecomXDevice) -> Optional[tuple[str, str]]:
    """The (key, text) of the 403 a device's flags call for, or None when it may heartbeat."""
    if not device.mac_authorized:
        return ("mac", "Mac not authorized")
    if not device.enabled:
        return ("mac", "Device not enabled")
    if not device.customer_active:
        return ("customer", "Customer not active")
    if not device.portal_exists:
        return ("portal", "Portal not found")
    return None


def check_heartbeat_types(body: dict[str, Any]) -> None:
    """Raise :class:`BadField` for the first field whose type differs from the seed's table."""
    for name in _STRING_FIELDS:
        if name in body and not isinstance(body[name], str):
            raise BadField(name, "must be a string")
    for name in _NUMBER_FIELDS:
        if name in body and not _is_number(body[name]):
            raise BadField(name, "must be a number")
    for name in _BOOLEAN_FIELDS:
        if name in body and not isinstance(body[name], bool):
            raise BadField(name, "must be a boolean")
    if "freeMemory" in body and not 0 <= body["freeMemory"] <= 100:
        raise BadField("freeMemory", "must be within 0-100")
    if "temperatureZones" in body:
        _check_temperature_zones(body["temperatureZones"])
    if "appStatus" in body:
        _check_app_status(body["appStatus"])


def _check_temperature_zones(value: Any) -> None:
    if not isinstance(value, str):
        raise BadField("temperatureZones", "must be a string of comma-separated numbers")
    for part in value.split(","):
        try:
            number = float(part)
        except ValueError:
            raise BadField("temperatureZones", f"{part.strip()!r} is not a number") from None
        if not math.isfinite(number):
            raise BadField("temperatureZones", f"{part.strip()!r} is not a finite number")


def _check_app_status(value: Any) -> None:
    if not isinstance(value, dict):
        raise BadField("appStatus", "must be an object keyed by package name")
    for package, app in value.items():
        if not isinstance(app, dict):
            raise BadField(f"appStatus.{package}", "must be an object")
        for key, kind in _APP_FIELD_TYPES.items():
            if key in app and not _has_kind(app[key], kind):
                raise BadField(f"appStatus.{package}.{key}", f"must be a {kind}")


def _has_kind(value: Any, kind: str) -> bool:
    if kind == "number":
        return _is_number(value)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)


def _is_number(value: Any) -> bool:
    """A JSON number: Python parses ``true`` as a bool, which is an int, so exclude it."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---------------------------------------------------------------- registry convention


def create(clock: Optional[SimClock] = None) -> TelecomXSimulator:
    """A lenient simulator with no devices: tests add their own with :meth:`add_device`."""
    return TelecomXSimulator(clock)


DEMO_TOKEN = "DEMO0TOKEN0TELECOMX00001"


def seed_demo(app: TelecomXSimulator) -> dict[str, str]:
    """Provision a demo tablet with a welcome MESSAGE queued, for ``edge-agent simulate``."""
    device = app.add_device(DEMO_TOKEN, device_id="DEMO-TABLET-1", technical_room_number="101")
    app.queue_action(
        DEMO_TOKEN, {"type": "MESSAGE", "message": "Hello from the Telecom X simulator", "notify": 0}
    )
    return {"token": device.token, "device_id": device.device_id}


def describe(base_url: str) -> str:
    """The hint ``edge-agent simulate`` prints for an integrator."""
    return (
        f"Telecom X IPTV heartbeat: POST {base_url}{HEARTBEAT_PATH} with a JSON body "
        '{"token": "<token>", ...}; set [heartbeats.<name>] url to that address'
    )
