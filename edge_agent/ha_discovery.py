"""Home Assistant MQTT discovery for the scalar metrics (``[mqtt] home_assistant = true``).

One retained config message per metric under ``<discovery_prefix>/<component>/<node>/<key>/config``
makes each metric an entity of one device, with ``<prefix>/<id>/status`` as its
availability, so Home Assistant greys the device out when its last will fires. Pure: it
returns the messages; the mirror sends them (on every connect, when a metric first has a
value, and when Home Assistant announces ``online`` after its own restart).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Optional

from edge_agent.topics import Topics


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
}


def entity_for(key: str) -> MetricEntity:
    """The entity of a metric; a metric added later is still shown, as a plain sensor."""
    return ENTITIES.get(key) or MetricEntity(key.replace("_", " ").capitalize(), state_class=None)


def discovery_messages(
    topics: Topics, keys: Iterable[str], *, device_name: str, version: str
) -> list[tuple[str, bytes]]:
    """(topic, payload) of the retained discovery config of each metric in ``keys``."""
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
        entity = entity_for(key)
        config: dict[str, Any] = {
            "name": entity.name,
            "unique_id": f"edge_agent_{node}_{key}",
            "object_id": f"{node}_{key}",
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
