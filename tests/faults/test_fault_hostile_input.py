"""Hostile input from the network, sent to the running agent: it answers and carries on.

Whoever can publish on ``<prefix>/<id>/cmd`` or reach the PBX report port may send
anything. Each such message must be refused with a reason an operator can read (a
``command.rejected`` event, an HTTP 4xx), and the agent must go on taking good
commands and reports afterwards: a refusal must never cost the next message.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest
from fault_rig import BASE, Rig
from mqtt_brokers import have_mosquitto
from support.waiting import wait_until

pytestmark = pytest.mark.skipif(
    not have_mosquitto(), reason="mosquitto is not installed (.ci/run installs it)"
)

HOSTILE_COMMANDS = [
    b"[" * 65_000,  # nesting past Python's recursion limit
    b"[" * 3_000 + b"]" * 3_000,
    b'{"id": "deep", "type": "MESSAGE", "message": "x", "p": ' + b"[" * 990 + b"]" * 990 + b"}",
    b"\xff\xfe\x00not utf-8",
    b"x" * 200_000,  # larger than a command may be
    b"null",
    b'"just a string"',
    b'{"type": "MESSAGE", "message": "no id"}',
    b'{"id": "bad type", "type": 42}',
    b'{"id": "nan", "type": "MESSAGE", "message": NaN}',
]


def post_report(port: int, body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_hostile_commands_and_reports_are_refused_and_the_next_good_one_still_runs(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    try:
        agent = rig.start_agent()
        rig.wait_every_vendor_ok()
        for payload in HOSTILE_COMMANDS:
            rig.watcher.publish(f"{BASE}/cmd", payload)
        good = {"id": "good-1", "type": "MESSAGE", "message": "still listening"}
        rig.watcher.publish(f"{BASE}/cmd", json.dumps(good).encode())
        wait_until(
            "the good command to run", lambda: ["message", "still listening"] in rig.world.actions_run()
        )

        port = rig.world.report_port
        for body in (b"[" * 100_000, b'{"n": NaN}', b'{"n": 1e999}', b"\xff", b"[1, 2]"):
            assert 400 <= post_report(port, body) < 500
        assert post_report(port, b'{"action": "NewCdr", "seq": 1}') == 200
        report = rig.watcher.wait_for(
            "the good report", lambda seen: [m for m in seen if m.topic == f"{BASE}/pbx/pbx"]
        )
        assert report[0].json() == {"action": "NewCdr", "seq": 1}
        assert agent.process.poll() is None
        assert rig.stop_agent() == 0
    finally:
        rig.close()

    rejected = rig.events("command.rejected") + rig.events("action.rejected")
    assert len(rejected) >= len(HOSTILE_COMMANDS) - 1  # "nan" is refused by JSON or by the runner
    assert all(event["reason"] for event in rejected)
    for seen in rig.watcher.seen:  # everything the agent published is strict JSON (or plain text)
        if seen.topic != f"{BASE}/cmd" and seen.payload.startswith((b"{", b"[")):
            json.loads(
                seen.payload, parse_constant=lambda name, topic=seen.topic: pytest.fail(f"{name} on {topic}")
            )
