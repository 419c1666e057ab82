"""The broker going away: killed and restarted (losing everything it held), or out of reach for long.

Meanwhile the PBX keeps pushing reports (each one, once answered 200, is owed to the
broker) and Telecom X keeps queueing actions (whose events are owed too). Afterwards the
subscriber, which stayed connected whenever there was a broker, must have every owed
message, in the order it was owed; the agent must have re-published its retained
picture (status, state, every heartbeat outcome) on the new broker by itself, kept
beating every vendor throughout, and grown by less than 10 MB.

When the broker is killed, the agent is cut off at the same moment and the broker gets
a moment to hand the subscriber what it already acknowledged: a message the broker
acknowledged is the broker's to keep (mosquitto runs here without persistence), so its
loss in a broker crash would say nothing about the agent.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fault_rig import BASE, ENDPOINTS, Feeder, ReportPusher, Rig, first_arrivals
from mqtt_brokers import have_mosquitto
from mqtt_watch import Seen, Watcher
from support.waiting import wait_until

MEMORY_GROWTH_MB = 10.0
OUTAGE_S = 20.0

pytestmark = pytest.mark.skipif(
    not have_mosquitto(), reason="mosquitto is not installed (.ci/run installs it)"
)


def vendor_requests(rig: Rig) -> dict[str, int]:
    return {vendor: len(server.requests) for vendor, server in rig.world.servers.items()}


def online_count(seen: list[Seen]) -> int:
    """How often the agent said ``online`` (its will says ``offline`` each time it is cut off)."""
    return sum(m.topic == f"{BASE}/status" and m.payload == b"online" for m in seen)


def assert_reports_all_arrived_in_order(rig: Rig, pusher: ReportPusher) -> None:
    wait_until(
        "every delivered report on the broker",
        lambda: {r["seq"] for r in rig.pbx_reports()} >= set(pusher.delivered),
        timeout=30,
    )
    arrived, _repeats = first_arrivals(rig.pbx_reports(), key=lambda report: report["seq"])
    order = [report["seq"] for report in arrived]
    assert order == sorted(order), "reports arrived out of the order they were owed"
    assert set(order) == set(pusher.delivered)


def test_a_broker_killed_and_restarted_gets_everything_owed_and_the_retained_picture_again(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    try:
        agent = rig.start_agent()
        rig.wait_every_vendor_ok()
        pusher = ReportPusher(rig.world)
        feeder = Feeder(pusher.push, every=0.1)
        time.sleep(3)
        rss_before = rig.rss_mb()

        beats_before = vendor_requests(rig)
        for restart in range(3):
            rig.gate.shut()
            time.sleep(0.3)
            rig.broker.kill()
            time.sleep(2)
            rig.broker.start()
            rig.watcher.wait_subscribed(restart + 2)
            rig.gate.open()
            rig.watcher.wait_for(
                f"the agent back online after restart {restart + 1}",
                lambda seen, count=restart: online_count(seen) > count + 1,
            )
        beats_after = vendor_requests(rig)
        assert all(beats_after[v] > beats_before[v] for v in beats_before), "heartbeats paused"

        feeder.stop()
        assert_reports_all_arrived_in_order(rig, pusher)
        assert len(pusher.delivered) > 20

        # what a subscriber that arrives now finds on the new broker: the whole retained picture
        late = Watcher(rig.broker.port, [f"{BASE}/#"])
        try:
            expected = {
                f"{BASE}/status",
                f"{BASE}/state",
                *(f"{BASE}/heartbeat/{name}" for name in ENDPOINTS),
            }
            late.wait_for(
                "the retained picture", lambda seen: expected <= {m.topic for m in seen if m.retain}
            )
            assert late.last(f"{BASE}/status").payload == b"online"
        finally:
            late.close()
        rig.wait_every_vendor_ok(since=rig.marks())
        assert rig.rss_mb() - rss_before < MEMORY_GROWTH_MB
        assert agent.process.poll() is None
        assert rig.stop_agent() == 0
    finally:
        rig.close()


def test_a_long_outage_is_bridged_by_the_outbox_and_heartbeats_go_on(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    telecomx = rig.world.apps["telecomx"]
    token = rig.world.credentials["telecomx"]["token"]
    try:
        agent = rig.start_agent()
        rig.wait_every_vendor_ok()
        time.sleep(3)
        rss_before = rig.rss_mb()
        pusher = ReportPusher(rig.world)
        feeder = Feeder(pusher.push, every=0.2)
        queued = Feeder(
            lambda i: telecomx.queue_action(token, {"type": "MESSAGE", "message": f"tx-{i}"}), 1.0
        )

        rig.gate.shut()
        beats_before = vendor_requests(rig)
        time.sleep(OUTAGE_S / 2)
        assert rig.status()["outbox"]["depth"] > 0, "nothing owed while cut off?"
        time.sleep(OUTAGE_S / 2)
        messages = queued.stop()
        feeder.stop()
        beats_after = vendor_requests(rig)
        assert all(beats_after[v] - beats_before[v] >= 3 for v in beats_before), (beats_before, beats_after)
        wait_until(  # the queued ones and the simulator's welcome message, run at the start
            "every queued action to run while offline", lambda: len(rig.world.actions_run()) >= messages + 1
        )

        rig.gate.open()
        assert_reports_all_arrived_in_order(rig, pusher)
        wait_until("the outbox to drain", lambda: rig.status()["outbox"]["depth"] == 0)

        def all_succeeded() -> set[str]:
            ids = {e["action_id"] for e in rig.events("action.succeeded")}
            return ids if len(ids) >= messages + 1 else set()

        # the last action's event may enter the outbox just after the drain was seen empty
        succeeded = wait_until("every action's success on the broker", all_succeeded)
        assert len(succeeded) == messages + 1  # and the simulator's welcome message
        events, repeats = first_arrivals(rig.events(), key=lambda event: event["id"])
        assert not repeats
        assert [e["time"] for e in events] == sorted(e["time"] for e in events)
        assert rig.rss_mb() - rss_before < MEMORY_GROWTH_MB
        assert agent.process.poll() is None
        assert rig.stop_agent() == 0
    finally:
        rig.close()
    ran = [argv[1] for argv in rig.world.actions_run() if argv[0] == "message"]
    assert sorted(ran) == sorted({*ran}), "an action ran twice"
