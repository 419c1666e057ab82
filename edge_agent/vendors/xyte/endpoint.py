"""The Xyte endpoint the demo, the tests and the bench point at a simulator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

from edge_agent.vendors.pick import Pick
from edge_agent.vendors.place import Place
from edge_agent.vendors.rehearsal import Expected, Rehearsal, do, wait
from edge_agent.vendors.types import HttpRequest, HttpResponse

ENDPOINT_NAME = "hub"
SERIAL = "DEMO-SN-0001"


def endpoint_table(url: str, credentials: Mapping[str, str], place: Place) -> dict[str, Any]:
    """``[heartbeats.hub]``: MAC & serial auth with the simulator's demo hardware key."""
    return {
        "vendor": "xyte",
        "entry_url": url,
        "hardware_key": credentials["hardware_key"],
        "sn": place.serial or SERIAL,
        "mac": "02:00:00:00:de:01",
        "firmware_version": "0.9.0",
        "interval": 2,
        "timeout": 3,
    }


def demo_fact(app: Any, credentials: Mapping[str, str], place: Place) -> str:
    """What the simulator saw, for the demo's closing summary."""
    device = app.device_by_sn(place.serial or SERIAL)
    if device is None:
        return "xyte: the device never registered"
    commands = app.command_history(device.id)
    done = ", ".join(f"{c['name']} {c['status']}" for c in commands) or "none"
    return f"xyte: registered as {device.id}; commands: {done}"


def rehearsal(app: Any, credentials: Mapping[str, str], place: Place) -> Rehearsal:
    """A command from the hub runs through the agent's runner and its result goes back."""
    serial = place.serial or SERIAL

    def device_id() -> str:
        return str(app.device_by_sn(serial).id)

    return Rehearsal(
        steps=(
            wait("the Xyte registration", lambda _: app.device_by_sn(serial)),
            do("queue a dump command on the hub", lambda _: app.queue_command(device_id(), "dump")),
            wait(
                "the dump command to be reported done",
                lambda _: [c for c in app.command_history(device_id()) if c["status"] == "done"],
            ),
        ),
        staged=(Expected("DUMP"),),
    )


def valid_reply(request: HttpRequest, pick: Pick) -> Any:
    """What the documents say a working Xyte server answers ``request`` with."""
    path = request.url.split("?")[0]
    if path.endswith("/v1/devices"):
        return {"id": pick.uuid_hex(), "access_key": "0123456789abcdef", "hub_url": "http://127.0.0.1:9/hub"}
    if path.endswith("/telemetry"):
        return {
            "config_version": pick.integer(0, 5),
            "command": pick.boolean(),
            "new_licenses": pick.boolean(),
            "info_version": 0,
            "latest_fw_version": pick.one_of(["0.9.0", "1.0.0", "1.3.4"]),
            "success": True,
        }
    if path.endswith("/config"):
        return {"version": pick.integer(0, 5), "config": {"interval": pick.number()}}
    if path.endswith("/command") and request.method == "GET":
        name = pick.one_of(["reboot", "dump", "restart-player"])
        return {"id": pick.uuid_hex(), "name": name, "status": "pending", "parameters": {}}
    if path.endswith("/licenses") and request.method == "GET":
        change = pick.one_of(["add", "update", "remove"])
        return [{"id": pick.text(min_size=1, max_size=8), change: True, "data": "x"}]
    return {"success": True}


def decoders(request: HttpRequest) -> list[Callable[[HttpResponse], Any]]:
    """The pure readers of its replies, for the fuzz suite."""
    from edge_agent.vendors.xyte import format as xyte

    return [
        xyte.decode_registration,
        xyte.decode_telemetry,
        xyte.decode_config,
        xyte.decode_command,
        xyte.decode_licenses,
    ]
