"""On every broker engine: commands in, results out; MQTT 5 and QoS 2 where the engine has them.

Where an engine lacks MQTT 5 or QoS 2 the test asserts what the agent then does, as
docs/brokers.md says: a connect error that names the protocol, retried; a QoS downgraded
by the broker; a connection the broker keeps closing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from compat_agents import DEVICE, device_config, fake_program
from compat_record import DEGRADED, UNSUPPORTED
from mqtt_agent_process import AgentProcess
from mqtt_watch import Watcher

MQTT5_REFUSED = "MQTT 5 was asked for"
LOST = "lost the broker"


class QosWatcher(Watcher):
    """A subscriber at QoS 2 that notes the QoS each topic's last message was delivered with."""

    def __init__(self, port: int, topics: list[str]) -> None:
        self.delivered_qos: dict[str, int] = {}
        super().__init__(port, topics)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not reason.is_failure:
            client.subscribe([(topic, 2) for topic in self.topics])

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.delivered_qos[message.topic] = message.qos
        super()._on_message(client, userdata, message)


def first_of(agent: AgentProcess, checks: dict[str, Callable[[], bool]], timeout: float = 30.0) -> str:
    """The name of the first check that holds (polled), while the agent keeps running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, check in checks.items():
            if check():
                return name
        assert agent.process.poll() is None, f"the agent exited:\n{agent.text()}"
        time.sleep(0.05)
    raise AssertionError(f"none of {sorted(checks)} happened:\n{agent.text()[-3000:]}")


def command(command_id: str) -> bytes:
    return json.dumps({"id": command_id, "type": "MESSAGE", "message": "hi"}).encode()


@pytest.mark.compat("commands")
def test_a_command_runs_its_action_once_and_the_result_comes_back_on_the_events_topic(
    engine, compat, prefix: str, tmp_path: Path, start_agent, watch
) -> None:
    base = f"{prefix}/{DEVICE}"
    status, events = f"{base}/status", f"{base}/events"
    program, ran = fake_program(tmp_path)
    watcher = watch(engine.port, [status, events])
    start_agent(device_config(tmp_path, engine.port, prefix, program=program))
    watcher.wait_last(status, b"online")  # subscribed to its commands by then

    watcher.publish(f"{base}/cmd", command("op-1"))

    done = watcher.wait_for("the action's result", lambda seen: watcher.events(events, "action.succeeded"))
    assert done[0]["action_id"] == "op-1" and done[0]["exit_code"] == 0
    assert [e["command_id"] for e in watcher.events(events, "command.received")] == ["op-1"]
    assert [json.loads(line) for line in ran.read_text().splitlines()] == [["hi"]]


@pytest.mark.compat("mqtt5")
def test_with_mqtt5_a_command_is_answered_on_its_response_topic_or_the_connect_error_names_the_protocol(
    engine, compat, prefix: str, tmp_path: Path, start_agent, watch
) -> None:
    base = f"{prefix}/{DEVICE}"
    program, ran = fake_program(tmp_path)
    agent = start_agent(device_config(tmp_path, engine.port, prefix, protocol="5", program=program))
    outcome = first_of(
        agent,
        {
            "connected": lambda: "connected to the broker" in agent.text(),
            "refused": lambda: MQTT5_REFUSED in agent.text(),
        },
    )
    if outcome == "refused":
        compat.limited("mqtt5", UNSUPPORTED)
        # Documented: a clear error naming the protocol, retried with backoff; never online.
        status = watch(engine.port, [f"{base}/status"])
        assert status.last(f"{base}/status") is None
        assert agent.terminate() == 0
        log = agent.text()
        assert (
            f"{MQTT5_REFUSED}: if this broker speaks only MQTT 3.1.1, set protocol 3.1.1; retrying in" in log
        )
        assert "connected to the broker" not in log and "Traceback" not in log
        return

    operator = watch(engine.port, ["replies/#", f"{base}/status"], protocol="5")
    operator.wait_last(f"{base}/status", b"online")
    operator.publish(
        f"{base}/cmd", command("op-5"), response_topic=f"replies/{prefix}", correlation_data=b"c-5"
    )

    def answers(seen: list[Any]) -> list[dict[str, Any]]:
        bodies = [m.json() for m in seen if m.topic == f"replies/{prefix}" and m.correlation_data == b"c-5"]
        return bodies if any(body.get("type") == "action.succeeded" for body in bodies) else []

    bodies = operator.wait_for("the answers on the response topic", answers)
    assert bodies[0] == {"id": "op-5", "status": "received"}
    # one receipt per command: "received" is not answered a second time as action.received
    # (that event is on the events topic); each later state follows as its event
    assert [b["type"] for b in bodies[1:]] == ["action.started", "action.succeeded"]
    assert [json.loads(line) for line in ran.read_text().splitlines()] == [["hi"]]


@pytest.mark.compat("qos2")
def test_with_qos_2_the_status_and_state_arrive_as_qos_2(
    engine, compat, prefix: str, tmp_path: Path, start_agent
) -> None:
    status, state = f"{prefix}/{DEVICE}/status", f"{prefix}/{DEVICE}/state"
    watcher = QosWatcher(engine.port, [status, state])
    try:
        agent = start_agent(device_config(tmp_path, engine.port, prefix, qos=2))
        outcome = first_of(
            agent,
            {
                "online": lambda: (
                    watcher.last(status) is not None and watcher.last(status).payload == b"online"
                ),
                "dropped": lambda: agent.text().count(LOST) >= 2,
            },
        )
        if outcome == "dropped":
            compat.limited("qos2", UNSUPPORTED)
            # Documented: the broker closes the connection at the first QoS 2 publish, so the
            # agent reconnects again and again and the device never shows online.
            assert "connected to the broker" in agent.text()
            assert all(m.payload != b"online" for m in watcher.seen if m.topic == status)
            return
        watcher.wait_for("a state", lambda seen: watcher.last(state))
        if watcher.delivered_qos[status] == 2 and watcher.delivered_qos[state] == 2:
            return
        compat.limited("qos2", DEGRADED)
        assert watcher.delivered_qos[status] == 1 and watcher.delivered_qos[state] == 1
    finally:
        watcher.close()
