"""`edge-agent send <device> '{"type":"CANCEL","action_id":...}'` stops an action a running agent plays.

Issue 13 item 17: today 5,000 queued VIDEOs play for 28 hours and nothing stops them.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable

from fleet_helpers import cli
from mqtt_agent_process import AgentProcess
from mqtt_brokers import BrokerProcess
from mqtt_watch import Watcher

DEVICE = "pi-cancel"
# Logs that it started, then plays "for an hour" (until the agent kills its process group).
FAKE_PLAYER = """#!{python}
import json, sys, time
with open({log!r}, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
time.sleep(3600)
"""


def agent_config(tmp_path: Path, broker: BrokerProcess, program: Path) -> Path:
    protocol = "5" if broker.kind == "mosquitto" else "3.1.1"
    path = tmp_path / "agent.toml"
    path.write_text(
        f'[device]\nid = "{DEVICE}"\n\n[metrics]\ninterval = 5\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\nprotocol = "{protocol}"\n'
        "keepalive = 5\nreconnect_min = 0.05\nreconnect_max = 0.3\n\n"
        f'[storage]\npath = "{tmp_path / "agent.db"}"\n\n'
        '[actions]\nprofile = "none"\nallow = ["PLAY"]\nmqtt_secret = "e2e-secret"\ntimeout = 3600\n\n'
        f'[actions.commands]\nPLAY = ["{program}", "{{clip}}"]\n'
    )
    return path


def wait_for_file(path: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, f"{path} was never written"
        time.sleep(0.05)
    return path.read_text()


def test_an_operator_cancels_a_playing_action_with_send(
    broker: BrokerProcess, client: Callable[..., Watcher], tmp_path: Path
) -> None:
    played = tmp_path / "played.log"
    program = tmp_path / "bin" / "fake-player"
    program.parent.mkdir()
    program.write_text(FAKE_PLAYER.format(python=sys.executable, log=str(played)))
    program.chmod(0o755)
    config = agent_config(tmp_path, broker, program)
    watch = client(broker.port, [f"edge/{DEVICE}/status", f"edge/{DEVICE}/events"])
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        watch.wait_last(f"edge/{DEVICE}/status", b"online")
        # Sent and left playing: send gives up waiting after 2 s (exit 3), the action plays on.
        play = cli(
            "send",
            "-c",
            str(config),
            DEVICE,
            '{"id":"play-1","type":"PLAY","clip":"a.mp4"}',
            "--timeout",
            "2",
        )
        assert play.returncode == 3, f"{play.stdout}\n{play.stderr}"
        assert json.loads(wait_for_file(played)) == ["a.mp4"]

        cancel = cli(
            "send", "-c", str(config), DEVICE, '{"type":"CANCEL","action_id":"play-1"}', "--timeout", "30"
        )
        assert cancel.returncode == 0, f"{cancel.stdout}\n{cancel.stderr}\n{agent.text()}"
        assert [line.split()[0] for line in cancel.stdout.splitlines()] == ["received", "succeeded"]

        ended = watch.wait_for(
            "play-1 cancelled",
            lambda seen: [e for e in watch.events(f"edge/{DEVICE}/events", "action.cancelled")
                          if e["action_id"] == "play-1"],
        )  # fmt: skip
        assert "operator" in ended[0]["reason"]
        again = cli(
            "send", "-c", str(config), DEVICE, '{"type":"CANCEL","action_id":"play-1"}', "--timeout", "30"
        )
        assert again.returncode == 1 and "already ended (cancelled)" in again.stdout
        assert agent.terminate() == 0
    finally:
        agent.kill()
