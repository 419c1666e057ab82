"""The AI-box platform (vendor 002, docs.p6sai.com): the server that receives heartbeat events.

The device POSTs ``{"operator": "heartbeat", "deviceInfo": {...}, "info": {...}}`` and
the platform's HTTP answer is the ``heartbeat-Ack``. The device retransmits an event,
with the same ``eventId``, until an Ack with that ``eventId`` and ``result.errorNo == 0``
arrives in time, so this simulator's job is to make retransmission testable:

* every received event is recorded with its first-seen time per
  ``(serialNumber, operator, eventId)``; copies are counted as duplicates and Acked
  exactly like the first one (idempotent);
* :meth:`AiBoxSimulator.drop_acks`, :meth:`~AiBoxSimulator.delay_acks` and
  :meth:`~AiBoxSimulator.fail_acks` queue, in order, what happens to the next Acks.

What the seed documents is enforced as documented; where it is silent the rule is ours
and labelled [INFERRED]:

* keys are matched case-insensitively (the seed says ``deviceinfo`` in its table and
  ``deviceInfo`` in its JSON); the Ack uses the exact casing of the JSON examples;
* required fields: ``deviceInfo.serialNumber, IP, MAC, deviceType, deviceVersion`` and
  ``info.eventId`` (a JSON integer), ``info.time``, ``info.strategyVersion``. A missing or
  malformed one is answered with ``result.errorNo`` = :data:`ERROR_INVALID_FIELD` and a
  description naming the field [INFERRED: the vendor's error numbers are unknown];
* a body that is not a JSON object is answered HTTP 400, a method other than POST HTTP
  405 [INFERRED: the seed only shows the success case]; every Ack is HTTP 200;
* the platform URL's path is not documented, so any path is accepted [INFERRED];
* the Ack carries ``strategy`` only when the device's ``strategyVersion`` differs from the
  simulator's, unless told otherwise with ``set_strategy(send=...)``;
* the MQTT flavour's top-level ``sessionId`` and ``messageId`` are echoed when present.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from typing import TypeGuard  # Python 3.10+: only for the checker

from edge_agent.simulators.base import SimClock, SimRequest, SimResponse
from edge_agent.vendors.aibox.simulator_time import format_ack_time, parse_event_time

ERROR_OK = 0
ERROR_INVALID_FIELD = 1  # [INFERRED] a required field is missing or malformed

STRATEGY_FLAGS: tuple[str, ...] = (
    "isEnableElectronicDefence",
    "isCrossBorderDetectEnable",
    "isOffDutyDetectEnable",
    "isPassengerFlowStaticsEnable",
    "isCryScreamDetectEnable",
    "isPetDetectEnable",
    "isFallDetectEnable",
    "isSnapshotEnable",
    "isPersonInfoEnable",
    "isPersonDetectEnable",
    "isCarLicenseSnapshotEnable",
    "isCarDetectEnable",
    "isTimedSnapshotEnable",
    "isGroundLockStatusChangedEnable",
    "isStartupReportEnable",
    "isAbnormalEventEnable",
    "isNonWhitelistCarEnable",
    "isMotionDetectEnable",
    "isTrafficStatisticsEnable",
    "isTrafficStatisticsCarShapeEnable",
    "isKey2CallEnable",
    "isLicensePlateSurveillanceEnable",
    "isFireDetectEventEnable",
    "isVideoCoverEventEnable",
    "isElectricBikeEventEnable",
    "isGasContainerEventEnable",
    "isElectronicDefenceV2EventEnable",
)
EVENT_SEND_MODES = ("realTime", "Retransmission")
STRATEGY_SEND_RULES = ("on-change", "always", "never")

_REQUIRED_DEVICE_FIELDS = ("serialNumber", "IP", "MAC", "deviceType", "deviceVersion")


@dataclass(frozen=True)
class ReceivedEvent:
    """One arrival of an event: ``duplicate`` is True for every copy after the first."""

    event_id: int
    time: str  # the device's info.time, as sent
    received_at: datetime  # simulator clock at this arrival
    first_seen: datetime  # simulator clock at the first arrival of this eventId
    duplicate: bool


@dataclass(frozen=True)
class _Heartbeat:
    serial_number: str
    operator: str
    event_id: int
    time: str
    strategy_version: str
    session_id: Optional[str]
    message_id: Optional[str]


@dataclass(frozen=True)
class _AckFault:
    kind: str  # "drop" | "delay" | "fail"
    seconds: float = 0.0
    error_no: int = ERROR_OK
    description: str = ""


class _InvalidHeartbeat(ValueError):
    def __init__(self, description: str, event_id: Optional[int] = None) -> None:
        super().__init__(description)
        self.description = description
        self.event_id = event_id


class AiBoxSimulator:
    """The platform side of the AI-box heartbeat; a :class:`~edge_agent.simulators.base.SimApp`.

    ``sleep`` is what :meth:`delay_acks` waits with (the real ``time.sleep`` by default);
    tests pass a gate they release, so a late Ack needs no real waiting. ``utc_offset`` is
    the zone the Ack's ``info.time`` is written in (+08:00, as in the vendor's examples).
    """

    def __init__(
        self,
        clock: Optional[SimClock] = None,
        *,
        strategy_version: str = "v1.0.0",
        time_format: str = "basic",
        utc_offset: timedelta = timedelta(hours=8),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clock = clock or SimClock()
        self._sleep = sleep
        self._utc_offset = utc_offset
        self._lock = threading.Lock()
        self._faults: deque[_AckFault] = deque()
        self._arrivals: dict[str, list[ReceivedEvent]] = {}
        self._first_seen: dict[tuple[str, str, int], datetime] = {}
        self._delivered: dict[str, set[int]] = {}
        self.strategy_version = strategy_version
        self.strategy: dict[str, Any] = {"passengerStaticsInterval": 2, "heartBeatInterval": 30}
        self.strategy.update(dict.fromkeys(STRATEGY_FLAGS, True))
        self.strategy_send_rule = "on-change"
        self.heartbeat_interval = 30
        self.event_send_mode = "realTime"
        self.time_format = ""
        self.set_time_format(time_format)

    # -- configuration hooks -------------------------------------------------------------

    def set_strategy(
        self,
        version: Optional[str] = None,
        *,
        send: Optional[str] = None,
        passenger_statics_interval: Optional[int] = None,
        **flags: bool,
    ) -> None:
        """Change the platform's strategy; ``send`` is "on-change", "always" or "never"."""
        unknown = sorted(set(flags) - set(STRATEGY_FLAGS))
        if unknown:
            raise ValueError(f"unknown strategy flags: {', '.join(unknown)}")
        if send is not None and send not in STRATEGY_SEND_RULES:
            raise ValueError(f"send must be one of {STRATEGY_SEND_RULES}")
        with self._lock:
            if version is not None:
                self.strategy_version = version
            if send is not None:
                self.strategy_send_rule = send
            if passenger_statics_interval is not None:
                self.strategy["passengerStaticsInterval"] = passenger_statics_interval
            self.strategy.update({name: bool(value) for name, value in flags.items()})

    def set_intervals(
        self, heartbeat_interval: Optional[int] = None, strategy_heartbeat_interval: Optional[int] = None
    ) -> None:
        """Set ``info.heartbeatInterval`` and ``strategy.heartBeatInterval`` (both seconds)."""
        with self._lock:
            if heartbeat_interval is not None:
                self.heartbeat_interval = heartbeat_interval
            if strategy_heartbeat_interval is not None:
                self.strategy["heartBeatInterval"] = strategy_heartbeat_interval

    def set_event_send_mode(self, mode: str) -> None:
        if mode not in EVENT_SEND_MODES:
            raise ValueError(f"eventSendMode must be one of {EVENT_SEND_MODES}")
        with self._lock:
            self.event_send_mode = mode

    def set_time_format(self, time_format: str) -> None:
        """``basic`` (20200331T101002+08, as the seed's Ack) or ``extended`` (2020-03-31T10:10:02+08:00)."""
        if time_format not in ("basic", "extended"):
            raise ValueError("time_format must be 'basic' or 'extended'")
        with self._lock:
            self.time_format = time_format

    # -- fault hooks: each queues ``n`` outcomes for the next valid heartbeats, in order ----

    def drop_acks(self, n: int = 1) -> None:
        """Record the next ``n`` events but answer HTTP 200 with an empty body: no Ack.

        Chosen over hanging or closing the connection because it needs no real waiting
        and the platform still sees the event, which is the case that matters for
        de-duplication. A late Ack is :meth:`delay_acks`; a connection that hangs or is
        closed without an answer is ``SimulatorServer.inject(Fault("hang", ...))``.
        """
        self._queue(n, _AckFault("drop"))

    def delay_acks(self, n: int, seconds: float) -> None:
        """Answer the next ``n`` events with a correct Ack, but only after ``sleep(seconds)``."""
        self._queue(n, _AckFault("delay", seconds=seconds))

    def fail_acks(self, n: int = 1, error_no: int = 500, description: str = "platform busy") -> None:
        """Answer the next ``n`` events with ``result.errorNo = error_no`` (must not be 0)."""
        if error_no == ERROR_OK:
            raise ValueError("a failed Ack needs an errorNo other than 0")
        self._queue(n, _AckFault("fail", error_no=error_no, description=description))

    def _queue(self, n: int, fault: _AckFault) -> None:
        with self._lock:
            self._faults.extend([fault] * n)

    # -- inspection hooks -----------------------------------------------------------------

    def events(self, serial: str) -> list[ReceivedEvent]:
        """Every arrival from ``serial`` (duplicates included), in arrival order."""
        with self._lock:
            return list(self._arrivals.get(serial, []))

    def duplicates(self, serial: str) -> dict[int, int]:
        """eventId -> how many extra copies arrived after the first (only ids with copies)."""
        counts: dict[int, int] = {}
        for event in self.events(serial):
            if event.duplicate:
                counts[event.event_id] = counts.get(event.event_id, 0) + 1
        return counts

    def delivered(self, serial: str) -> set[int]:
        """The eventIds of ``serial`` answered with an Ack whose errorNo is 0 (late ones too)."""
        with self._lock:
            return set(self._delivered.get(serial, set()))

    # -- the protocol ---------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimResponse:
        if request.method != "POST":
            return SimResponse.json(_error_body("only POST is accepted"), status=405)
        try:
            body = request.json()
        except ValueError:
            return SimResponse.json(_error_body("body is not JSON"), status=400)
        if not isinstance(body, dict):
            return SimResponse.json(_error_body("body is not a JSON object"), status=400)
        try:
            heartbeat = _parse_heartbeat(body)
        except _InvalidHeartbeat as invalid:
            return SimResponse.json(self._invalid_ack(body, invalid))
        with self._lock:
            self._record(heartbeat)
            fault = self._faults.popleft() if self._faults else None
            if fault is not None and fault.kind == "drop":
                return SimResponse(200, b"", {"Content-Type": "application/json"})
            if fault is not None and fault.kind == "fail":
                ack = self._ack(heartbeat, fault.error_no, fault.description)
            else:
                ack = self._ack(heartbeat, ERROR_OK, "ok")
                self._delivered.setdefault(heartbeat.serial_number, set()).add(heartbeat.event_id)
        if fault is not None and fault.kind == "delay":
            self._sleep(fault.seconds)
        return SimResponse.json(ack)

    def _record(self, heartbeat: _Heartbeat) -> None:
        now = self.clock.now()
        key = (heartbeat.serial_number, heartbeat.operator, heartbeat.event_id)
        duplicate = key in self._first_seen
        first_seen = self._first_seen.setdefault(key, now)
        arrival = ReceivedEvent(heartbeat.event_id, heartbeat.time, now, first_seen, duplicate)
        self._arrivals.setdefault(heartbeat.serial_number, []).append(arrival)

    def _ack(self, heartbeat: _Heartbeat, error_no: int, description: str) -> dict[str, Any]:
        info: dict[str, Any] = {
            "eventId": heartbeat.event_id,
            "time": format_ack_time(self.clock.now(), self._utc_offset, self.time_format),
            "heartbeatInterval": self.heartbeat_interval,
            "eventSendMode": self.event_send_mode,
        }
        if self._sends_strategy(heartbeat.strategy_version):
            info["strategy"] = dict(self.strategy)
        ack: dict[str, Any] = {"operator": "heartbeat-Ack"}
        if heartbeat.session_id is not None:
            ack["sessionId"] = heartbeat.session_id
        if heartbeat.message_id is not None:
            ack["messageId"] = heartbeat.message_id
        ack["info"] = info
        ack["result"] = {"errorNo": error_no, "description": description}
        return ack

    def _sends_strategy(self, device_version: str) -> bool:
        if self.strategy_send_rule == "always":
            return True
        if self.strategy_send_rule == "never":
            return False
        return device_version != self.strategy_version

    def _invalid_ack(self, body: dict[str, Any], invalid: _InvalidHeartbeat) -> dict[str, Any]:
        ack: dict[str, Any] = {"operator": "heartbeat-Ack"}
        top = _lower_keys(body)
        for name in ("sessionId", "messageId"):
            if isinstance(top.get(name.lower()), str):
                ack[name] = top[name.lower()]
        info: dict[str, Any] = {"eventSendMode": self.event_send_mode}
        if invalid.event_id is not None:
            info["eventId"] = invalid.event_id
        ack["info"] = info
        ack["result"] = {"errorNo": ERROR_INVALID_FIELD, "description": invalid.description}
        return ack


