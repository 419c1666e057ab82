"""Telecom X heartbeats over real HTTP against the simulator: the request, the actions, every error."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from test_telecomx_format import SEED_APP_FIELDS, SEED_REQUEST_FIELDS, is_seed_type
from vendor_helpers import TOKEN, Harness, telecomx_table

from edge_agent.collectors import MetricsCollector
from edge_agent.config import MetricsConfig
from edge_agent.simulators.base import Fault, SimulatorServer
from edge_agent.vendors.telecomx.simulator import TelecomXSimulator

HOSTS = Path(__file__).resolve().parent.parent / "fixtures" / "hosts"
SEED_ACTIONS = [
    {"type": "MESSAGE", "message": "We need to reboot your box", "date": 149465756},
    {"type": "REBOOT", "date": 149465758},
    {"type": "START_APP", "date": 123975990, "app": "com.android.raider", "includeToken": True,
     "includeDeviceId": True, "includeTechnicalRoomNumber": False},
    {"type": "UPDATE_APP", "date": 123868998, "app": "dr.ramasjang.dk", "version": "19.31.3"},
    {"type": "MESSAGE", "date": 123868998, "message": "App is now updated", "duration": 12345678,
     "notify": "SOUND", "repeat": True},
    {"type": "VIDEO", "date": 123868999, "video": "https://cdn.example.com/welcome.m3u8"},
]  # fmt: skip


def journaled(harness: Harness) -> list[dict[str, Any]]:
    """The actions the runner will find, without their ids."""
    entries = harness.store.journal.in_state("received")
    return [{k: v for k, v in entry.payload.items() if k != "id"} for entry in entries]


def test_the_simulator_receives_every_statistic_with_the_seeds_types(harness_factory: Any) -> None:
    strict = TelecomXSimulator(strict=True)  # checks the seed's declared types on the server side
    strict.add_device(TOKEN)
    with SimulatorServer(strict) as strict_server:
        harness = harness_factory(
            telecomx_table(strict_server.url, apps='["dk.telecomx.tv", "com.android.raider"]', place='"EPG"')
        )
        outcome = harness.beat("tx")
        assert outcome["ok"] is True and outcome["status"] == 200
        body = strict.last_heartbeat(TOKEN)
    assert body is not None
    expected_keys = set(SEED_REQUEST_FIELDS) - {"interactions", "turnedOff"}
    assert set(body) == expected_keys  # everything the sample snapshot can tell
    for key, value in body.items():
        assert is_seed_type(value, SEED_REQUEST_FIELDS[key]), key
    for app_status in body["appStatus"].values():
        assert all(is_seed_type(value, SEED_APP_FIELDS[key]) for key, value in app_status.items())
    request = strict_server.requests[-1]
    assert request.method == "POST" and request.headers["content-type"] == "application/json"


def test_a_pi_tells_its_app_names_from_dpkg_and_its_awake_state_from_the_display(
    harness_factory: Any,
) -> None:
    """The pi4 fixture tree, read by the real collectors, reaches the strict simulator over HTTP."""
    pi4 = HOSTS / "pi4"
    collector = MetricsCollector(
        MetricsConfig(host_root=pi4, apps=["kodi", "vlc"]), environ={"PATH": str(pi4 / "bin")}
    )
    strict = TelecomXSimulator(strict=True)
    strict.add_device(TOKEN)
    with SimulatorServer(strict) as server:
        harness = harness_factory(
            telecomx_table(server.url, apps='["kodi", "vlc"]'), snapshot=collector.collect()
        )
        outcome = harness.beat("tx")
        assert outcome["ok"] is True, outcome
        body = strict.last_heartbeat(TOKEN)
    assert body is not None
    assert body["awakeState"] is True
    assert body["appStatus"] == {
        "kodi": {
            "name": "Open Source Home Theatre (executable binaries)",
            "installed": True,
            "versionName": "2:21.1+dfsg-1+rpt1",
        },
        "vlc": {"installed": False},
    }


def test_awake_state_is_left_out_where_the_display_cannot_be_read(harness_factory: Any) -> None:
    termux = HOSTS / "android-phone-termux"
    snapshot = MetricsCollector(
        MetricsConfig(host_root=termux), environ={"PATH": str(termux / "bin")}
    ).collect()
    assert snapshot.awake is None and "awake" in snapshot.unavailable
    strict = TelecomXSimulator(strict=True)
    strict.add_device(TOKEN)
    with SimulatorServer(strict) as server:
        harness = harness_factory(telecomx_table(server.url), snapshot=snapshot)
        outcome = harness.beat("tx")
        assert outcome["ok"] is True, outcome
        body = strict.last_heartbeat(TOKEN)
    assert body is not None and "awakeState" not in body


def test_every_action_of_a_reply_is_queued_once_with_an_event(
    telecomx: tuple[TelecomXSimulator, SimulatorServer], harness_factory: Any
) -> None:
    app, server = telecomx
    for action in SEED_ACTIONS:
        app.queue_action(TOKEN, action)
    harness = harness_factory(telecomx_table(server.url))
    outcome = harness.beat("tx")
    assert outcome["ok"] is True and outcome["actions"] == len(SEED_ACTIONS)
    assert journaled(harness) == SEED_ACTIONS
    received = harness.recorder.events_of("action.received")
    assert [event.data["action"]["type"] for event in received] == [a["type"] for a in SEED_ACTIONS]
    assert all(event.data["source"] == "heartbeat:tx" for event in received)
    assert app.queued_actions(TOKEN) == []  # the server handed them over
    assert harness.beat("tx")["actions"] == 0


def test_with_no_events_the_same_actions_come_back_every_beat_and_are_queued_once(
    telecomx: tuple[TelecomXSimulator, SimulatorServer], harness_factory: Any
) -> None:
    app, server = telecomx
    app.queue_action(TOKEN, {"type": "REBOOT", "date": 1700000000000})
    app.queue_action(TOKEN, {"type": "MESSAGE", "date": 1700000000001, "message": "hi"})
    harness = harness_factory(telecomx_table(server.url, no_events="true"))
    for _ in range(3):
        assert harness.beat("tx")["actions"] == 2
    assert app.last_heartbeat(TOKEN)["noEvents"] is True
    assert len(app.queued_actions(TOKEN)) == 2  # noEvents left them on the server
    assert [entry["type"] for entry in journaled(harness)] == ["REBOOT", "MESSAGE"]
    assert len(harness.recorder.events_of("action.received")) == 2
    harness.restart()  # a redelivery after a restart is recognised too
    assert harness.beat("tx")["actions"] == 2
    assert len(harness.store.journal.in_state("received")) == 2


def test_a_reply_lost_mid_body_queues_nothing_and_its_redelivery_is_queued_once(
    telecomx: tuple[TelecomXSimulator, SimulatorServer], harness_factory: Any
) -> None:
    app, server = telecomx
    action = app.queue_action(TOKEN, {"type": "START_APP", "app": "dk.telecomx.tv", "includeToken": True})
    full_reply = json.dumps([action]).encode()
    # 1: the reply is cut short; 2: it arrives whole, but the server did not dequeue it;
    # 3: the server (which still has it) delivers it again.
    server.inject(Fault("truncate", body=full_reply), Fault("garbage", body=full_reply))
    harness = harness_factory(telecomx_table(server.url))
    cut = harness.beat("tx")
    assert cut["ok"] is False and "cut short" in cut["error"]
    assert journaled(harness) == []
    assert harness.beat("tx")["actions"] == 1
    assert harness.beat("tx")["actions"] == 1
    assert len(journaled(harness)) == 1
    assert len(harness.recorder.events_of("action.received")) == 1


@pytest.mark.parametrize(
    ("flags", "key", "text"),
    [
        ({"mac_authorized": False}, "mac", "Mac not authorized"),
        ({"enabled": False}, "mac", "Device not enabled"),
        ({"customer_active": False}, "customer", "Customer not active"),
        ({"portal_exists": False}, "portal", "Portal not found"),
        (None, "access_denied", "Insufficient access level"),
    ],
)
def test_each_403_backs_off_for_long_with_an_event_and_one_log_line(
    telecomx: tuple[TelecomXSimulator, SimulatorServer],
    harness_factory: Any,
    caplog: pytest.LogCaptureFixture,
    flags: Any,
    key: str,
    text: str,
) -> None:
    app, server = telecomx
    table = telecomx_table(server.url, forbidden_backoff="1800")
    if flags is None:  # a token the platform does not know (or reset since)
        app.reset_token(app.add_device("OLDTOKEN0000000000000000", device_id="D2").device_id)
        table = table.replace(TOKEN, "OLDTOKEN0000000000000000")
    else:
        app.set_flags(TOKEN, **flags)
    harness = harness_factory(table)
    with caplog.at_level(logging.INFO, logger="edge_agent.heartbeat"):
        pauses = harness.run(lambda rec: len(rec.outcomes_of("tx")) == 3)
    outcomes = harness.recorder.outcomes_of("tx")
    assert all(o["ok"] is False and o["status"] == 403 for o in outcomes)
    assert key in outcomes[0]["error"] and text in outcomes[0]["error"]
    assert pauses[:2] == [1800.0, 1800.0]
    forbidden = harness.recorder.events_of("heartbeat.forbidden")
    assert len(forbidden) == 3 and text in forbidden[0].data["error"]
    refusals = [r for r in caplog.records if r.levelno == logging.ERROR and "refused us" in r.getMessage()]
    assert len(refusals) == 1 and text in refusals[0].getMessage()


def test_a_500_is_retried_with_growing_jittered_backoff_then_the_interval_resumes(
    telecomx: tuple[TelecomXSimulator, SimulatorServer], harness_factory: Any
) -> None:
    app, server = telecomx
    app.fail_internal(4)
    harness = harness_factory(
        telecomx_table(server.url, backoff_initial="5", backoff_max="30", interval="60")
    )
    pauses = harness.run(lambda rec: len(rec.outcomes_of("tx")) == 6)
    outcomes = harness.recorder.outcomes_of("tx")
    assert [o["ok"] for o in outcomes] == [False] * 4 + [True] * 2
    assert all(o["status"] == 500 for o in outcomes[:4])
    for pause, ceiling in zip(pauses[:4], [5, 10, 20, 30]):
        assert ceiling / 2 <= pause <= ceiling  # never a hot loop, never past backoff_max
    assert pauses[4] == 60.0
    assert [o["next_in_s"] for o in outcomes[:5]] == [round(p, 3) for p in pauses[:5]]
    assert len(harness.recorder.events_of("heartbeat.error")) == 4


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (Fault("huge", size=4096), "reply larger than 1024 bytes"),
        (Fault("garbage", body=b"<html>502 Bad Gateway</html>"), "not JSON"),
        (Fault("garbage", body=b'{"type": "REBOOT"}'), "not the array"),
    ],
    ids=["oversized", "garbage", "wrong-shape"],
)
def test_an_unusable_reply_is_an_error_outcome_and_the_next_beat_works(
    telecomx: tuple[TelecomXSimulator, SimulatorServer], harness_factory: Any, fault: Fault, says: str
) -> None:
    app, server = telecomx
    server.inject(fault)
    app.queue_action(TOKEN, {"type": "REBOOT"})
    harness = harness_factory(telecomx_table(server.url, max_response_bytes="1024"))
    bad = harness.beat("tx")
    assert bad["ok"] is False and says in bad["error"]
    assert harness.recorder.events_of("heartbeat.error")[0].data["endpoint"] == "tx"
    good = harness.beat("tx")
    assert good["ok"] is True and good["actions"] == 1


def test_the_last_beat_before_a_clean_shutdown_says_turned_off(
    telecomx: tuple[TelecomXSimulator, SimulatorServer], harness_factory: Any
) -> None:
    app, server = telecomx
    harness = harness_factory(telecomx_table(server.url))
    harness.run(lambda rec: len(rec.outcomes_of("tx")) == 2, shutdown=True)
    bodies = app.heartbeats(TOKEN)
    assert len(bodies) == 3
    assert [body.get("turnedOff") for body in bodies] == [None, None, True]
    assert harness.recorder.outcomes_of("tx")[-1]["next_in_s"] is None


def test_a_final_beat_to_a_hung_server_gives_up_quickly(
    telecomx: tuple[TelecomXSimulator, SimulatorServer], harness_factory: Any
) -> None:
    _app, server = telecomx
    harness = harness_factory(telecomx_table(server.url, timeout="0.3"))
    server.inject(Fault("hang", seconds=5))
    asyncio.run(harness.engine.shutdown())
    final = harness.recorder.outcomes_of("tx")[-1]
    assert final["ok"] is False and "no reply" in final["error"]


def test_a_missing_snapshot_still_sends_the_token(
    telecomx: tuple[TelecomXSimulator, SimulatorServer], harness_factory: Any
) -> None:
    app, server = telecomx
    harness = harness_factory(telecomx_table(server.url), snapshot=None)
    assert harness.beat("tx")["ok"] is True
    assert app.last_heartbeat(TOKEN) == {"token": TOKEN, "noEvents": False}
