"""MQTT benchmark: event throughput through the durable outbox, and how fast a backlog drains.

Starts its own mosquitto on 127.0.0.1 and a free port, runs the agent's MQTT mirror in
this process with a store in a temporary folder, and prints:

* publish throughput: events/s from ``publish_event`` (a durable SQLite write each) to
  the broker's PUBACK (the entry forgotten), measured over ``--events`` events;
* drain time: how long a ``--backlog`` of events owed while the broker was unreachable
  takes to reach the broker after the connection comes up.

Usage: ``.venv/bin/python bench/mqtt_bench.py [--events 5000] [--backlog 10000]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from edge_agent.config import DeviceConfig, MqttConfig
from edge_agent.demo.world import free_port
from edge_agent.model import Event, SystemClock
from edge_agent.mqtt.mirror import MqttMirror
from edge_agent.store import Store

MOSQUITTO = os.environ.get("MOSQUITTO", "/usr/sbin/mosquitto")
CLOCK = SystemClock()


def start_mosquitto(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return broker
        except OSError:
            time.sleep(0.01)
    broker.kill()
    raise SystemExit("mosquitto did not start")


def make_mirror(store: Store, port: int) -> MqttMirror:
    config = MqttConfig(host="127.0.0.1", port=port, reconnect_min=0.05, reconnect_max=0.2)
    return MqttMirror(
        config,
        device=DeviceConfig(id="bench"),
        store=store,
        clock=CLOCK,
        version="bench",
        started=datetime.now(timezone.utc),
    )


async def wait_until(condition, timeout: float = 600.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        await asyncio.sleep(0.001)


async def throughput(workdir: Path, port: int, count: int) -> tuple[float, float]:
    """(events/s end to end, mean seconds per durable publish_event call)."""
    store = Store(workdir / "throughput.db", outbox_max=max(10000, count))
    mirror = make_mirror(store, port)
    stop = asyncio.Event()
    runner = asyncio.ensure_future(mirror.run(stop))
    await wait_until(lambda: mirror.connected)
    await wait_until(lambda: store.outbox.depth() == 0)
    spent_in_calls = 0.0
    start = time.perf_counter()
    for n in range(count):
        before = time.perf_counter()
        mirror.publish_event(Event.new("bench.tick", {"n": n}, CLOCK))
        spent_in_calls += time.perf_counter() - before
        if n % 50 == 0:
            await asyncio.sleep(0)  # let the drain run, as a real producer would
    await wait_until(lambda: store.outbox.depth() == 0)
    elapsed = time.perf_counter() - start
    stop.set()
    await runner
    await mirror.shutdown()
    store.close()
    return count / elapsed, spent_in_calls / count


async def drain_time(workdir: Path, port: int, backlog: int) -> float:
    """Seconds from the connection coming up to a ``backlog`` owed offline being acknowledged."""
    store = Store(workdir / "drain.db", outbox_max=backlog)
    mirror = make_mirror(store, port)
    for n in range(backlog):
        mirror.publish_event(Event.new("bench.tick", {"n": n}, CLOCK))
    assert store.outbox.depth() == backlog
    stop = asyncio.Event()
    runner = asyncio.ensure_future(mirror.run(stop))
    await wait_until(lambda: mirror.connected)
    start = time.perf_counter()
    await wait_until(lambda: store.outbox.depth() == 0)
    elapsed = time.perf_counter() - start
    stop.set()
    await runner
    await mirror.shutdown()
    store.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--backlog", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mqtt-bench-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        broker = start_mosquitto(workdir, port)
        try:
            rate, per_call = asyncio.run(throughput(workdir, port, args.events))
            drained = asyncio.run(drain_time(workdir, port, args.backlog))
        finally:
            broker.kill()
            broker.wait()
    print(f"publish throughput: {rate:,.0f} events/s through the outbox to PUBACK ({args.events} events)")
    print(f"durable publish_event call: {per_call * 1000:.2f} ms each (SQLite WAL, synchronous=FULL)")
    per_second = args.backlog / drained
    print(f"outbox drain: {args.backlog} events in {drained:.2f} s after reconnect ({per_second:,.0f}/s)")


if __name__ == "__main__":
    main()
