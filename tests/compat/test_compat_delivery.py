"""On every broker engine: events survive an outage through the outbox, and a reconnect restores the device.

The mirror runs in this process (the path the heartbeat engine and the action runner use)
and reaches the broker through a NetGate. The outage is the broker killed and started
again where the test owns it (mosquitto, amqtt, nats-server, whose JetStream store
survives the restart); RabbitMQ is the machine's shared node, so there the outage is
the agent's connection cut and refused at the gate, and the broker keeps running.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pytest
from mqtt_watch import Watcher
from net_gate import NetGate

from edge_agent.config import DeviceConfig, MqttConfig
from edge_agent.model import Event, Snapshot, SystemClock
from edge_agent.mqtt.mirror import MqttMirror
from edge_agent.store import Store

CLOCK = SystemClock()
DEVICE = "dev-r"


def make_mirror(store: Store, port: int, prefix: str) -> MqttMirror:
    config = MqttConfig(
        host="127.0.0.1", port=port, topic_prefix=prefix, keepalive=5, reconnect_min=0.05, reconnect_max=0.3
    )
    return MqttMirror(
        config,
        device=DeviceConfig(id=DEVICE),
        store=store,
        clock=CLOCK,
        version="compat",
        started=datetime.now(timezone.utc),
    )


async def until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def outage(engine, network: NetGate) -> None:
    """The broker goes away for the agent: killed where the test owns it, cut off at the gate always."""
    network.shut()
    await asyncio.to_thread(engine.outage)


SHARED_OUTAGE = "the outage was the agent's connection cut at the network; the shared node kept running"


async def recovery(engine, network: NetGate, watchers: list[Watcher]) -> None:
    """The broker is back; the agent may reach it only once every subscriber is subscribed again."""
    await asyncio.to_thread(engine.recover)
    if engine.restartable:
        for watcher in watchers:
            await asyncio.to_thread(watcher.wait_subscribed, 2)
    network.open()


@pytest.mark.compat("events_outbox")
def test_events_owed_across_an_outage_all_arrive_in_order_and_once(
    engine, compat, prefix: str, tmp_path: Path, watch, gate
) -> None:
    events, status = f"{prefix}/{DEVICE}/events", f"{prefix}/{DEVICE}/status"
    network: NetGate = gate(engine.port)
    watcher: Watcher = watch(engine.port, [events, status])
    store = Store(tmp_path / "agent.db")
    mirror = make_mirror(store, network.port, prefix)
    sent: list[str] = []
    if not engine.restartable:
        compat.note("events_outbox", SHARED_OUTAGE)

    async def produce(count: int) -> None:
        for _ in range(count):
            event = Event.new("compat.tick", {"n": len(sent)}, CLOCK)
            mirror.publish_event(event)
            sent.append(event.id)
            await asyncio.sleep(0.003)

    def ticks() -> list[str]:
        return [event["id"] for event in watcher.events(events, "compat.tick")]

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.ensure_future(mirror.run(stop))
        await asyncio.to_thread(watcher.wait_last, status, b"online")
        await produce(30)
        await until(lambda: store.outbox.depth() == 0, "every event acknowledged")

        await outage(engine, network)
        await produce(30)  # nobody to take them: they wait in the outbox
        assert store.outbox.depth() == 30

        await recovery(engine, network, [watcher])
        await produce(30)  # while the agent reconnects and drains
        await asyncio.to_thread(watcher.wait_for, "every event", lambda seen: len(ticks()) >= len(sent))
        await until(lambda: store.outbox.depth() == 0, "the outbox drained")
        stop.set()
        await runner
        await mirror.shutdown()

    asyncio.run(scenario())
    store.close()
    assert ticks() == sent  # all of them, in order, none twice


@pytest.mark.compat("reconnect")
def test_after_an_outage_the_device_is_online_with_only_its_latest_state_and_hears_commands(
    engine, compat, prefix: str, tmp_path: Path, watch, gate
) -> None:
    base = f"{prefix}/{DEVICE}"
    status, state, events = f"{base}/status", f"{base}/state", f"{base}/events"
    cpu = f"{base}/metrics/cpu_percent"
    network: NetGate = gate(engine.port)
    watcher: Watcher = watch(engine.port, [status, state, events, cpu])
    store = Store(tmp_path / "agent.db")
    mirror = make_mirror(store, network.port, prefix)
    if not engine.restartable:
        compat.note("reconnect", SHARED_OUTAGE)

    def snapshot(percent: float) -> Snapshot:
        return Snapshot(timestamp=datetime.now(timezone.utc), cpu_percent=percent)

    async def scenario() -> None:
        stop = asyncio.Event()
        runner = asyncio.ensure_future(mirror.run(stop))
        mirror.set_snapshot(snapshot(10.0))
        await asyncio.to_thread(watcher.wait_last, cpu, b"10.0")

        await outage(engine, network)
        mirror.set_snapshot(snapshot(20.0))  # offline: only the latest may be sent later
        mirror.set_snapshot(snapshot(30.0))
        seen_before = len(watcher.seen)
        await recovery(engine, network, [watcher])
        await asyncio.to_thread(watcher.wait_last, cpu, b"30.0")
        await asyncio.to_thread(  # not the online still held from before the outage
            watcher.wait_for,
            "online on the new connection",
            lambda seen: any(m.topic == status and m.payload == b"online" for m in seen[seen_before:]),
        )

        late = await asyncio.to_thread(watch, engine.port, [state, status])
        retained = await asyncio.to_thread(late.wait_retained, state)
        assert retained.json()["cpu_percent"] == 30.0
        late.publish(f"{base}/cmd", b'{"id": "after-outage", "type": "MESSAGE"}')  # subscribed again?
        await asyncio.to_thread(
            watcher.wait_for, "the command's receipt", lambda s: watcher.events(events, "command.received")
        )
        after = [m.payload for m in watcher.seen[seen_before:] if m.topic == cpu]
        assert b"20.0" not in after
        stop.set()
        await runner
        await mirror.shutdown()

    asyncio.run(scenario())
    store.close()
