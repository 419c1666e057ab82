"""The PubNub endpoint the demo, the tests and the bench point at a simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

from edge_agent.vendors.pick import Pick
from edge_agent.vendors.place import Place
from edge_agent.vendors.rehearsal import Rehearsal, check, wait
from edge_agent.vendors.types import HttpRequest, HttpResponse

ENDPOINT_NAME = "presence"
CHANNEL = "lobby"
FAST_FAILURES = {"presence_timeout": 20}
"""Keys that let a fault test see a failure and a recovery within seconds (the shortest presence)."""


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


def rehearsal(app: Any, credentials: Mapping[str, str], place: Place) -> Rehearsal:
    """The device is present on its channel, and every request was signed right."""
    return Rehearsal(
        steps=(
            wait("presence", lambda _: place.device_id in app.occupants(CHANNEL)),
            check("every request's signature verified", lambda _: not app.signature_failures),
        )
    )


def valid_reply(request: HttpRequest, pick: Pick) -> Any:
    """What the documents say a working PubNub answers a heartbeat or a state call with."""
    return {"status": 200, "message": "OK", "service": "Presence"}


def decoders(request: HttpRequest) -> list[Callable[[HttpResponse], Any]]:
    """The pure readers of its replies, for the fuzz suite."""
    from edge_agent.vendors.pubnub.adapter import decode

    return [decode]


def describers() -> list[tuple[Callable[[HttpResponse], Any], type]]:
    """Helpers that describe a refusal, and what each returns: they must never fail themselves."""
    from edge_agent.vendors.pubnub.adapter import denial

    return [(denial, dict)]
