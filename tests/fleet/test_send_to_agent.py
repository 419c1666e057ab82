"""`edge-agent send` to a real `edge-agent run`: the operator's command runs the device's program once."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

from fleet_helpers import cli
from mqtt_agent_process import AgentProcess
from mqtt_brokers import BrokerProcess
from mqtt_watch import Watcher

DEVICE = "pi-e2e"
FAKE_NOTIFY = """#!{python}
import json, sys
with open({log!r}, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def agent_config(tmp_path: Path, broker: BrokerProcess, program: Path) -> Path:
    protocol = "5" if broker.kind == "mosquitto" else "3.1.1"  # amqtt speaks 3.1.1 only
    path = tmp_path / "agent.toml"
    path.write_text(
        f'[device]\nid = "{DEVICE}"\n\n[metrics]\ninterval = 5\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\nprotocol = "{protocol}"\n'
        "keepalive = 5\nreconnect_min = 0.05\nreconnect_max = 0.3\n\n"
        f'[storage]\npath = "{tmp_path / "agent.db"}"\n\n'
        '[actions]\nprofile = "none"\nallow = ["MESSAGE"]\nmqtt_secret = "e2e-secret"\n\n'
        f'[actions.commands]\nMESSAGE = ["{program}", "{{message}}"]\n'
    )
    return path


def test_a_signed_message_sent_to_a_running_agent_runs_its_program_once(
    broker: BrokerProcess, client: Callable[..., Watcher], tmp_path: Path
) -> None:
    ran = tmp_path / "notify.log"
    program = tmp_path / "bin" / "fake-notify"
    program.parent.mkdir()
    program.write_text(FAKE_NOTIFY.format(python=sys.executable, log=str(ran)))
    program.chmod(0o755)
    config = agent_config(tmp_path, broker, program)
    status = client(broker.port, [f"edge/{DEVICE}/status"])
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        status.wait_last(f"edge/{DEVICE}/status", b"online")  # subscribed to its commands by then
        done = cli("send", "-c", str(config), DEVICE, '{"type":"MESSAGE","message":"hi"}', "--timeout", "30")
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{agent.text()}"
        lines = done.stdout.splitlines()
        assert [line.split()[0] for line in lines] == ["received", "started", "succeeded"]
        assert "exit 0" in lines[-1]
        assert [json.loads(line) for line in ran.read_text().splitlines()] == [["hi"]]
        assert agent.terminate() == 0
    finally:
        agent.kill()
