"""The PubNub endpoint the demo and the tests point at a simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edge_agent.vendors.place import Place

ENDPOINT_NAME = "presence"
CHANNEL = "lobby"


def endpoint_table(url: str, credentials: Mapping[str, str], place: Place) -> dict[str, Any]:
    """``[heartbeats.presence]``: signed announce heartbeats on one channel."""
    return {
        "vendor": "pubnub",
        "origin": url,
        "subscribe_key": credentials["subscribe_key"],
        "publish_key": credentials["publish_key"],
        "secret_key": credentials["secret_key"],
        "channels": [CHANNEL],
        "presence_timeout": 60,
        "interval": 3,
        "timeout": 3,
        "state": ["cpu_percent", "memory_free_percent"],
    }


def demo_fact(app: Any, credentials: Mapping[str, str], place: Place) -> str:
    """What the simulator saw, for the demo's closing summary."""
    signed_ok = not app.signature_failures
    present = place.device_id in app.occupants(CHANNEL)
    return f"pubnub: {place.device_id} {'is' if present else 'is not'} present on channel {CHANNEL!r}; " + (
        "every request's signature verified" if signed_ok else "some signatures failed"
    )
