"""The MQTT topic contract, in one place: every topic the agent publishes or subscribes to.

These names are public (README "MQTT topics"): Home Assistant, Node-RED, Telegraf and
mosquitto_sub users write them into their own configs, so they must not change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_NOT_A_DISCOVERY_ID = re.compile(r"[^A-Za-z0-9_-]")
_NOT_A_TOPIC_LEVEL = _NOT_A_DISCOVERY_ID
LEVEL_MAX_CHARS = 64


def topic_level(name: str) -> str:
    """``name`` (a thermal zone, a sensor label) as one safe topic level.

    Kernel names hold spaces (``coretemp Package id 0``) and could hold ``/``, ``+`` or
    ``#``, which would split the level or make it a wildcard. Everything but
    ``[A-Za-z0-9_-]`` becomes ``_``, which also keeps the level usable in a Home
    Assistant discovery id; the length is bounded, and an empty name is ``_``.
    """
    return _NOT_A_TOPIC_LEVEL.sub("_", name)[:LEVEL_MAX_CHARS] or "_"


def topic_levels(names: Iterable[str]) -> dict[str, str]:
    """Each name's :func:`topic_level`, unique: a second name with the same level gets ``_2``..."""
    levels: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        base = topic_level(name)
        level, count = base, 1
        while level in taken:
            count += 1
            level = f"{base}_{count}"
        taken.add(level)
        levels[name] = level
    return levels


@dataclass(frozen=True)
class Topics:
    """The topics of one device: ``<prefix>/<id>/...``."""

    prefix: str
    device_id: str
    discovery_prefix: str = "homeassistant"

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device_id}"

    @property
    def status(self) -> str:
        """Retained ``online`` / ``offline`` (``offline`` is also the last will)."""
        return f"{self.base}/status"

    @property
    def state(self) -> str:
        """Retained JSON: the latest snapshot, the agent's version and start, heartbeat outcomes."""
        return f"{self.base}/state"

    @property
    def events(self) -> str:
        """Not retained, QoS 1, through the durable outbox: one JSON object per event."""
        return f"{self.base}/events"

    @property
    def commands(self) -> str:
        """Where operators send JSON commands; the agent subscribes here."""
        return f"{self.base}/cmd"

    def metric(self, key: str) -> str:
        """Retained plain value of one scalar metric, or of one member (``temperature/<zone>``)."""
        return f"{self.base}/metrics/{key}"

    def heartbeat(self, name: str) -> str:
        """Retained JSON of the last outcome of heartbeat endpoint ``name``."""
        return f"{self.base}/heartbeat/{name}"

    def below(self, *parts: str) -> str:
        """``<base>/<parts...>``: a topic a vendor's side service owns (its ``hooks.py`` says which)."""
        return "/".join([self.base, *parts])

    @property
    def home_assistant_status(self) -> str:
        """Home Assistant announces ``online`` here when it (re)starts."""
        return f"{self.discovery_prefix}/status"

    @property
    def discovery_node(self) -> str:
        """The device id as Home Assistant accepts it in a discovery topic ([A-Za-z0-9_-])."""
        return _NOT_A_DISCOVERY_ID.sub("_", self.device_id)

    def discovery(self, component: str, key: str) -> str:
        """The discovery config topic; a member key's ``/`` becomes ``_`` (one object-id level)."""
        object_id = key.replace("/", "_")
        return f"{self.discovery_prefix}/{component}/{self.discovery_node}/{object_id}/config"
