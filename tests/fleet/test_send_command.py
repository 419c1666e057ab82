"""`edge-agent send` against a real broker, with the test playing the device: it reads the command
from `<prefix>/<id>/cmd` and answers with the events an agent publishes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from fleet_helpers import WAIT, cli, event
from mqtt_brokers import BrokerProcess, free_port
from mqtt_watch import Seen, Watcher

from edge_agent.actions.signing import verify

CMD = "edge/pi-1/cmd"
EVENTS = "edge/pi-1/events"


def send(port: int, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "send", "-H", "127.0.0.1", "-p", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def device_side(client: Callable[..., Watcher], broker: BrokerProcess) -> Watcher:
    """The device's end of the command topic, speaking MQTT 5 where the broker does."""
    return client(broker.port, [CMD], protocol="5" if broker.kind == "mosquitto" else "3.1.1")


def the_command(device: Watcher) -> Seen:
    return device.wait_for("the command", lambda seen: seen[0] if seen else None)


def action_event(command: dict[str, Any], state: str, **fields: Any) -> bytes:
    kind = "action.started" if state == "running" else f"action.{state}"
    return event(
        kind, action_id=command["id"], action_type=command["type"], source="mqtt", state=state, **fields
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, list[str], str]:
    out, err = process.communicate(timeout=WAIT)
    return process.returncode, out.splitlines(), err


def states(lines: list[str]) -> list[str]:
    return [line.split()[0] for line in lines]


