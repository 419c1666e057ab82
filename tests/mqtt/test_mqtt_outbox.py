"""The durable outbox across broker restarts and outages, with the mirror running in this process.

Events are produced through ``MqttMirror.publish_event`` (the path the heartbeat engine and
the actions runner use) while the broker is killed and started again; a plain subscriber
says what arrived.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from mqtt_brokers import BrokerProcess
from mqtt_watch import Watcher
from net_gate import NetGate

from edge_agent.config import DeviceConfig, MqttConfig
from edge_agent.model import Event, Snapshot, SystemClock
from edge_agent.mqtt.mirror import MqttMirror
from edge_agent.store import Store

EVENTS = "edge/dev-r/events"
STATUS = "edge/dev-r/status"
STATE = "edge/dev-r/state"
CMD = "edge/dev-r/cmd"
CLOCK = SystemClock()


def make_mirror(store: Store, port: int) -> MqttMirror:
    config = MqttConfig(host="127.0.0.1", port=port, keepalive=5, reconnect_min=0.05, reconnect_max=0.3)
    return MqttMirror(
        config,
        device=DeviceConfig(id="dev-r"),
        store=store,
        clock=CLOCK,
        version="test",
        started=datetime.now(timezone.utc),
    )


class Producer:
    """Owes numbered events to the broker, one every few milliseconds, and remembers their ids."""

    def __init__(self, mirror: MqttMirror) -> None:
        self.mirror = mirror
        self.ids: list[str] = []

    async def produce(self, count: int, pause: float = 0.003) -> None:
        for _ in range(count):
            event = Event.new("test.tick", {"n": len(self.ids)}, CLOCK)
            self.mirror.publish_event(event)
            self.ids.append(event.id)
            await asyncio.sleep(pause)


async def until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def ticks(watcher: Watcher) -> list[str]:
    return [event["id"] for event in watcher.events(EVENTS, "test.tick")]


async def stop_mirror(mirror: MqttMirror, stop: asyncio.Event, runner: asyncio.Future[None]) -> None:
    stop.set()
    await runner
    await mirror.shutdown()


def test_a_broker_killed_and_restarted_loses_no_event_and_sends_none_twice(
    broker: BrokerProcess, tmp_path: Path, watch, gate
) -> None:
    network: NetGate = gate(broker.port)
    watcher: Watcher = watch(broker.port, [EVENTS, STATUS])
    store = Store(tmp_path / "agent.db")
    mirror = make_mirror(store, network.port)
    producer = Producer(mirror)

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.ensure_future(mirror.run(stop))
        await asyncio.to_thread(watcher.wait_last, STATUS, b"online")
        await producer.produce(60)
        await until(lambda: store.outbox.depth() == 0, "every event acknowledged")

        broker.kill()  # SIGKILL, with nothing in flight
        network.shut()
        await producer.produce(60)  # the broker is gone: these wait in the outbox
        assert store.outbox.depth() == 60

        await asyncio.to_thread(broker.start)
        await asyncio.to_thread(watcher.wait_subscribed, 2)
        network.open()  # the agent may reach the broker again only once the subscriber is back
        await producer.produce(60)  # while it reconnects and drains
        await asyncio.to_thread(
            watcher.wait_for, "every event", lambda seen: len(ticks(watcher)) >= len(producer.ids)
        )
        await until(lambda: store.outbox.depth() == 0, "the outbox drained")
        await stop_mirror(mirror, stop, runner)

    asyncio.run(scenario())
    assert ticks(watcher) == producer.ids  # all of them, in order, none twice
    store.close()


def test_after_a_broker_restart_the_device_is_online_again_with_only_its_latest_state_and_hears_commands(
    broker: BrokerProcess, tmp_path: Path, watch, gate
) -> None:
    network: NetGate = gate(broker.port)
    watcher: Watcher = watch(broker.port, ["edge/dev-r/#"])
    store = Store(tmp_path / "agent.db")
    mirror = make_mirror(store, network.port)

    def cpu(percent: float) -> Snapshot:
        return Snapshot(timestamp=datetime.now(timezone.utc), cpu_percent=percent)

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.ensure_future(mirror.run(stop))
        mirror.set_snapshot(cpu(10.0))
        await asyncio.to_thread(watcher.wait_last, "edge/dev-r/metrics/cpu_percent", b"10.0")

        broker.kill()  # its retained messages die with it (no persistence)
        network.shut()
        mirror.set_snapshot(cpu(20.0))  # offline: only the latest may be sent later
        mirror.set_snapshot(cpu(30.0))
        await asyncio.to_thread(broker.start)
        await asyncio.to_thread(watcher.wait_subscribed, 2)
        seen_before = len(watcher.seen)
        network.open()
        # The watcher still holds the ``online`` from before the kill (a killed broker sends
        # no will), so wait for one sent on the new connection; it is the last thing sent.
        await asyncio.to_thread(
            watcher.wait_for,
            "online on the new connection",
            lambda seen: any(m.topic == STATUS and m.payload == b"online" for m in seen[seen_before:]),
        )
        await asyncio.to_thread(watcher.wait_last, "edge/dev-r/metrics/cpu_percent", b"30.0")

        late = await asyncio.to_thread(watch, broker.port, ["edge/dev-r/#"])
        state = await asyncio.to_thread(late.wait_retained, STATE)
        assert state.json()["cpu_percent"] == 30.0
        assert (await asyncio.to_thread(late.wait_retained, STATUS)).payload == b"online"
        late.publish(CMD, b'{"id": "after-restart", "type": "MESSAGE"}')  # re-subscribed?
        await asyncio.to_thread(
            watcher.wait_for, "the command's receipt", lambda s: watcher.events(EVENTS, "command.received")
        )
        after = [m.payload for m in watcher.seen[seen_before:] if m.topic == "edge/dev-r/metrics/cpu_percent"]
        assert b"20.0" not in after
        await stop_mirror(mirror, stop, runner)

    asyncio.run(scenario())
    store.close()


def test_a_broker_killed_mid_stream_loses_nothing_and_repeats_only_what_was_in_flight(
    mosquitto_only, tmp_path: Path, watch, gate
) -> None:
    """QoS 1 honestly: an event the broker had but whose PUBACK died with it is sent again.

    mosquitto only: amqtt acknowledges a message before it forwards it, so a kill between
    the two loses it on the broker's side, whatever the publisher does.
    """
    broker = mosquitto_only()
    network: NetGate = gate(broker.port)
    watcher: Watcher = watch(broker.port, [EVENTS, STATUS])
    store = Store(tmp_path / "agent.db")
    mirror = make_mirror(store, network.port)
    producer = Producer(mirror)

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.ensure_future(mirror.run(stop))
        await asyncio.to_thread(watcher.wait_last, STATUS, b"online")
        producing = asyncio.ensure_future(producer.produce(300, pause=0.002))
        await until(lambda: len(producer.ids) >= 100, "a hundred events produced")
        broker.kill()
        network.shut()
        await asyncio.to_thread(broker.start)
        await asyncio.to_thread(watcher.wait_subscribed, 2)
        network.open()
        await producing
        await asyncio.to_thread(
            watcher.wait_for, "every event", lambda seen: set(ticks(watcher)) >= set(producer.ids)
        )
        await stop_mirror(mirror, stop, runner)

    asyncio.run(scenario())
    seen = ticks(watcher)
    first_arrivals = list(dict.fromkeys(seen))
    assert first_arrivals == producer.ids
    assert len(seen) - len(first_arrivals) <= mirror.drain.window
    store.close()


def test_a_full_outbox_drops_the_oldest_and_says_how_many_when_back(
    broker: BrokerProcess, tmp_path: Path, watch, gate
) -> None:
    network: NetGate = gate(broker.port)
    network.shut()
    watcher: Watcher = watch(broker.port, [EVENTS])
    store = Store(tmp_path / "agent.db", outbox_max=10)
    mirror = make_mirror(store, network.port)
    producer = Producer(mirror)

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.ensure_future(mirror.run(stop))
        await producer.produce(15)  # offline: five too many
        network.open()
        await asyncio.to_thread(watcher.wait_for, "the ten newest", lambda seen: len(ticks(watcher)) >= 10)
        await stop_mirror(mirror, stop, runner)

    asyncio.run(scenario())
    assert ticks(watcher) == producer.ids[5:]
    warnings = watcher.events(EVENTS, "outbox.dropped")
    assert [(w["dropped"], w["dropped_total"], w["outbox_max"]) for w in warnings] == [(5, 5, 10)]
    kinds = [event["type"] for event in watcher.events(EVENTS)]
    assert kinds[0] == "outbox.dropped"  # said before the survivors arrive
    store.close()


def test_a_drop_reported_once_is_not_reported_again_after_a_restart(
    broker: BrokerProcess, tmp_path: Path, watch
) -> None:
    watcher: Watcher = watch(broker.port, [EVENTS])
    path = tmp_path / "agent.db"
    store = Store(path, outbox_max=10)
    for n in range(12):  # an earlier run, offline, owed more than fits
        store.outbox.add(EVENTS, b'{"type": "old", "n": %d}' % n)
    store.close()

    async def run_once(marker: str) -> None:
        store = Store(path, outbox_max=10)
        mirror = make_mirror(store, broker.port)
        stop = asyncio.Event()
        runner = asyncio.ensure_future(mirror.run(stop))
        mirror.publish_event(Event.new(marker, {}, CLOCK))
        await asyncio.to_thread(watcher.wait_for, marker, lambda seen: watcher.events(EVENTS, marker))
        await stop_mirror(mirror, stop, runner)
        store.close()

    asyncio.run(run_once("test.first"))
    asyncio.run(run_once("test.second"))
    # the first marker, owed to a full outbox, pushed out a third old event
    assert [w["dropped"] for w in watcher.events(EVENTS, "outbox.dropped")] == [3]
    assert [e["n"] for e in watcher.events(EVENTS, "old")] == list(range(3, 12))
