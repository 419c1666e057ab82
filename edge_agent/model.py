"""Small frozen types shared by every layer of the agent.

Nothing here does I/O. A :class:`Snapshot` is what the collectors produce and what the
vendor adapters and the MQTT mirror consume; its JSON form (:meth:`Snapshot.to_json`)
is the public contract of ``edge-agent metrics --json`` and of the retained
``<prefix>/<id>/state`` topic, so its keys must not be renamed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional, Protocol


class Clock(Protocol):
    """Where the agent reads time from; tests pass a fake one to move time at will."""

    def now(self) -> datetime:
        """The current wall-clock time, timezone-aware (UTC)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps, for intervals and timeouts."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass(frozen=True)
class AppInfo:
    """One installed (or missing) application, as the IPTV heartbeat's ``appStatus`` wants it."""

    package: str
    installed: bool
    name: Optional[str] = None
    version_name: Optional[str] = None
    version_code: Optional[int] = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "installed": self.installed,
            "versionName": self.version_name,
            "versionCode": self.version_code,
        }


@dataclass(frozen=True)
class Snapshot:
    """One reading of every metric family.

    A metric the device lacks is ``None`` (or absent from a dict) and its reason is in
    ``unavailable``, keyed by the JSON key of the metric.
    """

    timestamp: datetime
    cpu_percent: Optional[float] = None
    load_1m: Optional[float] = None
    load_5m: Optional[float] = None
    load_15m: Optional[float] = None
    memory_total_bytes: Optional[int] = None
    memory_available_bytes: Optional[int] = None
    memory_free_percent: Optional[float] = None
    temperatures: dict[str, float] = field(default_factory=dict)
    cpu_temperature: Optional[float] = None
    battery_percent: Optional[float] = None
    charging: Optional[bool] = None
    wifi_signal_dbm: Optional[float] = None
    wifi_link_mbps: Optional[float] = None
    uptime_s: Optional[float] = None
    ip: Optional[str] = None
    mac: Optional[str] = None
    rtt_ms: Optional[float] = None
    packet_loss_percent: Optional[float] = None
    awake: Optional[bool] = None  # the display is on (True) or in standby (False)
    apps: dict[str, AppInfo] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The public JSON form (``edge-agent metrics --json``, MQTT ``state``)."""
        return {
            "timestamp": format_utc(self.timestamp),
            "cpu_percent": self.cpu_percent,
            "load_1m": self.load_1m,
            "load_5m": self.load_5m,
            "load_15m": self.load_15m,
            "memory_total_bytes": self.memory_total_bytes,
            "memory_available_bytes": self.memory_available_bytes,
            "memory_free_percent": self.memory_free_percent,
            "temperatures": dict(self.temperatures),
            "cpu_temperature": self.cpu_temperature,
            "battery_percent": self.battery_percent,
            "charging": self.charging,
            "wifi_signal_dbm": self.wifi_signal_dbm,
            "wifi_link_mbps": self.wifi_link_mbps,
            "uptime_s": self.uptime_s,
            "ip": self.ip,
            "mac": self.mac,
            "rtt_ms": self.rtt_ms,
            "packet_loss_percent": self.packet_loss_percent,
            "awake": self.awake,
            "apps": {name: app.to_json() for name, app in self.apps.items()},
            "unavailable": dict(self.unavailable),
        }

    def scalar_metrics(self, body: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """The metrics that are one number, flag or string (for one-value-per-topic mirrors).

        ``body``: this snapshot's :meth:`to_json`, when the caller has it already (the MQTT
        mirror builds it once a cycle for the state, this and :meth:`metric_series`).
        """
        return {
            key: value
            for key, value in (self.to_json() if body is None else body).items()
            if key not in ("timestamp", "unavailable") and not isinstance(value, (dict, list))
        }

    def metric_series(self, body: Optional[dict[str, Any]] = None) -> dict[str, dict[str, float]]:
        """The dict-valued metrics a user charts, by family (:data:`SERIES`): ``{"temperature": {...}}``."""
        if body is None:
            body = self.to_json()
        return {family: dict(body[key]) for key, family in SERIES.items()}


SERIES = {"temperatures": "temperature"}
"""Dict-valued metrics mirrored one value per member: JSON key -> the topic level of the family.

``apps`` is left out on purpose: versions and install flags are read, not charted, and
they stay in ``state``.
"""


def format_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``: ``2026-11-25T01:02:03.456Z``."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Event:
    """Something that happened, owed to ``<prefix>/<id>/events`` (QoS 1, through the outbox).

    ``type`` names what happened, in dotted form (``action.received``, ``action.succeeded``,
    ``heartbeat.error``, ``firmware.available``, ``outbox.dropped`` ...); ``data`` holds its
    fields. ``id`` is unique, so a subscriber can drop the rare duplicate that QoS 1 allows.
    """

    type: str
    data: dict[str, Any]
    id: str
    time: datetime

    @classmethod
    def new(cls, event_type: str, data: dict[str, Any], clock: Clock) -> Event:
        import uuid

        return cls(type=event_type, data=dict(data), id=uuid.uuid4().hex, time=clock.now())

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "time": format_utc(self.time), "type": self.type}
        body.update({key: value for key, value in self.data.items() if key not in body})
        return body


@dataclass(frozen=True)
class Action:
    """One piece of local work that a vendor reply or an operator asked for.

    Its JSON form, ``{"id", "type", <the type's fields>, "expires_at"?}``, is what the
    action journal stores and what the action runner reads, whoever sent the action;
    ``source`` (``heartbeat:<endpoint>``, ``mqtt`` ...) says who did, and stays outside
    the JSON because the journal keeps it in its own column. ``id`` is stable for the
    same action delivered twice, so the journal can refuse the second delivery.
    """

    id: str
    type: str
    fields: dict[str, Any]
    source: str
    expires_at: Optional[datetime] = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "type": self.type}
        body.update(
            {key: value for key, value in self.fields.items() if key not in ("id", "type", "expires_at")}
        )
        if self.expires_at is not None:
            body["expires_at"] = format_utc(self.expires_at)
        return body