def test_a_signed_action_waits_for_its_states_and_exits_0_when_it_succeeds(
    broker: BrokerProcess, client: Callable[..., Watcher], tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret-for-tests\n")
    device = device_side(client, broker)
    process = send(
        broker.port, "pi-1", '{"type":"MESSAGE","message":"hi"}', "--secret-file", str(secret), "--ttl", "120"
    )
    seen = the_command(device)
    command = seen.json()
    assert (command["type"], command["message"]) == ("MESSAGE", "hi")
    assert len(command["id"]) == 32
    verify(command, "s3cret-for-tests")  # raises unless signed with the secret, expires_at included
    if broker.kind == "mosquitto":  # MQTT 5: the answer may also come back on a topic of its own
        assert seen.message_expiry == 120
        assert seen.response_topic and seen.correlation_data
    else:
        assert seen.response_topic is None

    device.publish(EVENTS, action_event({"id": "someone-else", "type": "REBOOT"}, "succeeded"))
    device.publish(EVENTS, action_event(command, "received"))
    device.publish(EVENTS, action_event(command, "running", argv=["notify-send", "hi"]))
    device.publish(EVENTS, action_event(command, "succeeded", exit_code=0, duration_s=0.25))
    code, lines, err = finish(process)
    assert code == 0, err
    assert states(lines) == ["received", "started", "succeeded"]
    assert all(command["id"] in line for line in lines)
    assert lines[-1].endswith("MESSAGE exit 0 in 0.25 s")
    assert "signed" in err


def test_with_mqtt5_an_answer_on_the_response_topic_alone_is_enough(
    mosquitto_broker: BrokerProcess, client: Callable[..., Watcher]
) -> None:
    device = device_side(client, mosquitto_broker)
    process = send(mosquitto_broker.port, "pi-1", '{"type":"VIDEO","video":"rtsp://cam/1"}')
    seen = the_command(device)
    command = seen.json()
    assert seen.response_topic is not None

    def reply(body: Any) -> None:
        device.publish(
            seen.response_topic,  # type: ignore[arg-type]
            json.dumps(body).encode(),
            response_topic=seen.response_topic,
            correlation_data=seen.correlation_data,
        )

    reply({"id": command["id"], "status": "received"})  # the mirror's receipt
    reply(json.loads(action_event(command, "succeeded", exit_code=0, duration_s=1.5)))
    code, lines, err = finish(process)
    assert code == 0, err
    assert states(lines) == ["received", "succeeded"]


@pytest.mark.parametrize(
    ("state", "fields", "shown"),
    [
        (
            "failed",
            {"exit_code": 3, "duration_s": 0.1, "reason": "exited with code 3"},
            "exit 3 in 0.10 s: exited with code 3",
        ),
        ("rejected", {"reason": "MESSAGE is not in [actions] allow"}, ": MESSAGE is not in [actions] allow"),
        ("expired", {"reason": "expires_at passed"}, ": expires_at passed"),
        ("interrupted", {"reason": "the agent stopped"}, ": the agent stopped"),
    ],
)
def test_an_action_that_does_not_succeed_exits_1_and_says_why(
    mosquitto_broker: BrokerProcess,
    client: Callable[..., Watcher],
    state: str,
    fields: dict[str, Any],
    shown: str,
) -> None:
    device = device_side(client, mosquitto_broker)
    process = send(mosquitto_broker.port, "pi-1", '{"type":"MESSAGE","message":"hi"}')
    command = the_command(device).json()
    device.publish(EVENTS, action_event(command, state, **fields))
    code, lines, err = finish(process)
    assert code == 1, err
    assert states(lines) == [state]
    assert lines[0].endswith(shown)


def test_a_command_the_device_refuses_as_malformed_exits_1(
    broker: BrokerProcess, client: Callable[..., Watcher]
) -> None:
    device = device_side(client, broker)
    process = send(broker.port, "pi-1", '{"type":"MESSAGE","message":"hi"}')
    command = the_command(device).json()
    device.publish(
        EVENTS, event("command.rejected", command_id=command["id"], reason="the command is too large")
    )
    code, lines, _ = finish(process)
    assert code == 1
    assert lines == [f"rejected    {command['id']} MESSAGE: the command is too large"]


def test_no_answer_exits_3_after_the_timeout_and_keeps_the_given_id(
    broker: BrokerProcess, client: Callable[..., Watcher]
) -> None:
    device = device_side(client, broker)
    process = send(broker.port, "pi-1", '{"id":"op-42","type":"REBOOT"}', "--timeout", "1")
    assert the_command(device).json() == {"id": "op-42", "type": "REBOOT"}  # unsigned: no secret given
    code, lines, err = finish(process)
    assert code == 3
    assert lines == []
    assert "no result for action op-42 within 1 s" in err


def test_no_wait_prints_the_id_once_the_broker_has_the_command(
    broker: BrokerProcess, client: Callable[..., Watcher]
) -> None:
    device = device_side(client, broker)
    done = cli("send", "-H", "127.0.0.1", "-p", str(broker.port), "pi-1", '{"type":"DUMP"}', "--no-wait")
    assert done.returncode == 0, done.stderr
    assert the_command(device).json()["id"] == done.stdout.strip()


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("{not json", "not JSON"),
        ('["MESSAGE"]', "must be a JSON object"),
        ('{"message":"hi"}', 'needs a "type"'),
        ('{"id":7,"type":"DUMP"}', '"id" must be a non-empty string'),
    ],
)
def test_an_action_that_is_not_one_is_a_usage_error(action: str, message: str) -> None:
    done = cli("send", "-H", "127.0.0.1", "-p", str(free_port()), "pi-1", action)
    assert done.returncode == 2
    assert message in done.stderr


def test_an_unreachable_broker_exits_4() -> None:
    done = cli("send", "-H", "127.0.0.1", "-p", str(free_port()), "pi-1", '{"type":"DUMP"}', "--timeout", "1")
    assert done.returncode == 4
    assert "cannot reach the broker" in done.stderr


def test_the_secret_and_the_broker_come_from_the_config_file(
    mosquitto_broker: BrokerProcess, client: Callable[..., Watcher], tmp_path: Path
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto_broker.port}\ntopic_prefix = "site-a"\n'
        'command_expiry = 45\n\n[actions]\nmqtt_secret = "from-the-config"\n'
    )
    device = client(mosquitto_broker.port, ["site-a/pi-1/cmd"], protocol="5")
    done = cli("send", "-c", str(config), "pi-1", '{"type":"DUMP"}', "--no-wait")
    assert done.returncode == 0, done.stderr
    seen = the_command(device)
    verify(seen.json(), "from-the-config")
    assert seen.message_expiry == 45
