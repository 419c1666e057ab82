"""The Yeastar endpoint the demo, the tests and the bench point at a simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

from edge_agent.vendors.pick import Pick
from edge_agent.vendors.place import Place
from edge_agent.vendors.rehearsal import Rehearsal, check, do, wait
from edge_agent.vendors.types import HttpRequest, HttpResponse

ENDPOINT_NAME = "pbx"
FAST_FAILURES = {"interval": 2}
"""Keys that let a fault test see a failure and a recovery within seconds (a login per beat at most)."""


def endpoint_table(url: str, credentials: Mapping[str, str], place: Place) -> dict[str, Any]:
    """``[heartbeats.pbx]``: the simulator's API user; reports pushed to ``place.report_port``."""
    return {
        "vendor": "yeastar",
        "url": url,
        "username": credentials["username"],
        "password": credentials["password"],
        "report_ip": "127.0.0.1",
        "report_port": place.report_port,
        "report_bind": "127.0.0.1",
        "interval": 5,
        "timeout": 3,
    }


def demo_note(place: Place) -> str:
    """Said beside the endpoint in the demo's opening lines."""
    return f"; PBX report listener 127.0.0.1:{place.report_port}"


def demo_fact(app: Any, credentials: Mapping[str, str], place: Place) -> str:
    """What the simulator saw, for the demo's closing summary."""
    delivered = sum(1 for push in app.report_attempts() if push.delivered)
    logged_in = bool(app.tokens())
    return f"yeastar: {delivered} event report(s) delivered; " + (
        "still logged in" if logged_in else "logged out"
    )


def rehearsal(app: Any, credentials: Mapping[str, str], place: Place) -> Rehearsal:
    """The PBX pushes an event report to the agent's listener; the agent logs out when it stops."""
    topic = f"pbx/{ENDPOINT_NAME}"
    report = {"action": "ExtensionStatus", "extension": "1001", "status": "Ringing"}
    return Rehearsal(
        steps=(
            do("push a PBX event report", lambda _: app.push_report(report, attempts=5, interval=0.2)),
            wait(f"the PBX report on {topic}", lambda seen: seen.messages(topic)),
            check(
                "the report mirrored is the one pushed",
                lambda seen: seen.messages(topic)[0]["extension"] == "1001",
            ),
        ),
        after_stop=(check("the agent logs out of the PBX when it stops", lambda _: app.tokens() == {}),),
    )


def valid_reply(request: HttpRequest, pick: Pick) -> Any:
    """What the documents say a working PBX answers: a token to a login, a status to the rest."""
    if request.url.split("?")[0].endswith("/login"):
        return {"status": "Success", "token": pick.hex_digits(32)}
    errno = pick.one_of([None, None, "20004", "20002", "20011", "30001", "99999"])
    return {"status": "Success"} if errno is None else {"status": "Failed", "errno": errno}


def decoders(request: HttpRequest) -> list[Callable[[HttpResponse], Any]]:
    """The pure readers of its replies, for the fuzz suite."""
    from edge_agent.vendors.yeastar.adapter import decode

    return [decode]
