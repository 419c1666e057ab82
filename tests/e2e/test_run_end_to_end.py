"""`edge-agent run` as a user runs it, observed only from the outside: the vendors' servers,
an MQTT subscriber, the programs the actions start, and `edge-agent status`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

from e2e_world import DEVICE_ID, SERIAL, VENDORS, VendorWorld
from mqtt_agent_process import AgentProcess
from mqtt_brokers import BrokerProcess
from mqtt_watch import Watcher
from support.waiting import wait_until

BASE = f"edge/{DEVICE_ID}"


def start(world: VendorWorld, broker: BrokerProcess, tmp_path: Path) -> tuple[AgentProcess, Path]:
    path = tmp_path / "agent.toml"
    path.write_text(world.config(broker.port))
    return AgentProcess(path, tmp_path / "agent.log"), path


def outcomes(watcher: Watcher) -> dict[str, Any]:
    return {
        name: seen.json()
        for name in ("iptv", "hub", "camera", "pbx", "presence")
        if (seen := watcher.last(f"{BASE}/heartbeat/{name}")) is not None
    }


def test_the_agent_serves_every_vendor_and_the_broker_then_leaves_cleanly(
    world: VendorWorld, broker: BrokerProcess, tmp_path: Path
) -> None:
    token = world.credentials["telecomx"]["token"]
    world.apps["telecomx"].queue_action(token, {"type": "START_APP", "app": "com.example.player"})
    watcher = Watcher(broker.port, [f"{BASE}/#"])
    agent, _ = start(world, broker, tmp_path)
    try:
        # every vendor answered ok, as mirrored retained on heartbeat/<name>
        watcher.wait_for(
            "an ok heartbeat from all five vendors",
            lambda _: all(o.get("ok") for o in outcomes(watcher).values()) and len(outcomes(watcher)) == 5,
        )
        assert {o["vendor"] for o in outcomes(watcher).values()} == set(VENDORS)

        # the Telecom X actions (the seeded welcome MESSAGE and our START_APP) ran once each
        wait_until("both Telecom X actions to run", lambda: len(world.actions_run()) >= 2)
        # a Xyte command runs through the runner and its result goes back to the hub
        hub = world.apps["xyte"]
        device = wait_until("the Xyte registration", lambda: hub.device_by_sn(SERIAL))
        hub.queue_command(device.id, "dump")
        wait_until(
            "the dump command to be reported done",
            lambda: [c for c in hub.command_history(device.id) if c["status"] == "done"],
        )
        # a PBX event report reaches the agent's listener and is mirrored on pbx/<name>
        pbx = world.apps["yeastar"]
        pbx.push_report(
            {"action": "ExtensionStatus", "extension": "1001", "status": "Ringing"}, attempts=5, interval=0.2
        )
        report = watcher.wait_for(
            "the PBX report on pbx/pbx", lambda seen: [m for m in seen if m.topic == f"{BASE}/pbx/pbx"]
        )
        assert report[0].json()["extension"] == "1001"
        # the AI-box platform's strategy is kept retained
        strategy = watcher.wait_for(
            "the retained strategy", lambda _: watcher.last(f"{BASE}/aibox/camera/strategy")
        )
        assert "isFallDetectEnable" in strategy.json()
        # the device is present on its PubNub channel, with signed heartbeats
        assert wait_until("presence", lambda: DEVICE_ID in world.apps["pubnub"].occupants("lobby"))
        assert not world.apps["pubnub"].signature_failures
        # every action's success is told on the events topic
        watcher.wait_for(
            "an action.succeeded for each action",
            lambda _: (
                {e["action_type"] for e in watcher.events(f"{BASE}/events", "action.succeeded")}
                >= {"MESSAGE", "START_APP", "DUMP"}
            ),
        )

        assert agent.terminate() == 0
        watcher.wait_last(f"{BASE}/status", b"offline")  # said before leaving; routed by the broker
    finally:
        agent.kill()
        watcher.close()

    # each ran exactly once (types run side by side, so their order is not fixed)
    assert sorted(world.actions_run()) == [
        ["dump"],
        ["message", "Hello from the Telecom X simulator"],
        ["start", "com.example.player"],
    ]
    succeeded = {event["action_type"] for event in watcher.events(f"{BASE}/events", "action.succeeded")}
    assert succeeded == {"MESSAGE", "START_APP", "DUMP"}
    assert world.apps["telecomx"].last_heartbeat(token)["turnedOff"] is True
    assert pbx.tokens() == {}, "the agent logs out of the PBX when it stops"
    state = watcher.last(f"{BASE}/state").json()
    assert state["memory_total_bytes"] > 0 and set(state["heartbeats"]) == {
        "iptv",
        "hub",
        "camera",
        "pbx",
        "presence",
    }


def ok_endpoints(status: dict[str, Any]) -> set[str]:
    return {name for name, outcome in status["heartbeats"].items() if outcome and outcome["ok"]}


def recent_actions(status: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["type"], a["state"]) for a in status["actions"]["recent"]]


def test_status_tells_what_the_agent_did(world: VendorWorld, broker: BrokerProcess, tmp_path: Path) -> None:
    agent, config = start(world, broker, tmp_path)
    everyone = {"iptv", "hub", "camera", "pbx", "presence"}
    try:
        # what an operator asking `edge-agent status` on the device sees while it runs
        def settled() -> Optional[dict[str, Any]]:
            found = run_status(config, started=False)
            done = (
                found
                and ok_endpoints(found) == everyone
                and recent_actions(found) == [("MESSAGE", "succeeded")]
            )
            return found if done else None

        status = wait_until("status to show every vendor ok and the welcome message done", settled)
        assert status["agent"]["running"] is True
        assert agent.terminate() == 0
    finally:
        agent.kill()
    status = run_status(config)
    assert status["agent"]["running"] is False and status["agent"]["stopped"]
    assert ok_endpoints(status) == everyone  # the goodbye beats went well too
    assert recent_actions(status) == [("MESSAGE", "succeeded")]
    assert status["outbox"]["depth"] == 0


def run_status(config: Path, *, started: bool = True) -> dict[str, Any]:
    """``edge-agent status --json``; with ``started=False`` an agent not yet up gives ``{}``."""
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "status", "-c", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if not started and result.returncode == 1 and "has not run with this config yet" in result.stderr:
        return {}
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_sighup_swaps_in_a_valid_config_and_refuses_a_broken_one(
    world: VendorWorld, broker: BrokerProcess, tmp_path: Path
) -> None:
    token = world.credentials["telecomx"]["token"]
    telecomx = world.apps["telecomx"]
    agent, config = start(world, broker, tmp_path)
    try:
        wait_until("a Telecom X heartbeat", lambda: telecomx.heartbeats(token))
        good = config.read_text()
        config.write_text(good.replace("interval = 1\n", "interval = -1\n", 1))
        agent.process.send_signal(signal.SIGHUP)
        agent.wait_log("the new config is refused")
        seen = len(telecomx.heartbeats(token))
        wait_until(
            "heartbeats going on with the old config", lambda: len(telecomx.heartbeats(token)) > seen + 1
        )

        config.write_text(world.config(broker.port, endpoint_extra={"iptv": 'place = "lobby-screen"'}))
        agent.process.send_signal(signal.SIGHUP)
        wait_until(
            "a heartbeat with the new place",
            lambda: (telecomx.last_heartbeat(token) or {}).get("place") == "lobby-screen",
        )
        assert agent.process.poll() is None
        assert agent.terminate() == 0
    finally:
        agent.kill()
