"""One action intake: an operator's MQTT command and a vendor's action take the same door.

The same validation (one id rule), the same ``action.received`` / ``action.rejected``
shape (``source`` tells them apart), one receipt on the MQTT 5 response topic, and the
runner woken by the intake itself, not by whoever watches the events.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from action_device import Device, drain

from edge_agent.actions.schema import MAX_ID_LENGTH
from edge_agent.heartbeat.context import StoreContext
from edge_agent.model import Action as VendorAction


def vendor_context(device: Device, runner: Any) -> StoreContext:
    """A heartbeat endpoint's context wired as assembly.py wires it: through the runner's intake."""
    return StoreContext(device.store, "hub", device.clock, device.events.append, intake=runner.intake)


def without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in keys}


def test_one_command_gets_one_receipt_on_the_response_topic_then_one_answer_per_later_state(
    device: Device,
) -> None:
    device.program("logger")
    runner = device.runner()
    answers: list[dict[str, Any]] = []

    command = {"id": "op-1", "type": "MESSAGE", "message": "hi"}
    assert runner.intake.take_command(json.dumps(command).encode(), reply=answers.append) == "op-1"
    drain(runner)

    assert answers[0] == {"id": "op-1", "status": "received"}  # the documented receipt, once
    assert [answer.get("type") for answer in answers[1:]] == ["action.started", "action.succeeded"]
    receipts = [a for a in answers if a.get("status") == "received" or a.get("state") == "received"]
    assert len(receipts) == 1
    # on the events topic: the message's own event and the action's, once each
    assert [e.type for e in device.events][:2] == ["action.received", "command.received"]


def test_a_refused_command_gets_one_rejected_receipt_and_nothing_more(device: Device) -> None:
    runner = device.runner(allow=["MESSAGE"])
    answers: list[dict[str, Any]] = []

    payload = json.dumps({"id": "op 2", "type": "MESSAGE", "message": "hi"}).encode()
    assert runner.intake.take_command(payload, reply=answers.append) is None

    assert len(answers) == 1
    assert answers[0]["id"] == "op 2" and answers[0]["status"] == "rejected"
    assert '"id" must be' in answers[0]["reason"]
    assert [e.type for e in device.events] == ["action.rejected", "command.rejected"]


def test_an_mqtt_command_and_a_vendor_action_are_received_in_the_same_shape(device: Device) -> None:
    runner = device.runner()
    context = vendor_context(device, runner)

    runner.intake.take_command(json.dumps({"id": "op-1", "type": "REBOOT"}).encode())
    assert context.queue_action(VendorAction("hub:command:7c9e6679", "REBOOT", {}, "heartbeat:hub"))

    received = [e.to_json() for e in device.events if e.type == "action.received"]
    assert [event["source"] for event in received] == ["mqtt", "heartbeat:hub"]
    mqtt, vendor = received
    assert set(mqtt) == set(vendor)
    assert without(mqtt, "id", "time", "action_id", "source", "action") == without(
        vendor, "id", "time", "action_id", "source", "action"
    )
    assert mqtt["action"] == {"id": "op-1", "type": "REBOOT"}
    assert vendor["action"] == {"id": "hub:command:7c9e6679", "type": "REBOOT"}
    assert device.state("op-1") == device.state("hub:command:7c9e6679") == "received"


@pytest.mark.parametrize(
    "bad_id",
    ["has space", "-starts-with-a-dash", "x" * (MAX_ID_LENGTH + 1), "semi;colon", "new\nline"],
)
def test_an_id_the_one_rule_refuses_is_rejected_identically_from_both_sources(
    device: Device, bad_id: str
) -> None:
    runner = device.runner()
    context = vendor_context(device, runner)

    assert runner.intake.take_command(json.dumps({"id": bad_id, "type": "MESSAGE"}).encode()) is None
    assert context.queue_action(VendorAction(bad_id, "MESSAGE", {}, "heartbeat:hub")) is False

    rejected = [e.to_json() for e in device.events if e.type == "action.rejected"]
    assert [event["source"] for event in rejected] == ["mqtt", "heartbeat:hub"]
    mqtt, vendor = (without(event, "id", "time", "source") for event in rejected)
    assert mqtt == vendor
    assert mqtt["state"] == "rejected" and '"id" must be' in mqtt["reason"]
    assert device.store.journal.get(bad_id) is None  # refused before the journal, from either side
    assert [e.type for e in device.events if e.type.startswith("command.")] == ["command.rejected"]


def test_a_bad_type_name_is_rejected_identically_from_both_sources(device: Device) -> None:
    runner = device.runner()
    context = vendor_context(device, runner)

    runner.intake.take_command(json.dumps({"id": "t-1", "type": "rm -rf"}).encode())
    assert context.queue_action(VendorAction("t-1", "rm -rf", {}, "heartbeat:hub")) is False

    rejected = [
        without(e.to_json(), "id", "time", "source") for e in device.events if e.type == "action.rejected"
    ]
    assert len(rejected) == 2 and rejected[0] == rejected[1]
    assert "not an action type name" in rejected[0]["reason"]


def test_the_intake_wakes_the_runner_for_a_vendor_action_without_a_poll(device: Device) -> None:
    device.program("systemctl")
    runner = device.runner(allow=["REBOOT"], poll_interval=3600.0)  # the poll would never come
    context = vendor_context(device, runner)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(runner.run(stop))
        while runner._wake is None:  # run() has attached to this loop and looked at the journal
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)  # let it settle into its wait
        assert context.queue_action(VendorAction("hub:command:1", "REBOOT", {}, "heartbeat:hub"))
        while not device.calls():
            await asyncio.sleep(0.01)
        stop.set()
        await task

    asyncio.run(asyncio.wait_for(main(), 20))
    assert device.calls() == [["systemctl", "reboot"]]


def test_a_command_with_nan_is_refused_at_the_envelope_so_no_event_carries_it(device: Device) -> None:
    runner = device.runner()

    payload = b'{"id": "n-1", "type": "MESSAGE", "message": NaN}'
    assert runner.intake.take_command(payload) is None

    assert [e.type for e in device.events] == ["action.rejected", "command.rejected"]
    assert "not JSON" in device.events[1].data["reason"]
    for event in device.events:
        json.dumps(event.to_json(), allow_nan=False)  # raises on a NaN value
