"""The starter config ``edge-agent init`` writes: the least a device needs, and where to read on.

A pure function of its inputs, so the text can be tested and read back by the loader;
the CLI decides the values (hostname, platform, paths) and writes the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edge_agent import __version__

DEFAULT_MQTT_PORT = 1883


@dataclass(frozen=True)
class Starter:
    """What the starter config says: device, broker (or none), store, and a platform if forced."""

    device_id: str
    storage: Path
    mqtt_host: Optional[str] = None
    mqtt_port: int = DEFAULT_MQTT_PORT
    platform: Optional[str] = None


def _toml(text: str) -> str:
    # A JSON string is a TOML basic string (same escapes; \\uXXXX for the rest).
    return json.dumps(text)


def render(starter: Starter) -> str:
    """The TOML text, comments included; ``load_config`` reads it back to the same values."""
    lines = [
        f"# edge-agent config, written by `edge-agent init` (edge-agent {__version__}).",
        "#",
        "# A minimal start: this device's metrics, the MQTT broker if one was given, no vendor",
        "# endpoints. Every other option (vendor heartbeats, actions, TLS, Home Assistant...) is",
        "# documented, with its default, in the reference config conf/edge-agent.toml of the",
        "# edge-agent sources. Unknown keys are an error. After a change, run",
        "#     edge-agent check -c <this file>",
        "# then restart the agent (or send it SIGHUP to reload).",
        "#",
        "# Secrets (the MQTT password, vendor tokens) belong in files of mode 0600, named here as",
        '# password_file = "mqtt-password" (relative to this file\'s folder), or in the',
        '# environment as password_env = "MQTT_PASSWORD"; never inline in a file others can read.',
        "",
        "[device]",
        "# This device's name in every MQTT topic (<prefix>/<id>/...): letters, digits and _ . : @ -",
        f"id = {_toml(starter.device_id)}",
        "",
        "[metrics]",
        "# Seconds between two metric snapshots (CPU, memory, disk, temperatures, network...).",
        "interval = 30.0",
    ]
    if starter.platform is not None:
        lines += ['# "auto" detects Termux; set here by `edge-agent init --platform`.']
        lines += [f"platform = {_toml(starter.platform)}"]
    lines += [""]
    if starter.mqtt_host is not None:
        lines += [
            "[mqtt]",
            "# The broker this device mirrors its state to, as <topic_prefix>/<device id>/...",
            f"host = {_toml(starter.mqtt_host)}",
            f"port = {starter.mqtt_port}",
            'topic_prefix = "edge"',
            '# username = "..."  and  password_file = "mqtt-password"; tls = true for TLS.',
        ]
    else:
        lines += [
            "# No [mqtt] table: the agent runs without a broker (metrics and heartbeats only).",
            "# To mirror to one, add:",
            "# [mqtt]",
            '# host = "broker.lan"',
            "# port = 1883",
        ]
    lines += [
        "",
        "[storage]",
        "# The SQLite file for the outbox, the action journal and vendor state.",
        f"path = {_toml(str(starter.storage))}",
        "",
        "# [actions]: MESSAGE, START_APP and VIDEO may run by default; see conf/edge-agent.toml",
        "# and docs/actions.md. [heartbeats.<name>]: one table per vendor endpoint, see the same.",
        "",
    ]
    return "\n".join(lines)
