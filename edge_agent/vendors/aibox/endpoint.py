"""The AI-box endpoint the demo, the tests and the bench point at a simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Optional

from edge_agent.vendors.pick import Pick
from edge_agent.vendors.place import Place
from edge_agent.vendors.rehearsal import Rehearsal, check, wait
from edge_agent.vendors.types import HttpRequest, HttpResponse

ENDPOINT_NAME = "camera"
SERIAL = "DEMO-CAM-1"
MIN_INTERVAL = 5
"""The protocol's shortest heartbeat interval: a world asking for faster beats gets this."""
FAST_FAILURES = {"response_timeout": 2}
"""Keys that let a fault test see a failure and a recovery within seconds (an Ack may take 2 s)."""


def prepare(app: Any, interval: Optional[float]) -> None:
    """Its platform's Ack sets the interval (30 s by default): ask for the world's pace, at least 5 s."""
    pace = max(MIN_INTERVAL, int(interval or MIN_INTERVAL))
    app.set_intervals(heartbeat_interval=pace, strategy_heartbeat_interval=pace)


def endpoint_table(url: str, credentials: Mapping[str, str], place: Place) -> dict[str, Any]:
    """``[heartbeats.camera]``: heartbeat events to the simulator's ``/event``."""
    return {
        "vendor": "aibox",
        "url": url + "/event",
        "serial_number": place.serial or SERIAL,
        "interval": 5,
        "timeout": 3,
        "response_timeout": 3,
    }


def demo_fact(app: Any, credentials: Mapping[str, str], place: Place) -> str:
    """What the simulator saw, for the demo's closing summary."""
    return f"aibox: {len(app.events(place.serial or SERIAL))} heartbeat events received"


def rehearsal(app: Any, credentials: Mapping[str, str], place: Place) -> Rehearsal:
    """The platform's detection strategy is kept retained on ``aibox/<endpoint>/strategy``."""
    topic = f"aibox/{ENDPOINT_NAME}/strategy"
    return Rehearsal(
        steps=(
            wait("the retained strategy", lambda seen: seen.last(topic)),
            check(
                "the strategy is the platform's",
                lambda seen: "isFallDetectEnable" in (seen.last(topic) or {}),
            ),
        )
    )


def valid_reply(request: HttpRequest, pick: Pick) -> Any:
    """What the documents say a working platform answers a heartbeat event with: its Ack."""
    sent = request.json_body if isinstance(request.json_body, dict) else {}
    info = {
        "eventId": (sent.get("info") or {}).get("eventId"),
        "time": "20200331T101002+08",
        "heartbeatInterval": pick.number(),
        "eventSendMode": pick.one_of(["realTime", "Retransmission"]),
    }
    if pick.boolean():
        info["strategy"] = {"heartBeatInterval": pick.number(), "isFallDetectEnable": True}
    return {"operator": "heartbeat-Ack", "info": info, "result": {"errorNo": 0, "description": "ok"}}


def decoders(request: HttpRequest) -> list[Callable[[HttpResponse], Any]]:
    """The pure readers of its replies, for the fuzz suite: the Ack of the event ``request`` sent."""
    from edge_agent.vendors.aibox.format import decode_ack

    sent: Any = request.json_body if isinstance(request.json_body, dict) else {}
    event_id: Any = (sent.get("info") or {}).get("eventId")
    return [lambda response: decode_ack(response, event_id)]
