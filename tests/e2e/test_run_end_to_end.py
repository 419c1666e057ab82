"""`edge-agent run` as a user runs it, observed only from the outside: the vendors' servers,
an MQTT subscriber, the programs the actions start, and `edge-agent status`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

from mqtt_agent_process import AgentProcess
from mqtt_brokers import BrokerProcess
from mqtt_watch import Watcher
from support.vendor_world import (
    DEVICE_ID,
    ENDPOINTS,
    VENDORS,
    VendorWorld,
    argv_of,
    missing_vendors,
    run_steps,
)
from support.waiting import wait_until

BASE = f"edge/{DEVICE_ID}"
EVERYONE = set(ENDPOINTS)  # every registered vendor's endpoint, named by its endpoint.py


class OnTheBroker:
    """What the subscriber saw, for the vendors' rehearsal steps (topics under ``BASE``)."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def messages(self, topic: str) -> list[Any]:
        return [seen.json() for seen in list(self.watcher.seen) if seen.topic == f"{BASE}/{topic}"]

    def last(self, topic: str) -> Optional[Any]:
        seen = self.watcher.last(f"{BASE}/{topic}")
        return seen.json() if seen is not None else None


def start(world: VendorWorld, broker: BrokerProcess, tmp_path: Path) -> tuple[AgentProcess, Path]:
    path = tmp_path / "agent.toml"
    path.write_text(world.config(broker.port))
    return AgentProcess(path, tmp_path / "agent.log"), path


def outcomes(watcher: Watcher) -> dict[str, Any]:
    return {
        name: seen.json()
        for name in ENDPOINTS
        if (seen := watcher.last(f"{BASE}/heartbeat/{name}")) is not None
    }


def test_the_world_holds_every_registered_vendor(world: VendorWorld, tmp_path: Path) -> None:
    """A vendor added to the registry is in this world, its config and its rehearsal, by itself."""
    assert not missing_vendors(world.servers)
    assert not missing_vendors(world.rehearsals())
    assert not missing_vendors(ENDPOINTS.values())
    config = world.config(9)
    assert all(f"[heartbeats.{name}]" in config for name in ENDPOINTS)


def test_the_agent_serves_every_vendor_and_the_broker_then_leaves_cleanly(
    world: VendorWorld, broker: BrokerProcess, tmp_path: Path
) -> None:
    rehearsals = world.rehearsals()  # what only one vendor does, told by its endpoint.py
    for rehearsal in rehearsals.values():
        rehearsal.stage()
    expected = [action for r in rehearsals.values() for action in (*r.seeded, *r.staged)]
    assert expected, "no vendor asks for an action: the run would prove nothing of the runner"
    watcher = Watcher(broker.port, [f"{BASE}/#"])
    observed = OnTheBroker(watcher)
    agent, _ = start(world, broker, tmp_path)
    try:
        # every vendor answered ok, as mirrored retained on heartbeat/<name>
        watcher.wait_for(
            "an ok heartbeat from every vendor",
            lambda _: (
                all(o.get("ok") for o in outcomes(watcher).values())
                and len(outcomes(watcher)) == len(VENDORS)
            ),
        )
        assert {o["vendor"] for o in outcomes(watcher).values()} == set(VENDORS)

        # each vendor's own part: the Telecom X actions, the Xyte command, the PBX report, the
        # AI-box strategy, the PubNub presence... as its endpoint.py's rehearsal tells them
        for vendor, rehearsal in rehearsals.items():
            run_steps(vendor, rehearsal.steps, observed, wait_until)
        # every action a vendor asked for ran (the Telecom X ones, the Xyte command)
        wait_until(
            "every action the vendors asked for to run", lambda: len(world.actions_run()) >= len(expected)
        )
        # every action's success is told on the events topic
        watcher.wait_for(
            "an action.succeeded for each action",
            lambda _: (
                {e["action_type"] for e in watcher.events(f"{BASE}/events", "action.succeeded")}
                >= {action.type for action in expected}
            ),
        )

        assert agent.terminate() == 0
        watcher.wait_last(f"{BASE}/status", b"offline")  # said before leaving; routed by the broker
    finally:
        agent.kill()
        watcher.close()

    # each ran exactly once (types run side by side, so their order is not fixed)
    assert sorted(world.actions_run()) == sorted(argv_of(action) for action in expected)
    succeeded = {event["action_type"] for event in watcher.events(f"{BASE}/events", "action.succeeded")}
    assert succeeded == {action.type for action in expected}
    # what must hold once the agent left: the goodbye heartbeat, the PBX logout...
    for vendor, rehearsal in rehearsals.items():
        run_steps(vendor, rehearsal.after_stop, observed, wait_until)
    state = watcher.last(f"{BASE}/state").json()
    assert state["memory_total_bytes"] > 0 and set(state["heartbeats"]) == EVERYONE


def ok_endpoints(status: dict[str, Any]) -> set[str]:
    return {name for name, outcome in status["heartbeats"].items() if outcome and outcome["ok"]}


def recent_actions(status: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["type"], a["state"]) for a in status["actions"]["recent"]]


def test_status_tells_what_the_agent_did(world: VendorWorld, broker: BrokerProcess, tmp_path: Path) -> None:
    agent, config = start(world, broker, tmp_path)
    everyone = EVERYONE
    # the actions the simulators ask for as seeded (the Telecom X welcome MESSAGE), nothing staged
    welcome = [(action.type, "succeeded") for r in world.rehearsals().values() for action in r.seeded]
    assert welcome, "no vendor's seeded simulator asks for an action"
    try:
        # what an operator asking `edge-agent status` on the device sees while it runs
        def settled() -> Optional[dict[str, Any]]:
            found = run_status(config, started=False)
            done = found and ok_endpoints(found) == everyone and recent_actions(found) == welcome
            return found if done else None

        status = wait_until("status to show every vendor ok and the welcome message done", settled)
        assert status["agent"]["running"] is True
        assert agent.terminate() == 0
    finally:
        agent.kill()
    status = run_status(config)
    assert status["agent"]["running"] is False and status["agent"]["stopped"]
    assert ok_endpoints(status) == everyone  # the goodbye beats went well too
    assert recent_actions(status) == welcome
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
