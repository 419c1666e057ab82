"""Twenty SIGKILLs at random moments (seeded), while reports, actions and AI-box resends are in flight.

SIGKILL is a power cut as far as the agent can tell: no goodbye, no flush, only what is
on disk survives. Meanwhile the PBX pushes numbered reports, an operator sends MQTT
commands, Telecom X queues actions and the AI-box platform drops some Acks (so events
wait in the backlog and are sent again). After the last restart:

* every report the agent answered 200 (so had on disk) reached the subscriber, and the
  first arrivals are in the order pushed; repeats are QoS 1's "at least once";
* no action ran twice; every action the agent took in ended succeeded, or interrupted
  when a kill landed while its program ran (never re-run: at most once wins over at
  least once for actions), and no more of those than there were kills;
* the AI-box platform has every eventId it ever saw confirmed, each resend carried its
  original eventId and time, and the resends are accounted for by dropped Acks and kills;
* every vendor is beaten again and nothing is left owed.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path

import pytest
from fault_rig import BASE, Feeder, ReportPusher, Rig, first_arrivals
from mqtt_brokers import have_mosquitto
from support.vendor_world import SERIAL
from support.waiting import wait_until

SEED = 20261125
KILLS = 20
FINAL_STATES = {"succeeded", "failed", "interrupted", "expired", "rejected"}
DRAIN_WINDOW = 100  # the most messages the agent has in flight on one connection

pytestmark = pytest.mark.skipif(
    not have_mosquitto(), reason="mosquitto is not installed (.ci/run installs it)"
)


def action_states(rig: Rig) -> dict[str, str]:
    """The latest state the events told of each action the agent took in (rejections aside)."""
    states: dict[str, str] = {}
    for event in rig.events():
        if event["type"].startswith("action.") and event["type"] != "action.rejected":
            states[event["action_id"]] = event["type"].removeprefix("action.")
    return states


def messages_of(rig: Rig) -> dict[str, str]:
    """The message each action shows: a command's is its id, a vendor's is in its received event."""
    shown = {}
    for event in rig.events("action.received"):
        action = event.get("action") or {"message": event["action_id"]}
        shown[event["action_id"]] = action["message"]
    return shown


def test_twenty_sigkills_lose_nothing_owed_and_run_nothing_twice(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    rig = Rig(tmp_path)
    aibox = rig.world.apps["aibox"]
    telecomx = rig.world.apps["telecomx"]
    token = rig.world.credentials["telecomx"]["token"]

    def command(i: int) -> None:
        body = {"id": f"cmd-{i}", "type": "MESSAGE", "message": f"cmd-{i}"}
        rig.watcher.publish(f"{BASE}/cmd", json.dumps(body).encode())

    try:
        rig.start_agent()
        rig.wait_every_vendor_ok()
        pusher = ReportPusher(rig.world)
        feeders = {
            "reports": Feeder(pusher.push, every=0.05),
            "commands": Feeder(command, every=0.15),
            "vendor actions": Feeder(
                lambda i: telecomx.queue_action(token, {"type": "MESSAGE", "message": f"tx-{i}"}), every=0.4
            ),
            "dropped acks": Feeder(lambda _: aibox.drop_acks(1), every=2.0),
        }
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.5, 3.0))
            rig.kill_agent()
            time.sleep(rng.uniform(0.0, 0.5))
            rig.start_agent()
        counts = {name: feeder.stop() for name, feeder in feeders.items()}
        since = rig.marks()

        # let the last run catch up with everything it owes
        wait_until(
            "every report answered 200 to reach the subscriber",
            lambda: {r["seq"] for r in rig.pbx_reports()} >= set(pusher.delivered),
        )
        rig.wait_every_vendor_ok(since=since)
        wait_until(
            "every action to end", lambda: set(action_states(rig).values()) <= FINAL_STATES, timeout=90
        )
        wait_until(
            "the AI-box backlog to drain",
            lambda: rig.status()["backlogs"]["camera"] == 0 and rig.status()["outbox"]["depth"] == 0,
            every=0.5,
        )
        assert rig.stop_agent() == 0
    finally:
        rig.close()

    # reports: all owed arrived; first arrivals in the order pushed
    arrived, report_repeats = first_arrivals(rig.pbx_reports(), key=lambda report: report["seq"])
    assert [r["seq"] for r in arrived] == sorted(pusher.delivered)
    events, event_repeats = first_arrivals(rig.events(), key=lambda event: event["id"])
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    assert sum(report_repeats.values()) + sum(event_repeats.values()) <= 2 * KILLS * DRAIN_WINDOW

    # actions: at most once, every one ended, interrupted only by a kill
    ran = Counter(argv[1] for argv in rig.world.actions_run() if argv[0] == "message")
    assert max(ran.values()) == 1, [message for message, n in ran.items() if n > 1]
    states = action_states(rig)
    assert set(states.values()) <= {"succeeded", "interrupted"}, Counter(states.values())
    interrupted = [action for action, state in states.items() if state == "interrupted"]
    succeeded = [action for action, state in states.items() if state == "succeeded"]
    assert len(interrupted) <= rig.kills
    shown = messages_of(rig)
    assert {shown[a] for a in succeeded if a in shown} <= set(ran), "an action said succeeded but never ran"
    assert len(succeeded) <= len(ran) <= len(succeeded) + len(interrupted)
    assert len([a for a in states if a.startswith("cmd-")]) > counts["commands"] / 3, "few commands taken in"
    assert len([a for a in states if a.startswith("iptv:")]) > counts["vendor actions"] / 2

    # AI-box: every event confirmed, resends carry the original id and time, and are accounted for
    arrivals = aibox.events(SERIAL)
    assert {a.event_id for a in arrivals} <= aibox.delivered(SERIAL)
    times = {}
    for arrival in arrivals:
        assert times.setdefault(arrival.event_id, arrival.time) == arrival.time, "a resend changed its time"
    resends = sum(aibox.duplicates(SERIAL).values())
    assert resends <= counts["dropped acks"] + rig.kills
