"""PubNub Presence heartbeats over real HTTP against the simulator, which verifies every signature."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Callable

import pytest
from support.clock import FakeClock
from vendor_helpers import START, Harness, Recorder

from edge_agent.errors import VendorAuthError, VendorRejectedError
from edge_agent.heartbeat import BeatResult, HeartbeatEngine
from edge_agent.simulators.base import Fault, SimClock, SimulatorServer
from edge_agent.vendors.pubnub.simulator import CHANNEL_GROUP, PubNubSimulator

SUB, PUB, SECRET = "sub-c-lobby", "pub-c-lobby", "sec-c-lobby"
ODD_CHANNEL = "hall/2 ~east"  # needs percent-encoding in the path


@pytest.fixture
def presence(clock: FakeClock) -> Iterator[tuple[PubNubSimulator, SimulatorServer, SimClock]]:
    sim_clock = SimClock(START)  # the service's clock agrees with the device's, as NTP would make it
    app = PubNubSimulator(sim_clock)
    app.add_keyset(SUB, PUB, SECRET, reject_replays=True)
    with SimulatorServer(app) as server:
        yield app, server, sim_clock


def pubnub_table(origin: str, name: str = "presence", secret: str = SECRET, **extra: str) -> str:
    lines = [
        f"[heartbeats.{name}]",
        'vendor = "pubnub"',
        f'origin = "{origin}"',
        f'subscribe_key = "{SUB}"',
        f'publish_key = "{PUB}"',
        f'secret_key = "{secret}"',
    ]
    lines += [f"{key} = {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n\n"


def beat(harness: Harness, name: str = "presence") -> BeatResult:
    async def once() -> BeatResult:
        try:
            return await harness.engine.beat_once(name)
        finally:
            await harness.engine.aclose()

    return asyncio.run(once())


def run_schedule(harness: Harness, until: Callable[[list[float]], bool]) -> list[float]:
    """Run the engine's real schedule until ``until(sleeps)``; a sleep of 100 s or more never ends,
    so a stopped or long-backed-off endpoint shows as the sleeps it asked for."""
    sleeps: list[float] = []
    recorder = Recorder()
    harness.recorder = recorder

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if seconds >= 100:
            await asyncio.Event().wait()

    async def main() -> None:
        engine = HeartbeatEngine(
            harness.config, harness.store, harness.clock, lambda: harness.snapshot,
            recorder.on_outcome, recorder.on_event, sleep=fake_sleep,
        )  # fmt: skip
        stop = asyncio.Event()
        running = asyncio.ensure_future(engine.run(stop))
        deadline = asyncio.get_running_loop().time() + 20  # guards a hang only
        while not until(sleeps) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        for _ in range(5):
            await asyncio.sleep(0)  # let a loop that should have stopped show that it did not
        stop.set()
        await running
        await engine.aclose()

    asyncio.run(main())
    return sleeps


def test_a_signed_heartbeat_is_verified_and_makes_the_device_present_with_its_state(
    presence: tuple[PubNubSimulator, SimulatorServer, SimClock], harness_factory: Any
) -> None:
    app, server, _ = presence
    table = pubnub_table(
        server.url,
        channels=f'["lobby", "{ODD_CHANNEL}", "lobby"]',
        channel_groups='["screens"]',
        auth_key='"auth-1"',
        state='["cpu_percent", "battery_percent", "no_such_metric"]',
    )
    harness = harness_factory(table)
    result = beat(harness)
    assert result.ok, result.error
    assert app.signature_failures == []
    for channel in ("lobby", ODD_CHANNEL):
        assert app.occupants(channel) == ["tablet-1"]  # the device id is the default uuid
        assert app.state(channel, "tablet-1") == {"cpu_percent": 12.34, "battery_percent": 87.0}
    assert app.occupants("screens", kind=CHANNEL_GROUP) == ["tablet-1"]
    assert [(e.action, e.name) for e in app.presence_events()] == [
        ("join", ODD_CHANNEL), ("join", "lobby"), ("join", "screens"),
    ]  # fmt: skip
    request = server.requests[-1]
    assert request.raw_path == f"/v2/presence/sub-key/{SUB}/channel/hall%2F2%20%7Eeast,lobby/heartbeat"
    query = {key: values[0] for key, values in request.query.items()}
    assert (
        query["heartbeat"] == "300" and query["auth"] == "auth-1" and query["pnsdk"].startswith("edge-agent/")
    )
    assert query["timestamp"] == str(int(START.timestamp()))
    assert (
        result.reply is not None and "state: 'no_such_metric' is not a snapshot key" in result.reply.skipped
    )


def test_every_heartbeat_is_signed_afresh_so_a_replay_checking_service_accepts_each(
    presence: tuple[PubNubSimulator, SimulatorServer, SimClock], harness_factory: Any, clock: FakeClock
) -> None:
    app, server, sim_clock = presence
    harness = harness_factory(pubnub_table(server.url, channels='["lobby"]', uuid='"pi-lobby"'))
    signatures = []
    for _ in range(3):
        assert beat(harness).ok
        signatures.append(server.requests[-1].arg("signature"))
        clock.advance(149)
        sim_clock.advance(149)
    assert len(set(signatures)) == 3
    assert app.occupants("lobby") == ["pi-lobby"]
    assert [e.action for e in app.presence_events()] == ["join"]  # never timed out in between


def test_without_heartbeats_the_service_times_the_device_out(
    presence: tuple[PubNubSimulator, SimulatorServer, SimClock], harness_factory: Any
) -> None:
    app, server, sim_clock = presence
    harness = harness_factory(pubnub_table(server.url, channels='["lobby"]', presence_timeout="60"))
    assert beat(harness).ok
    assert server.requests[-1].arg("heartbeat") == "60"
    sim_clock.advance(61)
    assert [e.action for e in app.presence_events()] == ["join", "timeout"]


def test_a_wrong_secret_is_refused_with_403_an_event_and_a_long_pause_not_a_retry_storm(
    presence: tuple[PubNubSimulator, SimulatorServer, SimClock], harness_factory: Any
) -> None:
    app, server, _ = presence
    harness = harness_factory(pubnub_table(server.url, secret="not-the-secret", channels='["lobby"]'))
    sleeps = run_schedule(harness, lambda sleeps: bool(sleeps))
    assert sleeps == [1800.0]  # forbidden_backoff, once
    assert len(server.requests) == 1
    assert [failure.reason for failure in app.signature_failures] == ["signature does not match"]
    assert app.occupants("lobby") == []
    denied = harness.recorder.events_of("pubnub.access_denied")
    assert [event.data["message"] for event in denied] == ["Signature does not match"]
    assert harness.recorder.events_of("heartbeat.forbidden")[0].data["status"] == 403


def test_a_channel_not_granted_is_refused_with_the_channel_named(
    presence: tuple[PubNubSimulator, SimulatorServer, SimClock], harness_factory: Any
) -> None:
    app, server, _ = presence
    app.grant(SUB, "auth-1", channels=("lobby",))
    harness = harness_factory(pubnub_table(server.url, channels='["lobby", "vault"]', auth_key='"auth-1"'))
    result = beat(harness)
    assert isinstance(result.error, VendorAuthError) and "Forbidden" in str(result.error)
    assert harness.recorder.events_of("pubnub.access_denied")[0].data["payload"] == {"channels": ["vault"]}


def test_a_400_stops_the_endpoint_until_the_config_changes(
    presence: tuple[PubNubSimulator, SimulatorServer, SimClock], harness_factory: Any
) -> None:
    _, server, _ = presence
    table = pubnub_table(server.url, channels='["lobby"]').replace(f'"{SUB}"', '"sub-c-unknown"')
    harness = harness_factory(table)
    sleeps = run_schedule(harness, lambda _sleeps: bool(harness.recorder.outcomes))
    assert sleeps == [] and len(server.requests) == 1
    outcome = harness.recorder.outcomes_of("presence")[0]
    assert outcome["status"] == 400 and outcome["next_in_s"] is None
    assert isinstance(beat(harness).error, VendorRejectedError)


def test_a_server_error_is_retried_with_backoff_and_then_succeeds(
    presence: tuple[PubNubSimulator, SimulatorServer, SimClock], harness_factory: Any
) -> None:
    app, server, _ = presence
    server.inject(Fault("status", status=503, body=b'{"status": 503, "error": true}'))
    harness = harness_factory(pubnub_table(server.url, channels='["lobby"]'))
    sleeps = run_schedule(harness, lambda sleeps: len(sleeps) >= 2)
    assert 2.5 <= sleeps[0] <= 5.0  # backoff_initial 5 s with jitter
    assert sleeps[1] == 149.0  # then the regular interval: presence_timeout / 2 - 1
    assert app.occupants("lobby") == ["tablet-1"]


def test_channel_groups_alone_use_the_literal_comma_segment_and_an_unsigned_keyset_needs_no_signature(
    presence: tuple[PubNubSimulator, SimulatorServer, SimClock], harness_factory: Any
) -> None:
    app, server, _ = presence
    app.add_keyset("sub-c-open", "pub-c-open")
    table = "\n".join(
        ["[heartbeats.open]", 'vendor = "pubnub"', f'origin = "{server.url}"', 'subscribe_key = "sub-c-open"',
         'channel_groups = ["screens", "kiosks"]', 'state = ["battery_percent"]'],
    )  # fmt: skip
    harness = harness_factory(table + "\n")
    assert beat(harness, "open").ok
    request = server.requests[-1]
    assert request.raw_path == "/v2/presence/sub-key/sub-c-open/channel/,/heartbeat"
    assert "signature" not in request.query and "timestamp" not in request.query
    assert app.occupants("kiosks", kind=CHANNEL_GROUP) == ["tablet-1"]
    assert app.state("screens", "tablet-1", kind=CHANNEL_GROUP) == {"battery_percent": 87.0}


def test_state_for_a_single_channel_is_keyed_by_that_channel_and_the_service_takes_it(
    presence: tuple[PubNubSimulator, SimulatorServer, SimClock], harness_factory: Any
) -> None:
    app, server, _ = presence
    harness = harness_factory(
        pubnub_table(server.url, channels='["lobby"]', channel_groups='["screens"]', state='["cpu_percent"]')
    )
    result = beat(harness)
    assert result.ok, result.error
    assert json.loads(server.requests[-1].query["state"][0]) == {
        "lobby": {"cpu_percent": 12.34},
        "screens": {"cpu_percent": 12.34},
    }
    assert app.state("lobby", "tablet-1") == {"cpu_percent": 12.34}
    assert app.state("screens", "tablet-1", kind=CHANNEL_GROUP) == {"cpu_percent": 12.34}


SKEW_S = 2 * 3600  # a Pi without an RTC, booted with the clock of two hours ago... or ahead


@pytest.mark.parametrize("direction", [1, -1], ids=["ahead", "behind"])
def test_a_device_clock_hours_off_is_corrected_from_the_date_header_and_the_403_says_skew(
    presence: tuple[PubNubSimulator, SimulatorServer, SimClock], harness_factory: Any, direction: int
) -> None:
    app, server, sim_clock = presence
    device_clock = FakeClock(START + timedelta(seconds=direction * SKEW_S))
    harness = harness_factory(pubnub_table(server.url, channels='["lobby"]'))
    harness.clock = device_clock
    harness.restart()  # the engine now reads the skewed clock
    first = beat(harness)
    assert first.ok, first.error  # refused once, then sent again with the server's time
    refused_at = int(device_clock.now().timestamp())
    reasons = [failure.reason for failure in app.signature_failures]
    assert reasons == [f"timestamp {refused_at} is more than 60 s from now"]
    sent = [int(request.arg("timestamp") or 0) for request in server.requests]
    assert sent[0] == int(device_clock.now().timestamp())
    assert abs(sent[1] - int(sim_clock.timestamp())) <= 1
    assert app.occupants("lobby") == ["tablet-1"]
    (denied,) = harness.recorder.events_of("pubnub.access_denied")
    assert denied.data["message"] == "Signature does not match"
    assert abs(denied.data["clock_skew_s"] - direction * SKEW_S) <= 1
    assert "clock" in denied.data["hint"] and ("ahead" if direction > 0 else "behind") in denied.data["hint"]
    # The correction is kept: the next beats are signed right the first time.
    for _ in range(2):
        device_clock.advance(149)
        sim_clock.advance(149)
        assert beat(harness).ok
    assert len(server.requests) == 4 and len(app.signature_failures) == 1
    assert abs(int(server.requests[-1].arg("timestamp") or 0) - int(sim_clock.timestamp())) <= 1


def test_a_403_that_is_not_the_clock_says_so_and_is_not_sent_twice(
    presence: tuple[PubNubSimulator, SimulatorServer, SimClock], harness_factory: Any
) -> None:
    _, server, _ = presence
    harness = harness_factory(pubnub_table(server.url, secret="not-the-secret", channels='["lobby"]'))
    result = beat(harness)
    assert isinstance(result.error, VendorAuthError)
    assert len(server.requests) == 1
    (denied,) = harness.recorder.events_of("pubnub.access_denied")
    assert abs(denied.data["clock_skew_s"]) <= 1 and "hint" not in denied.data


def test_when_ntp_sets_the_clock_right_the_correction_is_dropped_after_one_refusal(
    presence: tuple[PubNubSimulator, SimulatorServer, SimClock], harness_factory: Any
) -> None:
    app, server, sim_clock = presence
    device_clock = FakeClock(START - timedelta(seconds=SKEW_S))  # booted with a stale clock
    harness = harness_factory(pubnub_table(server.url, channels='["lobby"]'))
    harness.clock = device_clock
    harness.restart()
    skewed = beat(harness)
    assert skewed.ok and skewed.reply is not None and skewed.reply.summary["clock_offset_s"] == SKEW_S
    device_clock.advance(SKEW_S + 149)  # NTP steps the clock right, between two beats
    sim_clock.advance(149)
    fixed = beat(harness)
    assert fixed.ok and fixed.reply is not None and "clock_offset_s" not in fixed.reply.summary
    assert len(app.signature_failures) == 2  # one refusal per jump, each followed by a success
    assert abs(int(server.requests[-1].arg("timestamp") or 0) - int(sim_clock.timestamp())) <= 1
    assert app.occupants("lobby") == ["tablet-1"]
