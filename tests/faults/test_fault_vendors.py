"""Every vendor failing in every way a server can fail, one way after another, while the agent runs.

After each round every endpoint must have noticed the failure (an error outcome on its
heartbeat topic) and recovered (an ok one after it); after all of them the agent beats
every vendor on its schedule, has delivered every event it owed, and holds no more
memory than before (VmRSS within 10 MB: a 50 MB reply must be refused, not read).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from fault_rig import ENDPOINTS, Rig, first_arrivals
from mqtt_brokers import have_mosquitto
from support.vendor_world import SERIAL

from edge_agent.simulators.base import Fault

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

MEMORY_GROWTH_MB = 10.0

FAULT_ROUNDS = {
    "answering 500": [Fault("status", status=500, body=b"internal error")] * 2,
    "hanging past the timeout": [Fault("hang", seconds=3.5)],
    "closing mid-body": [Fault("truncate")] * 2,
    "sending garbage": [Fault("garbage", body=b"\x00\xff<html>not json at all")] * 2,
    "sending a 50 MB body": [Fault("huge", size=50 * 1024 * 1024)],
}

pytestmark = pytest.mark.skipif(
    not have_mosquitto(), reason="mosquitto is not installed (.ci/run installs it)"
)


def intervals(rig: Rig) -> dict[str, float]:
    """Each endpoint's interval as the rig's config sets it (the AI-box platform asks for the same)."""
    tables = tomllib.loads(rig.config.read_text())["heartbeats"]
    assert set(tables) == set(ENDPOINTS)
    return {name: float(table["interval"]) for name, table in tables.items()}


def beats_during(rig: Rig, seconds: float) -> dict[str, int]:
    before = rig.marks()
    time.sleep(seconds)
    after = rig.marks()
    return {name: after[name] - before[name] for name in ENDPOINTS}


def test_every_vendor_failing_every_way_is_noticed_survived_and_costs_no_memory(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    try:
        agent = rig.start_agent()
        rig.wait_every_vendor_ok()
        beats_during(rig, 5)  # past the start-up: imports done, connections open, caches warm
        rss_before = rig.rss_mb()

        for fault_name, faults in FAULT_ROUNDS.items():
            since = rig.marks()
            for server in rig.world.servers.values():
                server.inject(*faults)
            try:
                rig.wait_failed_then_ok(list(ENDPOINTS), since)
            except AssertionError as exc:
                raise AssertionError(f"while every vendor was {fault_name}: {exc}") from exc

        window = 6.0
        beats = beats_during(rig, window)
        for name, interval in intervals(rig).items():
            expected = window / interval
            assert expected / 2 <= beats[name] <= expected * 2 + 1, (name, beats)
        rss_after = rig.rss_mb()
        assert rss_after - rss_before < MEMORY_GROWTH_MB, (rss_before, rss_after)
        assert rig.status()["backlogs"]["camera"] == 0, "AI-box events still waiting for their Ack"
        assert agent.process.poll() is None
        assert rig.stop_agent() == 0
    finally:
        rig.close()

    # every failure was told, once each, in the order it happened
    events, repeats = first_arrivals(rig.events(), key=lambda event: event["id"])
    assert not repeats
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    errors = {e["endpoint"] for e in events if e["type"] == "heartbeat.error"}
    assert errors == set(ENDPOINTS)

    # the AI-box events that failed were sent again as they were, and all are confirmed now
    sent = [request.json()["info"] for request in rig.world.servers["aibox"].requests]  # faulted ones too
    resent = [info["eventId"] for info in sent if sum(i["eventId"] == info["eventId"] for i in sent) > 1]
    assert resent, "no AI-box event was ever sent again: the faults did not reach it"
    assert {info["eventId"] for info in sent} <= rig.world.apps["aibox"].delivered(SERIAL)
    first_times: dict[int, str] = {}
    for info in sent:
        assert first_times.setdefault(info["eventId"], info["time"]) == info["time"]
    # and the one action the vendors sent (the Telecom X welcome) ran once
    assert rig.world.actions_run() == [["message", "Hello from the Telecom X simulator"]]
