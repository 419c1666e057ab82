"""Many devices against one broker: N simulated agents in ONE process, on one asyncio loop.

    .venv/bin/python bench/fleet.py --devices 100,500,1000,2000 --interval 10 --window 30

Each N runs in a fresh child process (so memory per device is that process's growth):
mosquitto on a free port, the Telecom X and PubNub simulators in their own process
(bench/fleet_sims.py), a latency probe in another (bench/fleet_probe.py), a live
``edge-agent watch --json`` in another, and the N devices (bench/fleet_world.py: the
real agent as ``build_agent`` makes it, a shared snapshot source) started evenly over
one interval. After one more interval of settling it measures for ``--window`` seconds:

* MQTT messages/s the devices published (counted by a subscriber to ``fleet/#``), and
  vendor heartbeats/s the simulators answered;
* broker round trip (the probe's own messages) and fleet-to-subscriber delay (a message
  published from the devices' loop to the probe), p50/p99/max;
* how late the loop wakes (lag p99/max): a loop that cannot keep up shows it here first;
* CPU (% of one core) of the fleet, mosquitto, the simulators and watch; memory per
  device (the fleet process's RSS growth / N);
* whether ``edge-agent watch`` keeps up: every device current (its newest heartbeat
  within two intervals) in the live view, and in ``--once --json`` at the end.

``FLEET_PROFILE=file`` profiles the fleet process (cProfile) during the window.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fleet_watch import LiveWatch, watch_once
from fleet_world import (
    SharedSnapshots,
    Simulators,
    build_device,
    cpu_seconds,
    device_config,
    raise_fd_limit,
    rss_kb,
    start_mosquitto,
)

from edge_agent.agent import Agent
from edge_agent.config import Config
from edge_agent.mqtt.bridge import MqttBridge

HERE = Path(__file__).resolve().parent
PROFILE_ENV = "FLEET_PROFILE"
"""A file name: cProfile the fleet process during the measuring window and write the stats there."""


class Probe:
    """bench/fleet_probe.py as a child process; ``report()`` gives the delays since the last call."""

    def __init__(self, port: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "fleet_probe.py"), "--port", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.process.stdout.readline()

    def report(self) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("report\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


class GcTime:
    """Seconds the collector ran (gc.callbacks), per window: with thousands of devices' objects
    alive, a full collection walks all of them."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.runs = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._started
            self.runs[info["generation"]] += 1

    def take(self) -> dict[str, Any]:
        taken = {"seconds": [round(s, 2) for s in self.seconds], "runs": self.runs}
        self.seconds, self.runs = [0.0, 0.0, 0.0], [0, 0, 0]
        return taken


class LoopLag:
    """How much later than asked the loop wakes a 100 ms sleeper."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            asked = loop.time()
            await asyncio.sleep(0.1)
            self.samples.append(loop.time() - asked - 0.1)

    def take(self) -> dict[str, float]:
        ordered, self.samples = sorted(self.samples), []
        if not ordered:
            return {}
        p99 = ordered[int(0.99 * (len(ordered) - 1))]
        return {"p99_ms": round(p99 * 1000, 1), "max_ms": round(ordered[-1] * 1000, 1)}


async def publish_send_times(port: int, stop: asyncio.Event) -> None:
    """From the devices' loop, our send time on bench/probe/fleet every 0.2 s (the probe times it)."""
    bridge = MqttBridge(host="127.0.0.1", port=port, client_id="bench-fleet-loop")
    await bridge.connect()
    try:
        while not stop.is_set():
            bridge.publish("bench/probe/fleet", repr(time.time()).encode(), qos=1)
            await asyncio.sleep(0.2)
    finally:
        await bridge.disconnect()


