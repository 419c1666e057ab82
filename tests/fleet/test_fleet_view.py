"""The fleet model: what each message does to a device's row, fed as the broker delivers it."""

from __future__ import annotations

import json

from fleet_helpers import T0, event, iso, outcome, state
from hypothesis import given, settings
from hypothesis import strategies as st
from support.clock import FakeClock

from edge_agent.fleet.view import FleetView


def view(clock: FakeClock | None = None) -> FleetView:
    return FleetView("edge", clock or FakeClock(T0))


def test_a_state_fills_every_metric_column_and_the_hottest_zone() -> None:
    fleet = view()
    fleet.feed(
        "edge/pi-1/state",
        state(
            cpu_percent=37.5,
            memory_free_percent=61,
            temperatures={"cpu-thermal": 58.2, "gpu": 61.0, "battery": 30},
            battery_percent=84,
            charging=True,
            wifi_signal_dbm=-67,
            heartbeats={"iptv": outcome(True)},
        ),
        retain=True,
    )
    row = fleet.row("pi-1").to_json()
    assert row["cpu_percent"] == 37.5
    assert row["memory_free_percent"] == 61
    assert row["hottest"] == {"zone": "gpu", "celsius": 61.0}
    assert (row["battery_percent"], row["charging"]) == (84, True)
    assert row["wifi_signal_dbm"] == -67
    assert row["version"] == "1.2.3"
    assert row["heartbeats"]["iptv"]["ok"] is True
    assert row["status"] is None  # no status message yet


def test_equal_temperatures_name_the_same_zone_every_time() -> None:
    fleet = view()
    fleet.feed("edge/pi-1/state", state(temperatures={"zone-b": 50.0, "zone-a": 50.0}))
    assert fleet.row("pi-1").to_json()["hottest"] == {"zone": "zone-a", "celsius": 50.0}


def test_a_status_change_seen_live_says_since_when_and_counts_the_fleet() -> None:
    clock = FakeClock(T0)
    fleet = view(clock)
    fleet.feed("edge/pi-1/status", b"online")
    fleet.feed("edge/pi-2/status", b"online")
    assert (fleet.online, fleet.offline) == (2, 0)
    assert fleet.row("pi-1").to_json()["since"] == iso(T0)

    clock.advance(90)
    fleet.feed("edge/pi-1/status", b"offline")  # the last will
    row = fleet.row("pi-1").to_json()
    assert (row["status"], row["since"]) == ("offline", iso(clock.now()))
    assert (fleet.online, fleet.offline) == (1, 1)

    clock.advance(30)
    fleet.feed("edge/pi-1/status", b"offline")  # said again: nothing changed
    assert fleet.row("pi-1").to_json()["since"] == "2030-01-01T12:01:30.000Z"
    clock.advance(5)
    fleet.feed("edge/pi-1/status", b"online")
    assert fleet.row("pi-1").to_json()["since"] == "2030-01-01T12:02:05.000Z"
    assert (fleet.online, fleet.offline) == (2, 0)


def test_a_retained_status_leaves_since_unknown_until_a_change_is_seen() -> None:
    clock = FakeClock(T0)
    fleet = view(clock)
    fleet.feed("edge/pi-1/status", b"offline", retain=True)
    assert fleet.row("pi-1").to_json()["since"] is None

    clock.advance(10)
    fleet.feed("edge/pi-1/status", b"online")
    assert fleet.row("pi-1").to_json()["since"] == iso(clock.now())

    # a watcher that reconnects gets the retained status again: changed meanwhile, but when?
    fleet.feed("edge/pi-1/status", b"offline", retain=True)
    assert fleet.row("pi-1").to_json()["since"] is None


def test_last_seen_is_our_clock_for_live_messages_and_the_device_time_for_retained_ones() -> None:
    clock = FakeClock(T0)
    fleet = view(clock)
    an_hour_ago = "2030-01-01T11:00:00.000Z"
    fleet.feed("edge/pi-1/state", state(timestamp=an_hour_ago), retain=True)
    assert fleet.row("pi-1").to_json()["last_seen"] == an_hour_ago

    fleet.feed("edge/pi-2/state", state(timestamp="2031-01-01T00:00:00.000Z"), retain=True)
    assert fleet.row("pi-2").to_json()["last_seen"] == iso(T0)  # a clock ahead of ours is not believed

    clock.advance(60)
    fleet.feed("edge/pi-1/status", b"offline")  # the broker speaking for it: not a sign of life
    assert fleet.row("pi-1").to_json()["last_seen"] == an_hour_ago
    fleet.feed("edge/pi-1/events", event("heartbeat.error"))
    assert fleet.row("pi-1").to_json()["last_seen"] == iso(clock.now())


