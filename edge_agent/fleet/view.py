"""The fleet as one table: a row per device seen under a topic prefix, fed MQTT messages.

``edge-agent watch`` subscribes to ``<prefix>/+/status``, ``<prefix>/+/state``,
``<prefix>/+/heartbeat/+`` and ``<prefix>/+/events`` and hands every message to
:meth:`FleetView.feed`. Pure (no I/O, time passed in) so that every rule below is
testable without a broker, and cheap: each message costs one dict lookup, one JSON
parse and a few comparisons, whatever the size of the fleet. A row that changed is
marked dirty, so a renderer writes only what changed (:meth:`FleetView.take_dirty`).

Rules an operator will notice:

* **since.** When a device's status changes while we watch, ``since`` is the moment we
  saw the change (our clock). A status that was already on the broker when we
  subscribed (a retained message) says nothing about when it became true, so ``since``
  is unknown (``None``) until the next change; a retained message that changes a status
  we knew (after a reconnect of the watcher) makes it unknown again.
* **last seen.** The newest sign of life: our clock for a live message from the device,
  the device's own time (``timestamp`` of its state, ``time`` of a heartbeat outcome or
  an event) for a retained one, never later than now. A live ``offline`` (the last will,
  published by the broker) is not a sign of life. A change of ``last_seen`` alone does
  not make the row dirty, or every message would.
* **malformed.** A payload that is not what the topic contract says (not UTF-8, not a
  JSON object, a status other than online/offline) changes nothing and is counted; a
  field of the wrong type reads as absent. Topics outside the four above are counted as
  ignored.
* A row appears with the first message of its device that could be read.
"""

from __future__ import annotations

import math
from bisect import insort
from datetime import datetime, timezone
from typing import Any, Callable, NamedTuple, Optional, Protocol

from edge_agent.jsonsafe import loads as load_json
from edge_agent.model import format_utc

ONLINE = "online"
OFFLINE = "offline"
_STATUSES = {b"online": ONLINE, b"offline": OFFLINE}


class WallClock(Protocol):
    """What the view reads the time from (``edge_agent.model.SystemClock`` fits)."""

    def now(self) -> datetime: ...


class HeartbeatCell(NamedTuple):
    """The last outcome of one heartbeat endpoint of one device (a tuple: cheap and comparable)."""

    ok: Optional[bool]
    vendor: Optional[str] = None
    status: Optional[int] = None
    time: Optional[str] = None
    error: Optional[str] = None

    def to_json(self) -> dict[str, Any]:
        return dict(self._asdict())


class ActionCell(NamedTuple):
    """The newest action event of one device: which action, in which state, and why."""

    state: str
    action_id: Optional[str] = None
    action_type: Optional[str] = None
    time: Optional[str] = None
    reason: Optional[str] = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.action_id,
            "type": self.action_type,
            "state": self.state,
            "time": self.time,
            "reason": self.reason,
        }


_STATE_FIELDS = (
    "cpu_percent",
    "memory_free_percent",
    "hottest_zone",
    "hottest_celsius",
    "battery_percent",
    "charging",
    "wifi_signal_dbm",
    "version",
)


class DeviceRow:
    """One device as the operator sees it. Slotted: a fleet of thousands keeps thousands of these."""

    __slots__ = ("device_id", "heartbeats", "last_action", "last_seen", "since", "status", *_STATE_FIELDS)

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.status: Optional[str] = None
        self.since: Optional[datetime] = None
        self.cpu_percent: Optional[float] = None
        self.memory_free_percent: Optional[float] = None
        self.hottest_zone: Optional[str] = None
        self.hottest_celsius: Optional[float] = None
        self.battery_percent: Optional[float] = None
        self.charging: Optional[bool] = None
        self.wifi_signal_dbm: Optional[float] = None
        self.version: Optional[str] = None
        self.heartbeats: dict[str, HeartbeatCell] = {}
        self.last_action: Optional[ActionCell] = None
        self.last_seen: Optional[datetime] = None

    def to_json(self) -> dict[str, Any]:
        """The public form of a row (``edge-agent watch --json``); keys must not be renamed."""
        hottest = None
        if self.hottest_zone is not None:
            hottest = {"zone": self.hottest_zone, "celsius": self.hottest_celsius}
        return {
            "device_id": self.device_id,
            "status": self.status,
            "since": _utc(self.since),
            "cpu_percent": self.cpu_percent,
            "memory_free_percent": self.memory_free_percent,
            "hottest": hottest,
            "battery_percent": self.battery_percent,
            "charging": self.charging,
            "wifi_signal_dbm": self.wifi_signal_dbm,
            "version": self.version,
            "heartbeats": {name: cell.to_json() for name, cell in sorted(self.heartbeats.items())},
            "last_action": self.last_action.to_json() if self.last_action is not None else None,
            "last_seen": _utc(self.last_seen),
        }