async def until(condition: Any, timeout: float) -> float:
    started = time.monotonic()
    while not condition() and time.monotonic() - started < timeout:
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def run_fleet(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    n, interval, window = args.one, args.interval, args.window
    mosquitto, port = start_mosquitto(workdir)
    sims = Simulators(telecomx_devices=(n + 1) // 2)
    probe = Probe(port)
    snapshots = SharedSnapshots(
        Config.model_validate({"metrics": {"interval": interval}}), min(5.0, interval / 2)
    )
    snapshots.collect()  # the first CPU sample takes 0.2 s; not the devices' cost
    stop = asyncio.Event()
    lag = LoopLag()
    gc_time = GcTime()
    helpers = [asyncio.ensure_future(lag.run(stop)), asyncio.ensure_future(publish_send_times(port, stop))]
    rss_before = rss_kb()
    started = time.monotonic()
    agents: list[Agent] = [
        build_device(device_config(i, workdir, port, interval, sims), snapshots) for i in range(n)
    ]
    build_s = time.monotonic() - started
    # Each device its own stop event, as each agent process has: thousands of waiters on one
    # event would make every cancelled wait O(N), a cost no single agent has.
    stops = [asyncio.Event() for _ in agents]
    tasks = []
    first = time.monotonic()
    for index, (agent, own_stop) in enumerate(zip(agents, stops)):  # evenly over one interval
        tasks.append(asyncio.ensure_future(agent.run(own_stop)))  # (a fleet is not in step)
        # By the clock, not by sleeps: a loop running late starts the overdue devices at once.
        await asyncio.sleep(max(0.0, first + (index + 1) * interval / n - time.monotonic()))
    connected_s = await until(lambda: all(a.publisher.connected for a in agents), 60)
    if args.gc_freeze:
        gc.freeze()  # the devices' long-lived objects: out of every later full collection
    live = LiveWatch(port)
    await asyncio.sleep(interval)  # every device has beaten once; watch has had its start-up burst
    if args.gc_freeze:
        gc.freeze()  # and what the first beats made to last (HTTP clients, connections)

    pids = {"fleet": os.getpid(), "mosquitto": mosquitto.pid, "simulators": sims.process.pid}
    pids["watch"] = live.process.pid
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    counts_before, probe_before = sims.counts(), probe.report()
    lag.take()
    gc_time.take()
    live.reset_lags()
    profile = cProfile.Profile() if os.environ.get(PROFILE_ENV) else None
    began = time.monotonic()
    if profile is not None:
        profile.enable()
    await asyncio.sleep(window)
    if profile is not None:
        profile.disable()
        profile.dump_stats(os.environ[PROFILE_ENV])
    elapsed = time.monotonic() - began
    counts_after, probe_after = sims.counts(), probe.report()
    cpu = {name: round(100 * (cpu_seconds(pid) - cpu_before[name]) / elapsed) for name, pid in pids.items()}
    loop_lag = lag.take()
    gc_seconds = gc_time.take()
    live_view = live.summary(n, interval)
    rss_after = rss_kb()
    once = await asyncio.get_running_loop().run_in_executor(None, watch_once, port, n, interval, 5.0)
    still_connected = sum(1 for a in agents if a.publisher.connected)
    owed = sum(a.store.outbox.depth() for a in agents)

    stopping = time.monotonic()
    stop.set()
    for own_stop in stops:
        own_stop.set()
    await asyncio.wait(tasks + helpers, timeout=60)
    stop_s = time.monotonic() - stopping
    live.close()
    probe.close()
    sims.close()
    mosquitto.terminate()
    mosquitto.wait(timeout=10)

    beats = sum(counts_after[v]["answered"] - counts_before[v]["answered"] for v in counts_after)
    failed = sum(counts_after[v]["failed"] - counts_before[v]["failed"] for v in counts_after)
    result: dict[str, Any] = {"devices": n, "interval_s": interval, "window_s": round(elapsed, 1)}
    result.update(build_s=round(build_s, 1), all_connected_s=round(connected_s, 1), stop_s=round(stop_s, 1))
    result.update(connected_at_end=still_connected, outbox_owed_at_end=owed)
    result["mqtt_per_s"] = round((probe_after["fleet_messages"] - probe_before["fleet_messages"]) / elapsed)
    result.update(
        heartbeats_per_s=round(beats / elapsed, 1), heartbeats_expected_per_s=round(n / interval, 1)
    )
    result["heartbeats_failed"] = failed
    result.update(
        broker_rtt=probe_after["broker_rtt"], fleet_to_subscriber=probe_after["fleet_to_subscriber"]
    )
    result.update(
        loop_lag=loop_lag, gc=gc_seconds, gc_percent=round(100 * sum(gc_seconds["seconds"]) / elapsed)
    )
    result.update(cpu_percent=cpu, rss_kb_per_device=round((rss_after - rss_before) / n, 1))
    result.update(
        rss_mb_total=round(rss_after / 1024), snapshot_reads=snapshots.reads, gc_freeze=args.gc_freeze
    )
    result.update(watch_live=live_view, watch_once=once)
    return result


def run_one(args: argparse.Namespace) -> int:
    raise_fd_limit()
    with tempfile.TemporaryDirectory(prefix="edge-agent-fleet-") as tmp:
        workdir = Path(tmp)
        logging.basicConfig(level=logging.WARNING, filename=str(workdir / "fleet.log"))
        result = asyncio.run(run_fleet(args, workdir))
        log_lines = (workdir / "fleet.log").read_text(errors="replace").splitlines()
        result["log_warnings"] = len(log_lines)
        result["log_sample"] = log_lines[:3]
    print(json.dumps(result), flush=True)
    return 0


def row(result: dict[str, Any]) -> list[str]:
    cpu = result["cpu_percent"]
    live, once = result["watch_live"], result["watch_once"]
    return [
        str(result["devices"]),
        f"{result['mqtt_per_s']:,}",
        f"{result['heartbeats_per_s']:g} / {result['heartbeats_expected_per_s']:g}",
        f"{result['broker_rtt'].get('p50_ms')} / {result['broker_rtt'].get('p99_ms')}",
        f"{result['fleet_to_subscriber'].get('p50_ms')} / {result['fleet_to_subscriber'].get('p99_ms')}",
        f"{result['loop_lag'].get('p99_ms')} / {result['loop_lag'].get('max_ms')}",
        f"{cpu['fleet']} ({result['gc_percent']}) / {cpu['mosquitto']} / {cpu['simulators']} / "
        f"{cpu['watch']}",
        f"{result['rss_kb_per_device']:g}",
        f"{live['current']}/{result['devices']} (stalest {live['stalest_s']} s)",
        f"{once.get('current', '-')}/{result['devices']}",
    ]


HEADER = [
    "devices",
    "MQTT msg/s from devices",
    "heartbeats/s done / due",
    "broker RTT p50 / p99 ms",
    "fleet→subscriber p50 / p99 ms",
    "loop lag p99 / max ms",
    "CPU % fleet (GC) / broker / sims / watch",
    "KB per device",
    "watch live: current",
    "watch --once: current",
]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="100,500,1000,2000", help="comma-separated N to try")
    parser.add_argument("--interval", type=float, default=10.0, help="metrics and heartbeat interval (s)")
    parser.add_argument("--window", type=float, default=30.0, help="measuring window (s)")
    parser.add_argument("--json", action="store_true", help="also print each N's full result as JSON")
    parser.add_argument(
        "--no-gc-freeze",
        dest="gc_freeze",
        action="store_false",
        help="do not gc.freeze() the devices once started (full collections then walk them all)",
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process for one N
    args = parser.parse_args(argv)
    if args.one:
        return run_one(args)
    print("| " + " | ".join(HEADER) + " |\n|" + "---|" * len(HEADER), flush=True)
    for n in [int(text) for text in args.devices.split(",")]:
        child = [sys.executable, __file__, "--one", str(n), "--interval", str(args.interval)]
        child += ["--window", str(args.window), *([] if args.gc_freeze else ["--no-gc-freeze"])]
        done = subprocess.run(child, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"| {n} | failed: {done.stderr.strip().splitlines()[-1:]} |", flush=True)
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print("| " + " | ".join(row(result)) + " |", flush=True)
        if args.json:
            print(json.dumps(result), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
