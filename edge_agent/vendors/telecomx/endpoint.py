"""The Telecom X endpoint the demo, the tests and the bench point at a simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

from edge_agent.vendors.pick import Pick
from edge_agent.vendors.place import Place
from edge_agent.vendors.rehearsal import Expected, Rehearsal, check
from edge_agent.vendors.types import HttpRequest, HttpResponse

ENDPOINT_NAME = "iptv"
WELCOME = "Hello from the Telecom X simulator"  # the MESSAGE its seed_demo queues
STARTED_APP = "com.example.player"


def endpoint_table(url: str, credentials: Mapping[str, str], place: Place) -> dict[str, Any]:
    """``[heartbeats.iptv]`` against the simulator at ``url`` (its demo token)."""
    return {
        "vendor": "telecomx",
        "url": url + "/iptv/app/heartbeat",
        "token": credentials["token"],
        "interval": 2,
        "timeout": 3,
    }


def demo_fact(app: Any, credentials: Mapping[str, str], place: Place) -> str:
    """What the simulator saw, for the demo's closing summary."""
    beats = app.heartbeats(credentials["token"])
    last = beats[-1] if beats else {}
    said = "turnedOff" if last.get("turnedOff") else "still on" if last else "nothing (none arrived)"
    return f"telecomx: the last heartbeat said {said}"


def rehearsal(app: Any, credentials: Mapping[str, str], place: Place) -> Rehearsal:
    """The platform asks for actions: the seeded welcome MESSAGE and a START_APP queued before start."""
    token = credentials["token"]
    return Rehearsal(
        stage=lambda: app.queue_action(token, {"type": "START_APP", "app": STARTED_APP}),
        seeded=(Expected("MESSAGE", {"message": WELCOME}),),
        staged=(Expected("START_APP", {"app": STARTED_APP}),),
        after_stop=(
            check(
                "the goodbye heartbeat said turnedOff",
                lambda _: (app.last_heartbeat(token) or {}).get("turnedOff") is True,
            ),
        ),
    )


def valid_reply(request: HttpRequest, pick: Pick) -> Any:
    """What the documents say a working platform answers a heartbeat with: the pending actions."""
    actions = [
        {"type": "MESSAGE", "message": pick.text(max_size=20), "date": pick.integer(0, 2**41)},
        {"type": "START_APP", "app": "com.example.app", "date": pick.integer(0, 2**41)},
        {"type": "REBOOT", "date": pick.integer(0, 2**41)},
    ]
    return pick.some_of(actions, max_size=3)


def decoders(request: HttpRequest) -> list[Callable[[HttpResponse], Any]]:
    """The pure readers of its replies, for the fuzz suite."""
    from edge_agent.vendors.telecomx.adapter import decode

    return [lambda response: decode(response, "telecomx")]