_Apply = Callable[[DeviceRow, "dict[str, Any]"], bool]
"""Reads one JSON document into a row; True when the row changed."""


class FleetView:
    """Every device under ``prefix``: feed it messages, read its rows, take what changed."""

    def __init__(self, prefix: str, clock: WallClock) -> None:
        self.prefix = prefix
        self.clock = clock
        self.messages = 0
        self.malformed = 0
        self.ignored = 0
        self.online = 0
        self.offline = 0
        self._head = prefix + "/"
        self._rows: dict[str, DeviceRow] = {}
        self._order: list[str] = []
        self._dirty: set[str] = set()

    # -- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    def row(self, device_id: str) -> Optional[DeviceRow]:
        return self._rows.get(device_id)

    def device_ids(self) -> list[str]:
        """Every device id, sorted (kept sorted as devices appear; do not modify)."""
        return self._order

    def rows(self, limit: Optional[int] = None) -> list[DeviceRow]:
        """Every row (or the first ``limit``), sorted by device id."""
        order = self._order if limit is None else self._order[:limit]
        return [self._rows[device_id] for device_id in order]

    def take_dirty(self) -> list[DeviceRow]:
        """The rows that changed since the last call, sorted by device id; the dirty set is emptied."""
        dirty, self._dirty = self._dirty, set()
        return [self._rows[device_id] for device_id in sorted(dirty)]

    @property
    def dirty_count(self) -> int:
        return len(self._dirty)

    # -- feeding ----------------------------------------------------------------------------

    def feed(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Take one message; never raises for anything a broker can deliver."""
        self.messages += 1
        if not topic.startswith(self._head):
            self.ignored += 1
            return
        parts = topic[len(self._head) :].split("/")
        if len(parts) == 2 and parts[0]:
            kind, name = parts[1], None
        elif len(parts) == 3 and parts[0] and parts[1] == "heartbeat" and parts[2]:
            kind, name = "heartbeat", parts[2]
        else:
            self.ignored += 1
            return
        device_id = parts[0]
        if kind == "status":
            self._take_status(device_id, payload, retain)
        elif kind == "state":
            self._take_json(device_id, payload, retain, self._apply_state)
        elif kind == "events":
            self._take_json(device_id, payload, retain, self._apply_event)
        elif name is not None:
            self._take_json(
                device_id, payload, retain, lambda row, doc: self._apply_heartbeat(row, name, doc)
            )
        else:
            self.ignored += 1

    def _row(self, device_id: str) -> DeviceRow:
        row = self._rows.get(device_id)
        if row is None:
            row = self._rows[device_id] = DeviceRow(device_id)
            insort(self._order, device_id)
            self._dirty.add(device_id)
        return row

    def _take_status(self, device_id: str, payload: bytes, retain: bool) -> None:
        status = _STATUSES.get(payload.strip())
        if status is None:
            self.malformed += 1
            return
        row = self._row(device_id)
        now = self.clock.now()
        if status != row.status:
            if row.status is not None:
                self._count(row.status, -1)
            self._count(status, +1)
            row.status = status
            row.since = None if retain else now
            self._dirty.add(device_id)
        if status == ONLINE and not retain:
            _seen(row, now)

    def _count(self, status: str, step: int) -> None:
        if status == ONLINE:
            self.online += step
        else:
            self.offline += step

    def _take_json(self, device_id: str, payload: bytes, retain: bool, apply: _Apply) -> None:
        try:
            document = load_json(payload, strict=False)
        except (UnicodeDecodeError, ValueError):
            self.malformed += 1
            return
        if not isinstance(document, dict):
            self.malformed += 1
            return
        row = self._row(device_id)
        if apply(row, document):
            self._dirty.add(device_id)
        now = self.clock.now()
        if not retain:
            _seen(row, now)
        else:
            stamp = parse_time(document.get("timestamp") or document.get("time"))
            if stamp is not None:
                _seen(row, min(stamp, now))

    # -- what each topic says ---------------------------------------------------------------

    def _apply_state(self, row: DeviceRow, state: dict[str, Any]) -> bool:
        zone, celsius = _hottest(state.get("temperatures"))
        agent = state.get("agent")
        version = agent.get("version") if isinstance(agent, dict) else None
        values = (
            _number(state.get("cpu_percent")),
            _number(state.get("memory_free_percent")),
            zone,
            celsius,
            _number(state.get("battery_percent")),
            state.get("charging") if isinstance(state.get("charging"), bool) else None,
            _number(state.get("wifi_signal_dbm")),
            version if isinstance(version, str) else None,
        )
        changed = values != tuple(getattr(row, name) for name in _STATE_FIELDS)
        if changed:
            for name, value in zip(_STATE_FIELDS, values):
                setattr(row, name, value)
        heartbeats = state.get("heartbeats")
        if isinstance(heartbeats, dict):
            for name, outcome in heartbeats.items():
                if isinstance(outcome, dict) and self._apply_heartbeat(row, str(name), outcome):
                    changed = True
        return changed

    @staticmethod
    def _apply_heartbeat(row: DeviceRow, name: str, outcome: dict[str, Any]) -> bool:
        ok = outcome.get("ok")
        status = outcome.get("status")
        cell = HeartbeatCell(
            ok if isinstance(ok, bool) else None,
            vendor=_text(outcome.get("vendor")),
            status=status if isinstance(status, int) and not isinstance(status, bool) else None,
            time=_text(outcome.get("time")),
            error=_text(outcome.get("error")),
        )
        if row.heartbeats.get(name) == cell:
            return False
        row.heartbeats[name] = cell
        return True

    @staticmethod
    def _apply_event(row: DeviceRow, event: dict[str, Any]) -> bool:
        event_type = event.get("type")
        if not isinstance(event_type, str):
            return False
        if event_type.startswith("action."):
            state = _text(event.get("state")) or event_type[len("action.") :]
            if state == "started":
                state = "running"
            cell = ActionCell(
                state,
                action_id=_text(event.get("action_id")),
                action_type=_text(event.get("action_type")),
                time=_text(event.get("time")),
                reason=_text(event.get("reason")),
            )
        elif event_type == "command.rejected":
            cell = ActionCell(
                "rejected",
                action_id=_text(event.get("command_id")),
                time=_text(event.get("time")),
                reason=_text(event.get("reason")),
            )
        else:
            return False
        row.last_action = cell
        return True


def _seen(row: DeviceRow, moment: datetime) -> None:
    if row.last_seen is None or moment > row.last_seen:
        row.last_seen = moment


def _number(value: Any) -> Optional[float]:
    """A finite number, or None (JSON allows 1e999 and NaN reads back from Python's json)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _text(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def _hottest(temperatures: Any) -> tuple[Optional[str], Optional[float]]:
    """The zone with the highest reading, ties broken by name so the answer is stable."""
    if not isinstance(temperatures, dict):
        return None, None
    best: tuple[Optional[str], Optional[float]] = (None, None)
    for zone, reading in temperatures.items():
        celsius = _number(reading)
        if celsius is None:
            continue
        if best[1] is None or celsius > best[1] or (celsius == best[1] and str(zone) < str(best[0])):
            best = (str(zone), celsius)
    return best


def parse_time(value: Any) -> Optional[datetime]:
    """An ISO 8601 time as the agent writes it (``...Z``), or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _utc(moment: Optional[datetime]) -> Optional[str]:
    return format_utc(moment) if moment is not None else None
