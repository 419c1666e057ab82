"""AI-box heartbeat events over real HTTP against the platform simulator, through the real engine.

The simulator's delayed Ack advances the agent's fake clock instead of sleeping, so an
Ack that comes "too late" needs no real waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from support.clock import FakeClock
from vendor_helpers import Harness

from edge_agent.heartbeat import BeatResult
from edge_agent.heartbeat.context import state_namespace
from edge_agent.model import Snapshot
from edge_agent.simulators.base import SimulatorServer
from edge_agent.vendors.aibox import adapter as aibox_flow
from edge_agent.vendors.aibox.simulator import AiBoxSimulator
from edge_agent.vendors.aibox.vendor_time import parse_vendor_time

SERIAL = "I320013590DEA0BE21F6958"


@pytest.fixture
def platform(clock: FakeClock) -> Iterator[tuple[AiBoxSimulator, SimulatorServer]]:
    app = AiBoxSimulator(sleep=clock.advance)  # a late Ack moves the agent's clock on
    with SimulatorServer(app) as server:
        yield app, server


def aibox_table(url: str, name: str = "box", **extra: str) -> str:
    lines = [
        f"[heartbeats.{name}]",
        'vendor = "aibox"',
        f'url = "{url}/event"',
        f'serial_number = "{SERIAL}"',
    ]
    lines += [f"{key} = {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n\n"


def beat(harness: Harness, name: str = "box") -> BeatResult:
    async def once() -> BeatResult:
        try:
            return await harness.engine.beat_once(name)
        finally:
            await harness.engine.aclose()

    return asyncio.run(once())


def arrivals(app: AiBoxSimulator) -> list[int]:
    return [event.event_id for event in app.events(SERIAL)]


def backlog(harness: Harness, name: str = "box") -> int:
    return harness.store.queues.length(state_namespace(name))


def test_a_fresh_device_starts_event_ids_at_the_unix_time_and_counts_up_acked_events(
    platform: tuple[AiBoxSimulator, SimulatorServer], harness_factory: Any, clock: FakeClock
) -> None:
    app, server = platform
    harness = harness_factory(aibox_table(server.url))
    first = beat(harness)
    clock.advance(30)
    second = beat(harness)
    assert first.ok and second.ok
    start = int(clock.now().timestamp()) - 30
    assert arrivals(app) == [start, start + 1]
    assert app.delivered(SERIAL) == {start, start + 1} and app.duplicates(SERIAL) == {}
    assert backlog(harness) == 0
    sent_time = parse_vendor_time(app.events(SERIAL)[1].time)
    assert sent_time == clock.now().replace(microsecond=0)
    assert second.reply is not None and second.reply.summary["delivered"] == [start + 1]


@pytest.mark.parametrize("fault", ["drop", "fail", "late"])
def test_an_unconfirmed_event_is_sent_again_with_the_same_event_id_and_time(
    fault: str, platform: tuple[AiBoxSimulator, SimulatorServer], harness_factory: Any, clock: FakeClock
) -> None:
    app, server = platform
    harness = harness_factory(aibox_table(server.url, response_timeout="5"))
    if fault == "drop":
        app.drop_acks(1)
    elif fault == "fail":
        app.fail_acks(1, error_no=500, description="platform busy")
    else:
        app.delay_acks(1, seconds=6)  # one second past response_timeout
    failed = beat(harness)
    assert not failed.ok
    first_id = arrivals(app)[0]
    assert f"eventId {first_id} not delivered" in str(failed.error)
    assert "sent again with the same eventId and time" in str(failed.error)
    assert backlog(harness) == 1

    clock.advance(30)
    again = beat(harness)
    assert again.ok, again.error
    assert arrivals(app) == [first_id, first_id + 1, first_id]  # realTime: the live event first
    copies = [event for event in app.events(SERIAL) if event.event_id == first_id]
    assert copies[0].time == copies[1].time
    assert app.duplicates(SERIAL) == {first_id: 1}
    assert {first_id, first_id + 1} <= app.delivered(SERIAL)
    assert backlog(harness) == 0


def test_retransmission_mode_sends_the_backlog_before_the_live_event(
    platform: tuple[AiBoxSimulator, SimulatorServer], harness_factory: Any, clock: FakeClock
) -> None:
    app, server = platform
    app.set_event_send_mode("Retransmission")
    harness = harness_factory(aibox_table(server.url))
    assert beat(harness).ok  # the Ack tells the device the platform's mode
    app.drop_acks(2)
    for _ in range(2):
        clock.advance(30)
        assert not beat(harness).ok
    clock.advance(30)
    result = beat(harness)
    assert result.ok
    first = arrivals(app)[0]
    # While the Acks were lost only the oldest event was retried (backlog first); now the
    # backlog goes out oldest first and the live event last.
    assert arrivals(app) == [first, first + 1, first + 1, first + 1, first + 2, first + 3]
    assert result.reply is not None and result.reply.summary["event_send_mode"] == "Retransmission"


def test_realtime_mode_sends_the_live_event_first_then_the_backlog_oldest_first(
    platform: tuple[AiBoxSimulator, SimulatorServer], harness_factory: Any, clock: FakeClock
) -> None:
    app, server = platform
    harness = harness_factory(aibox_table(server.url))
    app.drop_acks(2)
    for _ in range(2):
        assert not beat(harness).ok
        clock.advance(30)
    assert beat(harness).ok
    ids = arrivals(app)
    assert ids[2:] == [ids[1] + 1, ids[0], ids[1]]


def test_a_long_backlog_drains_a_bounded_number_per_beat_and_a_retransmission_live_event_waits(
    platform: tuple[AiBoxSimulator, SimulatorServer], harness_factory: Any, clock: FakeClock
) -> None:
    app, server = platform
    app.set_event_send_mode("Retransmission")
    harness = harness_factory(aibox_table(server.url))
    assert beat(harness).ok
    waiting = aibox_flow.RESENDS_PER_BEAT + 2
    app.drop_acks(waiting)
    for _ in range(waiting):
        clock.advance(30)
        beat(harness)
    assert backlog(harness) == waiting
    before = len(arrivals(app))
    clock.advance(30)
    assert beat(harness).ok  # the backlog's oldest ten went through; the live event waits its turn
    assert len(arrivals(app)) - before == aibox_flow.RESENDS_PER_BEAT
    assert backlog(harness) == 3
    clock.advance(30)
    assert beat(harness).ok
    assert backlog(harness) == 0
    first = arrivals(app)[0]
    assert app.delivered(SERIAL) == set(range(first, first + waiting + 3))  # none lost, none skipped


def test_a_full_backlog_drops_its_oldest_event_and_says_so(
    platform: tuple[AiBoxSimulator, SimulatorServer],
    harness_factory: Any,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aibox_flow, "BACKLOG_LIMIT", 3)
    monkeypatch.setattr(aibox_flow, "RESENDS_PER_BEAT", 0)  # nothing drains: only the live event is sent
    app, server = platform
    harness = harness_factory(aibox_table(server.url))
    app.drop_acks(4)
    for _ in range(4):
        assert not beat(harness).ok
        clock.advance(30)
    ids = arrivals(app)
    assert backlog(harness) == 3
    dropped = harness.recorder.events_of("aibox.backlog_dropped")
    assert [event.data["event_ids"] for event in dropped] == [[ids[0]]]
    assert dropped[0].data["dropped_total"] == 1


def test_the_interval_is_adopted_from_the_ack_and_clamped(
    platform: tuple[AiBoxSimulator, SimulatorServer], harness_factory: Any, clock: FakeClock
) -> None:
    app, server = platform
    app.set_strategy(send="never")
    app.set_intervals(heartbeat_interval=120)
    harness = harness_factory(aibox_table(server.url))
    result = beat(harness)
    assert result.reply is not None and result.reply.next_interval == 120
    app.set_strategy(send="always")
    app.set_intervals(strategy_heartbeat_interval=1)
    clock.advance(120)
    result = beat(harness)
    assert result.reply is not None and result.reply.next_interval == 5
    assert any("clamped to 5 s" in note for note in result.reply.skipped)
    app.set_strategy(send="never")
    harness.restart()
    result = beat(harness)  # nothing new in the Ack's strategy: the adopted interval is kept
    assert result.reply is not None and result.reply.next_interval == 120  # info's field, no strategy


def test_a_new_strategy_is_kept_across_a_restart_and_announced_once(
    platform: tuple[AiBoxSimulator, SimulatorServer], harness_factory: Any, clock: FakeClock
) -> None:
    app, server = platform
    app.set_strategy(version="v2.0.0", isFallDetectEnable=False)
    harness = harness_factory(aibox_table(server.url))
    assert beat(harness).ok
    clock.advance(30)
    assert beat(harness).ok  # the same strategy again: nothing new to announce
    announced = harness.recorder.events_of("aibox.strategy")
    assert len(announced) == 1
    assert announced[0].data["endpoint"] == "box"
    assert announced[0].data["strategy"] == app.strategy
    assert announced[0].data["strategy"]["isFallDetectEnable"] is False

    harness.restart()
    stored = harness.store.state.get(state_namespace("box"), "strategy")
    assert stored == app.strategy
    assert beat(harness).ok
    assert len(harness.recorder.events_of("aibox.strategy")) == 1
    app.set_strategy(isFallDetectEnable=True)
    clock.advance(30)
    assert beat(harness).ok
    latest = harness.recorder.events_of("aibox.strategy")
    assert len(latest) == 2 and latest[1].data["strategy"]["isFallDetectEnable"] is True


def test_without_an_ip_no_live_event_is_made_but_the_backlog_is_still_resent(
    platform: tuple[AiBoxSimulator, SimulatorServer], harness_factory: Any, clock: FakeClock
) -> None:
    app, server = platform
    harness = harness_factory(aibox_table(server.url))
    app.drop_acks(1)
    assert not beat(harness).ok
    first_id = arrivals(app)[0]
    harness.snapshot = Snapshot(
        timestamp=clock.now(), mac="aa:bb:cc:dd:ee:ff", unavailable={"ip": "no route"}
    )
    clock.advance(30)
    result = beat(harness)
    assert not result.ok
    assert "no live heartbeat: the device has no IP (no route)" in str(result.error)
    assert arrivals(app) == [first_id, first_id]  # only the resend went out
    assert backlog(harness) == 0


def test_an_ack_that_is_not_json_is_a_clear_error_and_the_event_stays(
    platform: tuple[AiBoxSimulator, SimulatorServer], harness_factory: Any
) -> None:
    from edge_agent.simulators.base import Fault

    _, server = platform
    harness = harness_factory(aibox_table(server.url))
    server.inject(Fault("garbage", body=b'{"operator": "heartbeat-Ack", "info": {"eventId": 1 "x": 2}}'))
    result = beat(harness)
    assert not result.ok
    assert "not valid JSON: Expecting ',' delimiter" in str(result.error)
    assert backlog(harness) == 1
