"""Power-outage retransmission as a user would see it: ``edge-agent heartbeat`` killed with SIGKILL
while its event awaits the Ack, then started again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.waiting import wait_until

from edge_agent.heartbeat.context import state_namespace
from edge_agent.simulators.base import Fault, SimulatorServer
from edge_agent.store import Store
from edge_agent.vendors.aibox.simulator import AiBoxSimulator

HOST = Path(__file__).resolve().parents[1] / "fixtures" / "hosts" / "pi4"
SERIAL = "PI4-BOX-0001"


def write_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "edge-agent.toml"
    path.write_text(
        f"""
[device]
id = "box-1"

[metrics]
host_root = "{HOST}"

[storage]
path = "{tmp_path / "agent.db"}"

[heartbeats.box]
vendor = "aibox"
url = "{url}/event"
serial_number = "{SERIAL}"
response_timeout = 20
timeout = 20
""",
        encoding="utf-8",
    )
    return path


def heartbeat_command(config: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_AGENT_")}
    env["PATH"] = f"{HOST / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}"
    env["TZ"] = "CST-8"  # the device's local zone is UTC+8, as in the vendor's examples
    return subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "heartbeat", "box", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    released = threading.Event()
    yield released
    released.set()  # never leave a simulator thread waiting


@pytest.mark.parametrize("lost", ["request", "ack"])
def test_an_event_survives_a_sigkill_and_is_delivered_once_with_its_original_event_id_and_time(
    lost: str, tmp_path: Path, gate: threading.Event
) -> None:
    app = AiBoxSimulator(sleep=lambda _seconds: gate.wait(30))
    with SimulatorServer(app) as server:
        config = write_config(tmp_path, server.url)
        if lost == "request":
            server.inject(Fault("hang", seconds=30))  # the power goes before the platform has it
        else:
            app.delay_acks(1, seconds=1)  # the platform has it; its Ack is lost with the power
        first_run = heartbeat_command(config)
        wait_until("the first event to reach the platform", lambda: len(server.requests) == 1, every=0.02)
        os.kill(first_run.pid, signal.SIGKILL)
        first_run.communicate(timeout=30)
        assert first_run.returncode == -signal.SIGKILL
        gate.set()

        sent = json.loads(server.requests[0].body)["info"]
        assert sent["time"].endswith("+08:00")
        store = Store(tmp_path / "agent.db")
        waiting = [entry.item for entry in store.queues.peek(state_namespace("box"))]
        store.close()
        assert [(item["eventId"], item["time"]) for item in waiting] == [(sent["eventId"], sent["time"])]

        second_run = heartbeat_command(config)
        out, err = second_run.communicate(timeout=60)
        assert second_run.returncode == 0, err
        printed = json.loads(out)
        assert printed["reply"]["delivered"] == [sent["eventId"] + 1, sent["eventId"]]
        assert printed["reply"]["backlog"] == 0

        third_run = heartbeat_command(config)
        third_run.communicate(timeout=60)
        assert third_run.returncode == 0

    original = [event for event in app.events(SERIAL) if event.event_id == sent["eventId"]]
    assert {event.time for event in original} == {sent["time"]}
    if lost == "request":
        assert len(original) == 1 and app.duplicates(SERIAL) == {}  # the platform saw it exactly once
    else:
        assert len(original) == 2 and app.duplicates(SERIAL) == {sent["eventId"]: 1}
    assert sent["eventId"] in app.delivered(SERIAL)
    # After its one Ack the device never sent it again: the third run sent only its live event.
    assert [event.event_id for event in app.events(SERIAL)][-1] == sent["eventId"] + 2