def test_heartbeat_topics_give_the_last_result_per_endpoint() -> None:
    fleet = view()
    fleet.feed("edge/pi-1/heartbeat/iptv", json.dumps(outcome(True)).encode(), retain=True)
    fleet.feed("edge/pi-1/heartbeat/hub", json.dumps(outcome(False, status=503, vendor="xyte")).encode())
    beats = fleet.row("pi-1").to_json()["heartbeats"]
    assert beats["iptv"] == {"vendor": "telecomx", "ok": True, "status": 200, "time": iso(T0), "error": None}
    assert beats["hub"]["ok"] is False
    assert (beats["hub"]["status"], beats["hub"]["error"]) == (503, "HTTP 503")


def test_action_events_give_the_last_action_and_other_events_do_not() -> None:
    fleet = view()
    fleet.feed(
        "edge/pi-1/events", event("action.started", action_id="a1", action_type="MESSAGE", state="running")
    )
    assert fleet.row("pi-1").to_json()["last_action"]["state"] == "running"

    fleet.feed(
        "edge/pi-1/events",
        event(
            "action.failed",
            action_id="a1",
            action_type="MESSAGE",
            state="failed",
            reason="exited with code 3",
        ),
    )
    fleet.feed("edge/pi-1/events", event("outbox.dropped", dropped=3))
    assert fleet.row("pi-1").to_json()["last_action"] == {
        "id": "a1",
        "type": "MESSAGE",
        "state": "failed",
        "time": iso(T0),
        "reason": "exited with code 3",
    }

    fleet.feed(
        "edge/pi-1/events", event("command.rejected", command_id="c9", reason='the command has no "id"')
    )
    last = fleet.row("pi-1").to_json()["last_action"]
    assert (last["id"], last["state"], last["reason"]) == ("c9", "rejected", 'the command has no "id"')


def test_malformed_payloads_change_nothing_and_are_counted() -> None:
    fleet = view()
    fleet.feed("edge/pi-1/state", state(cpu_percent=10.0))
    before = fleet.row("pi-1").to_json()
    fleet.take_dirty()
    for topic, payload in [
        ("edge/pi-1/state", b"\xff\xfe\x00garbage"),
        ("edge/pi-1/state", b"{not json"),
        ("edge/pi-1/state", b"[1, 2, 3]"),
        ("edge/pi-1/status", b"maybe"),
        ("edge/pi-1/heartbeat/iptv", b"42"),
        ("edge/pi-1/events", b"null"),
    ]:
        fleet.feed(topic, payload)
    assert fleet.malformed == 6
    assert fleet.row("pi-1").to_json() == before
    assert fleet.take_dirty() == []


def test_fields_of_the_wrong_type_read_as_absent() -> None:
    fleet = view()
    fleet.feed(
        "edge/pi-1/state",
        state(cpu_percent="high", battery_percent=True, charging="yes", temperatures={"cpu": "hot"}),
    )
    row = fleet.row("pi-1").to_json()
    assert (row["cpu_percent"], row["battery_percent"], row["charging"], row["hottest"]) == (
        None,
        None,
        None,
        None,
    )
    assert fleet.malformed == 0


def test_numbers_json_allows_but_a_table_cannot_show_read_as_absent() -> None:
    fleet = view()
    huge = "1" + "0" * 400
    fleet.feed(
        "edge/pi-1/state",
        b'{"cpu_percent": NaN, "battery_percent": 1e999, "wifi_signal_dbm": %s}' % huge.encode(),
    )
    row = fleet.row("pi-1").to_json()
    assert (row["cpu_percent"], row["battery_percent"], row["wifi_signal_dbm"]) == (None, None, None)
    json.dumps(row, allow_nan=False)


def test_topics_outside_the_contract_are_ignored_without_making_rows() -> None:
    fleet = view()
    for topic in ["edge/pi-1/metrics/cpu_percent", "other/pi-1/state", "edge/pi-1/heartbeat", "edge//state"]:
        fleet.feed(topic, state())
    assert (len(fleet), fleet.ignored, fleet.messages) == (0, 4, 4)


