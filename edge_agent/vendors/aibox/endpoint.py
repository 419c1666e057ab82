"""The AI-box endpoint the demo and the tests point at a simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_agent.vendors.place import Place

ENDPOINT_NAME = "camera"
SERIAL = "DEMO-CAM-1"


def prepare_demo(app: Any) -> None:
    """Its platform's Ack sets the interval (30 s by default): 5 s keeps the demo lively."""
    app.set_intervals(heartbeat_interval=5, strategy_heartbeat_interval=5)


def endpoint_table(url: str, credentials: Mapping[str, str], place: Place) -> dict[str, Any]:
    """``[heartbeats.camera]``: heartbeat events to the simulator's ``/event``."""
    return {
        "vendor": "aibox",
        "url": url + "/event",
        "serial_number": SERIAL,
        "interval": 5,
        "timeout": 3,
        "response_timeout": 3,
    }


def demo_fact(app: Any, credentials: Mapping[str, str], place: Place) -> str:
    """What the simulator saw, for the demo's closing summary."""
    return f"aibox: {len(app.events(SERIAL))} heartbeat events received"
