"""What the demo has seen on the broker: every message under ``<prefix>/<id>/#``, as the view shows it.

It is fed ``(topic, payload)`` in arrival order and does no I/O, so the live frames and
the final summary read one consistent picture. Everything in it came over MQTT from the
running agent: the retained state and heartbeat outcomes, the events of the durable
outbox, the PBX reports. Only :meth:`DemoPicture.note` (what the scenario did to the
simulators) comes from elsewhere, and the view says so.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from edge_agent.mqtt.topics import Topics

RECENT_EVENTS = 6
RECENT_NOTES = 8
_STATE_RANK = {"received": 0, "running": 1}  # every other state is final (rank 2)


@dataclass
class HeartbeatSeen:
    """The heartbeat outcomes of one endpoint; a retained re-send is not counted as a new beat."""

    name: str
    last: dict[str, Any]
    seen_at: float
    times: set[str] = field(default_factory=set)
    ok_times: set[str] = field(default_factory=set)

    @property
    def vendor(self) -> str:
        return str(self.last.get("vendor") or "?")

    @property
    def beats(self) -> int:
        return len(self.times)

    @property
    def ok_beats(self) -> int:
        return len(self.ok_times)


@dataclass
class ActionSeen:
    """One action as its ``action.*`` events told it: the latest state and its details."""

    action_id: str
    action_type: str
    source: str
    state: str
    detail: dict[str, Any]

    @property
    def said(self) -> str:
        """The first line the program printed (the demo's stand-in says what it would do)."""
        lines = str(self.detail.get("stdout_tail") or "").strip().splitlines()
        return lines[0] if lines else ""


class DemoPicture:
    """The device as a subscriber to its topics sees it."""

    def __init__(self, topics: Topics, monotonic: Callable[[], float]) -> None:
        self.topics = topics
        self._monotonic = monotonic
        self.status: Optional[str] = None
        self.state: dict[str, Any] = {}
        self.heartbeats: dict[str, HeartbeatSeen] = {}
        self.actions: dict[str, ActionSeen] = {}
        self.topic_counts: dict[str, int] = {}
        self.event_counts: dict[str, int] = {}
        self.recent_events: deque[str] = deque(maxlen=RECENT_EVENTS)
        self.notes: deque[str] = deque(maxlen=RECENT_NOTES)
        self.pbx_reports = 0
        self.offline_after_stop = False
        self._stopping = False
        self._event_ids: set[str] = set()

    def now(self) -> float:
        return self._monotonic()

    def note(self, text: str) -> None:
        """Something the demo's scenario did on a simulator (not seen on MQTT)."""
        self.notes.append(text)

    def stopping(self) -> None:
        """From now on an ``offline`` status is the agent's goodbye, not a leftover retained value."""
        self._stopping = True

    @property
    def messages(self) -> int:
        return sum(self.topic_counts.values())

    def take(self, topic: str, payload: bytes) -> None:
        """One message the broker delivered."""
        self.topic_counts[topic] = self.topic_counts.get(topic, 0) + 1
        base = self.topics.base + "/"
        if not topic.startswith(base):
            return
        rest = topic[len(base) :]
        if rest == "status":
            self.status = payload.decode("utf-8", errors="replace")
            if self._stopping and self.status == "offline":
                self.offline_after_stop = True
        elif rest == "state":
            body = _json_object(payload)
            if body is not None:
                self.state = body
        elif rest.startswith("heartbeat/"):
            body = _json_object(payload)
            if body is not None:
                self._take_heartbeat(rest[len("heartbeat/") :], body)
        elif rest == "events":
            body = _json_object(payload)
            if body is not None:
                self._take_event(body)
        elif rest.startswith("pbx/"):
            self.pbx_reports += 1

    def _take_heartbeat(self, name: str, outcome: dict[str, Any]) -> None:
        seen = self.heartbeats.get(name)
        if seen is None:
            seen = self.heartbeats[name] = HeartbeatSeen(name, outcome, self.now())
        seen.last, seen.seen_at = outcome, self.now()
        beat = str(outcome.get("time"))
        seen.times.add(beat)
        if outcome.get("ok"):
            seen.ok_times.add(beat)

    def _take_event(self, event: dict[str, Any]) -> None:
        event_id = str(event.get("id"))
        if event_id in self._event_ids:
            return  # QoS 1 is at least once: a resent event is not news
        self._event_ids.add(event_id)
        event_type = str(event.get("type"))
        self.event_counts[event_type] = self.event_counts.get(event_type, 0) + 1
        if event_type.startswith("action.") and event.get("action_id"):
            self._take_action(event)
        else:
            self.recent_events.append(describe_event(event))

    def _take_action(self, event: dict[str, Any]) -> None:
        action_id = str(event["action_id"])
        state = str(event.get("state") or event["type"].split(".", 1)[1])
        detail = {k: v for k, v in event.items() if k not in ("id", "time", "type", "action_id", "state")}
        seen = self.actions.get(action_id)
        if seen is None:
            self.actions[action_id] = ActionSeen(
                action_id, str(event.get("action_type")), str(event.get("source")), state, detail
            )
        elif _STATE_RANK.get(state, 2) >= _STATE_RANK.get(seen.state, 2):
            seen.state = state
            seen.detail.update(detail)


def describe_event(event: dict[str, Any]) -> str:
    """One short line for an event that is not an action's: its type and a few of its fields."""
    fields = [
        f"{key}={_short(value)}"
        for key, value in event.items()
        if key not in ("id", "time", "type") and isinstance(value, (str, int, float, bool))
    ]
    if isinstance(event.get("report"), dict):  # pbx.report: what the PBX said happened
        fields.append(f"report.action={_short(event['report'].get('action'))}")
    return " ".join([str(event.get("type")), *fields[:4]])


def _short(value: Any, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_object(payload: bytes) -> Optional[dict[str, Any]]:
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return body if isinstance(body, dict) else None
