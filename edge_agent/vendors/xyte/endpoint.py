"""The Xyte endpoint the demo and the tests point at a simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_agent.vendors.place import Place

ENDPOINT_NAME = "hub"
SERIAL = "DEMO-SN-0001"


def endpoint_table(url: str, credentials: Mapping[str, str], place: Place) -> dict[str, Any]:
    """``[heartbeats.hub]``: MAC & serial auth with the simulator's demo hardware key."""
    return {
        "vendor": "xyte",
        "entry_url": url,
        "hardware_key": credentials["hardware_key"],
        "sn": SERIAL,
        "mac": "02:00:00:00:de:01",
        "firmware_version": "0.9.0",
        "interval": 2,
        "timeout": 3,
    }


def demo_fact(app: Any, credentials: Mapping[str, str], place: Place) -> str:
    """What the simulator saw, for the demo's closing summary."""
    device = app.device_by_sn(SERIAL)
    if device is None:
        return "xyte: the device never registered"
    commands = app.command_history(device.id)
    done = ", ".join(f"{c['name']} {c['status']}" for c in commands) or "none"
    return f"xyte: registered as {device.id}; commands: {done}"
