"""`edge-agent run` against real brokers, seen by a plain subscriber: what the fleet watches."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from mqtt_agent_process import agent_config
from mqtt_brokers import free_port, port_open, skip_without_amqtt

from edge_agent import __version__
from edge_agent.model import Snapshot
from edge_agent.store import Store

STATUS = "edge/dev-1/status"
STATE = "edge/dev-1/state"
EVENTS = "edge/dev-1/events"
CMD = "edge/dev-1/cmd"
SNAPSHOT_KEYS = set(Snapshot(timestamp=datetime.now(timezone.utc)).to_json())


def test_a_running_agent_leaves_online_state_and_metrics_retained_for_late_subscribers(
    broker, tmp_path: Path, start_agent, watch
) -> None:
    start_agent(agent_config(tmp_path, broker.port))
    first = watch(broker.port, ["edge/dev-1/#"])
    first.wait_last(STATUS, b"online")
    first.wait_for("a state", lambda seen: [m for m in seen if m.topic == STATE])
    # the metrics of the same snapshot may follow the state: the late subscriber comes after them
    first.wait_for("the metrics", lambda seen: first.last("edge/dev-1/metrics/memory_total_bytes"))

    late = watch(broker.port, ["edge/dev-1/#"])
    status = late.wait_retained(STATUS)
    state = late.wait_retained(STATE)
    memory = late.wait_retained("edge/dev-1/metrics/memory_total_bytes")
    assert status.payload == b"online"
    body = state.json()
    assert set(body) >= SNAPSHOT_KEYS
    assert body["agent"]["version"] == __version__
    assert body["agent"]["started"].endswith("Z")
    assert body["heartbeats"] == {}
    assert int(memory.payload) > 0


def test_a_killed_agent_is_marked_offline_by_its_last_will_and_online_when_it_is_back(
    broker, tmp_path: Path, start_agent, watch
) -> None:
    config = agent_config(tmp_path, broker.port)
    watcher = watch(broker.port, [STATUS])
    agent = start_agent(config)
    watcher.wait_last(STATUS, b"online")

    agent.kill()
    watcher.wait_last(STATUS, b"offline")

    start_agent(config, "second.log")
    watcher.wait_last(STATUS, b"online")


def test_sigterm_says_offline_and_exits_zero(broker, tmp_path: Path, start_agent, watch) -> None:
    watcher = watch(broker.port, [STATUS])
    agent = start_agent(agent_config(tmp_path, broker.port))
    watcher.wait_last(STATUS, b"online")

    assert agent.terminate() == 0
    watcher.wait_last(STATUS, b"offline")


def test_commands_get_an_event_each_and_malformed_or_retained_ones_are_rejected(
    broker, tmp_path: Path, start_agent, watch
) -> None:
    watcher = watch(broker.port, [STATUS, EVENTS])
    # left retained by a careless operator: it must not run on every reconnect
    watcher.publish(CMD, json.dumps({"id": "op-old", "type": "REBOOT"}).encode(), retain=True)
    start_agent(agent_config(tmp_path, broker.port))
    watcher.wait_last(STATUS, b"online")

    watcher.publish(CMD, json.dumps({"type": "REBOOT"}).encode())
    watcher.publish(CMD, b"not json {")
    watcher.publish(CMD, json.dumps({"id": "op-7", "type": "MESSAGE", "text": "hi"}).encode())

    watcher.wait_for(
        "one receipt and three rejections",
        lambda s: (
            len(watcher.events(EVENTS, "command.rejected")) >= 3
            and watcher.events(EVENTS, "command.received")
        ),
    )
    received = watcher.events(EVENTS, "command.received")
    rejected = watcher.events(EVENTS, "command.rejected")
    assert [(e["command_id"], e["command_type"]) for e in received] == [("op-7", "MESSAGE")]
    assert "retained" in rejected[0]["reason"]
    assert '"id"' in rejected[1]["reason"] and rejected[1]["command_id"] is None
    assert "not JSON" in rejected[2]["reason"]
    every = watcher.events(EVENTS)
    assert len({e["id"] for e in every}) == len(every)  # each event has its own id
    assert all(e["time"].endswith("Z") for e in every)


def test_events_owed_when_the_agent_is_killed_arrive_once_and_in_order_after_it_restarts(
    broker, tmp_path: Path, start_agent, watch, gate
) -> None:
    network = gate(broker.port)
    config = agent_config(tmp_path, network.port)
    watcher = watch(broker.port, [STATUS, EVENTS])
    agent = start_agent(config)
    watcher.wait_last(STATUS, b"online")
    watcher.wait_for("agent.started", lambda s: watcher.events(EVENTS, "agent.started"))

    # One-way outage: the agent still receives commands, but nothing it sends arrives,
    # so the events it owes for them stay in its outbox, unacknowledged.
    network.drop_upstream()
    commands = [f"op-{n}" for n in range(20)]
    for command_id in commands:
        watcher.publish(CMD, json.dumps({"id": command_id, "type": "MESSAGE"}).encode())
    _wait_owed(tmp_path / "dev-1.db", len(commands))
    agent.kill()
    network.open()

    start_agent(config, "second.log")
    received = watcher.wait_for(
        "every owed event",
        lambda s: (
            len(watcher.events(EVENTS, "command.received")) >= len(commands)
            and watcher.events(EVENTS, "command.received")
        ),
    )
    assert [event["command_id"] for event in received] == commands


def _wait_owed(db: Path, count: int) -> None:
    """Wait until the agent's outbox holds ``count`` command events (it writes them before sending)."""
    import time

    deadline = time.monotonic() + 30
    while True:
        store = Store(db)
        try:
            owed = [e for e in store.outbox.pending(limit=1000) if b"command.received" in e.payload]
        finally:
            store.close()
        if len(owed) >= count:
            return
        assert time.monotonic() < deadline, f"only {len(owed)} of {count} events reached the outbox"
        time.sleep(0.05)


def test_home_assistant_discovery_is_sent_again_when_home_assistant_comes_online(
    broker, tmp_path: Path, start_agent, watch
) -> None:
    config = agent_config(tmp_path, broker.port, mqtt_extra="home_assistant = true")
    watcher = watch(broker.port, ["homeassistant/sensor/#", STATUS])
    start_agent(config)
    topic = "homeassistant/sensor/dev-1/memory_total_bytes/config"

    def configs(seen):
        return [m for m in seen if m.topic == topic]

    first = watcher.wait_for("a discovery config", configs)[0].json()
    assert first["state_topic"] == "edge/dev-1/metrics/memory_total_bytes"
    assert first["availability_topic"] == STATUS
    assert first["unique_id"] == "edge_agent_dev-1_memory_total_bytes"
    assert first["unit_of_measurement"] == "B" and first["device"]["sw_version"] == __version__
    watcher.wait_last(STATUS, b"online")
    before = len(configs(watcher.seen))

    watcher.publish("homeassistant/status", b"online")
    watcher.wait_for("the config again", lambda seen: len(configs(seen)) > before)


def test_the_embedded_broker_serves_plain_subscribers(tmp_path: Path, start_agent, watch) -> None:
    skip_without_amqtt()
    port = free_port()
    agent = start_agent(agent_config(tmp_path, port, mqtt_extra="embedded_broker = true"))
    agent.wait_log("connected to the broker")
    assert port_open(port)
    watcher = watch(port, ["edge/dev-1/#"])
    watcher.wait_last(STATUS, b"online")
    watcher.wait_for("a state", lambda seen: [m for m in seen if m.topic == STATE])

    assert agent.terminate() == 0
    assert not port_open(port)