def test_only_rows_that_changed_are_dirty_and_taking_them_empties_the_set() -> None:
    fleet = view()
    fleet.feed("edge/pi-b/state", state(cpu_percent=1.0), retain=True)
    fleet.feed("edge/pi-a/status", b"online", retain=True)
    assert [row.device_id for row in fleet.take_dirty()] == ["pi-a", "pi-b"]
    assert fleet.take_dirty() == []

    fleet.feed("edge/pi-b/state", state(cpu_percent=1.0))  # the same values again
    fleet.feed("edge/pi-a/status", b"online")
    assert fleet.dirty_count == 0
    fleet.feed("edge/pi-b/state", state(cpu_percent=2.0))
    assert [row.device_id for row in fleet.take_dirty()] == ["pi-b"]


def test_five_thousand_devices_keep_one_sorted_row_each_and_only_changes_are_redrawn() -> None:
    clock = FakeClock(T0)
    fleet = view(clock)
    ids = [f"dev-{n:05d}" for n in range(5000)]
    for n, device_id in enumerate(reversed(ids)):
        fleet.feed(f"edge/{device_id}/status", b"offline" if n % 10 == 0 else b"online", retain=True)
        fleet.feed(f"edge/{device_id}/state", state(cpu_percent=float(n % 100)), retain=True)
        fleet.feed(f"edge/{device_id}/heartbeat/iptv", json.dumps(outcome(True)).encode(), retain=True)
    assert len(fleet) == 5000
    assert fleet.device_ids() == ids
    assert (fleet.online, fleet.offline) == (4500, 500)
    assert fleet.dirty_count == 5000
    fleet.take_dirty()

    clock.advance(30)
    for device_id in ids:  # every device reports again; a hundred of them changed
        cpu = fleet.row(device_id).cpu_percent
        changed = device_id.endswith("7")
        fleet.feed(f"edge/{device_id}/state", state(cpu_percent=(cpu or 0) + (1 if changed else 0)))
    assert fleet.dirty_count == 500
    assert all(row.device_id.endswith("7") for row in fleet.take_dirty())
    assert fleet.messages == 20000


_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.floats()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_KEYS = st.sampled_from(
    [
        "cpu_percent",
        "memory_free_percent",
        "temperatures",
        "battery_percent",
        "charging",
        "wifi_signal_dbm",
        "agent",
        "heartbeats",
        "timestamp",
        "time",
        "type",
        "ok",
        "status",
        "state",
        "action_id",
        "reason",
    ]
)
_DOCUMENTS = st.one_of(
    st.dictionaries(_KEYS, _VALUES, max_size=6),
    st.dictionaries(_KEYS, st.dictionaries(st.text(max_size=6), _VALUES, max_size=3), max_size=3),
    st.builds(
        lambda kind, doc: {**doc, "type": kind},
        st.sampled_from(["action.failed", "command.rejected"]),
        st.dictionaries(_KEYS, _VALUES, max_size=4),
    ),
    _VALUES,
)


@settings(max_examples=300, deadline=None)
@given(
    device=st.text(min_size=0, max_size=8),
    kind=st.sampled_from(["status", "state", "events", "heartbeat/x", "heartbeat", "metrics/cpu"]),
    payload=st.one_of(st.binary(max_size=64), _DOCUMENTS.map(lambda doc: json.dumps(doc).encode())),
    retain=st.booleans(),
)
def test_nothing_a_broker_delivers_crashes_the_view(
    device: str, kind: str, payload: bytes, retain: bool
) -> None:
    fleet = view()
    fleet.feed(f"edge/{device}/{kind}", payload, retain)
    for row in fleet.rows():
        json.dumps(row.to_json(), allow_nan=False)  # every row can still be printed as strict JSON
    assert fleet.messages == 1


def test_a_state_nested_thousands_deep_is_counted_malformed_not_a_crash_of_watch() -> None:
    """Any client on the broker can publish under the prefix: `watch` must outlive it."""
    fleet = view()
    for depth in (900, 5_000, 100_000):
        fleet.feed("edge/pi-1/state", b'{"cpu_percent": ' + b"[" * depth + b"]" * depth + b"}")
    assert fleet.malformed == 3
    fleet.feed("edge/pi-1/state", state(cpu_percent=10.0))
    assert fleet.row("pi-1").to_json()["cpu_percent"] == 10.0
