"""Home Assistant MQTT discovery for the metrics (``[mqtt] home_assistant = true``).

One retained config message per scalar metric, and per member of a charted dict
metric (each temperature zone: key ``temperature/<zone level>``), under
``<discovery_prefix>/<component>/<node>/<key>/config``, makes each metric an entity of
one device, with ``<prefix>/<id>/status`` as its availability, so Home Assistant greys
the device out when its last will fires. Pure: it returns the messages; the mirror
sends them (on every connect, when a metric first has a value, and when Home Assistant
announces ``online`` after its own restart).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from edge_agent.mqtt.topics import Topics


@dataclass(frozen=True)
class MetricEntity:
    """How Home Assistant should show one metric."""

    name: str
    unit: Optional[str] = None
    device_class: Optional[str] = None
    state_class: Optional[str] = "measurement"
    component: str = "sensor"


ENTITIES: dict[str, MetricEntity] = {
    "cpu_percent": MetricEntity("CPU usage", "%"),
    "load_1m": MetricEntity("Load 1 min"),
    "load_5m": MetricEntity("Load 5 min"),
    "load_15m": MetricEntity("Load 15 min"),
    "memory_total_bytes": MetricEntity("Memory total", "B", "data_size"),
    "memory_available_bytes": MetricEntity("Memory available", "B", "data_size"),
    "memory_free_percent": MetricEntity("Memory free", "%"),
    "battery_percent": MetricEntity("Battery", "%", "battery"),
    "charging": MetricEntity("Charging", None, "battery_charging", None, "binary_sensor"),
    "wifi_signal_dbm": MetricEntity("Wi-Fi signal", "dBm", "signal_strength"),
    "wifi_link_mbps": MetricEntity("Wi-Fi link speed", "Mbit/s", "data_rate"),
    "uptime_s": MetricEntity("Uptime", "s", "duration"),
    "ip": MetricEntity("IP address", state_class=None),
    "mac": MetricEntity("MAC address", state_class=None),
    "rtt_ms": MetricEntity("Round-trip time", "ms", "duration"),
    "packet_loss_percent": MetricEntity("Packet loss", "%"),
    "cpu_temperature": MetricEntity("CPU temperature", "°C", "temperature"),
}

SERIES_ENTITIES: dict[str, MetricEntity] = {
    "temperature": MetricEntity("Temperature", "°C", "temperature"),
}
"""One entity per member of these families; its name is the family's plus the member's label."""


def entity_for(key: str, label: Optional[str] = None) -> MetricEntity:
    """The entity of a metric; a metric added later is still shown, as a plain sensor.

    A member key (``temperature/coretemp_Package_id_0``) takes its family's entity, named
    with ``label`` (the zone as the kernel names it) or else the member's topic level.
    """
    family, _, member = key.partition("/")
    if member and family in SERIES_ENTITIES:
        template = SERIES_ENTITIES[family]
        return MetricEntity(
            f"{template.name} {label or member}",
            template.unit,
            template.device_class,
            template.state_class,
            template.component,
        )
    return ENTITIES.get(key) or MetricEntity(key.replace("_", " ").capitalize(), state_class=None)


def discovery_messages(
    topics: Topics,
    keys: Iterable[str],
    *,
    device_name: str,
    version: str,
    labels: Optional[Mapping[str, str]] = None,
) -> list[tuple[str, bytes]]:
    """(topic, payload) of the retained discovery config of each metric in ``keys``.

    ``labels`` names the members of a family for people (member key -> zone name).
    """
    node = topics.discovery_node
    device = {
        "identifiers": [f"edge_agent_{node}"],
        "name": device_name,
        "manufacturer": "edge-agent",
        "model": "edge-agent",
        "sw_version": version,
    }
    messages = []
    for key in keys:
        entity = entity_for(key, (labels or {}).get(key))
        object_id = key.replace("/", "_")
        config: dict[str, Any] = {
            "name": entity.name,
            "unique_id": f"edge_agent_{node}_{object_id}",
            "object_id": f"{node}_{object_id}",
            "state_topic": topics.metric(key),
            "availability_topic": topics.status,
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
        }
        if entity.component == "binary_sensor":
            config.update(payload_on="true", payload_off="false")
        if entity.unit is not None:
            config["unit_of_measurement"] = entity.unit
        if entity.device_class is not None:
            config["device_class"] = entity.device_class
        if entity.state_class is not None:
            config["state_class"] = entity.state_class
        messages.append((topics.discovery(entity.component, key), json.dumps(config).encode()))
    return messages