def _parse_heartbeat(body: dict[str, Any]) -> _Heartbeat:
    """The heartbeat's fields, looked up case-insensitively; raises on the first bad one."""
    top = _lower_keys(body)
    info = _lower_keys(top.get("info"))
    device = _lower_keys(top.get("deviceinfo"))
    event_id = info.get("eventid")
    valid_id = isinstance(event_id, int) and not isinstance(event_id, bool)
    echo_id = event_id if valid_id else None
    operator = top.get("operator")
    if not isinstance(operator, str) or operator.lower() != "heartbeat":
        raise _InvalidHeartbeat(f"operator must be 'heartbeat', got {operator!r}", echo_id)
    if not isinstance(top.get("deviceinfo"), dict):
        raise _InvalidHeartbeat("deviceInfo is missing", echo_id)
    for name in _REQUIRED_DEVICE_FIELDS:
        if not _non_empty_string(device.get(name.lower())):
            raise _InvalidHeartbeat(f"deviceInfo.{name} is missing or not a string", echo_id)
    if not isinstance(top.get("info"), dict):
        raise _InvalidHeartbeat("info is missing", echo_id)
    if not isinstance(event_id, int) or isinstance(event_id, bool):  # not valid_id, said so mypy sees it
        raise _InvalidHeartbeat("info.eventId is missing or not an integer")
    event_time = info.get("time")
    if not _non_empty_string(event_time):
        raise _InvalidHeartbeat("info.time is missing or not a string", echo_id)
    try:
        parse_event_time(event_time)
    except ValueError as exc:
        raise _InvalidHeartbeat(f"info.time {event_time!r} is not an ISO 8601 time: {exc}", echo_id) from exc
    if not _non_empty_string(info.get("strategyversion")):
        raise _InvalidHeartbeat("info.strategyVersion is missing or not a string", echo_id)
    session_id = top.get("sessionid")
    message_id = top.get("messageid")
    return _Heartbeat(
        serial_number=device["serialnumber"],
        operator="heartbeat",
        event_id=event_id,
        time=event_time,
        strategy_version=info["strategyversion"],
        session_id=session_id if isinstance(session_id, str) else None,
        message_id=message_id if isinstance(message_id, str) else None,
    )


def _lower_keys(value: Any) -> dict[str, Any]:
    return {str(key).lower(): item for key, item in value.items()} if isinstance(value, dict) else {}


def _non_empty_string(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and value.strip() != ""


def _error_body(description: str) -> dict[str, Any]:
    return {"result": {"errorNo": ERROR_INVALID_FIELD, "description": description}}


# -- the registry convention (see edge_agent/simulators/__init__.py) ----------------------


def create(clock: Optional[SimClock] = None) -> AiBoxSimulator:
    return AiBoxSimulator(clock)


def describe(base_url: str) -> str:
    return (
        f'AI-box platform: set url = "{base_url}/heartbeat" in a [heartbeats.<name>] table with '
        'vendor = "aibox" (any path is accepted; the Ack echoes eventId)'
    )


def seed_demo(app: AiBoxSimulator) -> dict[str, str]:
    """The AI-box protocol has no credentials; the demo platform has a newer strategy than a
    device's default, so the device receives the full strategy in its first Ack."""
    app.set_strategy(version="v1.0.1-demo")
    return {"platform_strategy_version": app.strategy_version}
