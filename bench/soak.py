"""Soak: the full agent for a chosen time, and what it cost and delivered, sampled as it goes.

Starts a private mosquitto and every registered vendor's simulator, and runs
``python -m edge_agent run`` with a 1-second metric interval and every vendor
(every ``--heartbeat-interval`` seconds; the AI-box platform asks for at least 5 s).
Meanwhile the PBX pushes a numbered event report every ``--report-every`` seconds
(each, once answered 200, owed to the broker) and Telecom X queues a MESSAGE action
every minute. Every ``--sample`` seconds it prints the agent's resident memory
(VmRSS), CPU seconds used (utime + stime) and their rate per hour since the last
sample, the messages a plain subscriber has received from the agent, and the outbox
depth that ``edge-agent status --json`` reports. At the end: owed versus received
(reports and actions), memory growth, and CPU seconds per hour over the whole run.

Usage: ``.venv/bin/python bench/soak.py [--minutes 10] [--sample 30] [--heartbeat-interval 5]
[--agent-src DIR]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

from agent_rig import (
    SELECTED,
    Measured,
    Mosquitto,
    Simulators,
    Subscriber,
    agent_config,
    outbox_depth,
    start_agent,
    wait_for,
)

DEVICE = "soak"
Sample = tuple[float, float, float, float, int, Optional[int]]
"""t (s), RSS MB, CPU s so far, CPU s/hour since the last sample, messages received, outbox depth."""


class Traffic:
    """The PBX's numbered reports and Telecom X's actions, until stopped."""

    def __init__(self, sims: Simulators, report_every: float) -> None:
        self.pbx = sims.apps["yeastar"]
        self.telecomx = sims.apps["telecomx"]
        self.token = sims.credentials["telecomx"]["token"]
        self.report_every = report_every
        self.delivered: list[int] = []
        self.actions_queued = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        seq = 0
        next_action = time.monotonic()
        while not self._stop.wait(self.report_every):
            if time.monotonic() >= next_action:
                self.telecomx.queue_action(
                    self.token, {"type": "MESSAGE", "message": f"soak {self.actions_queued}"}
                )
                self.actions_queued += 1
                next_action += 60
            self.pbx.push_report({"action": "NewCdr", "seq": seq}, attempts=100, interval=0.1)
            if self.pbx.wait_reports_delivered(timeout=30):
                self.delivered.append(seq)
            seq += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples (default 30)")
    parser.add_argument("--heartbeat-interval", type=int, default=5, help="every vendor, seconds (default 5)")
    parser.add_argument("--report-every", type=float, default=2.0, help="PBX report every N s (default 2)")
    parser.add_argument(
        "--agent-src", type=Path, help="run the edge_agent package found in this folder (an older checkout)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir)
        sims = Simulators(args.heartbeat_interval)
        every = args.heartbeat_interval
        config = agent_config(
            workdir, broker.port, device_id=DEVICE, metrics_interval=1, sims=sims, heartbeat_interval=every
        )
        watcher = Subscriber(broker.port, [f"edge/{DEVICE}/#"])
        watcher.keep_payloads_of = ("/pbx/pbx", "/events")
        src = args.agent_src.resolve() if args.agent_src else None
        agent = start_agent(config, workdir / "agent.log", src=src)
        traffic = None
        try:
            wait_for("the first state", lambda: f"edge/{DEVICE}/state" in watcher.first_seen)
            traffic = Traffic(sims, args.report_every)
            samples = soak(agent, watcher, config, args)
            traffic.stop()
            settled = settle(watcher, traffic)
            depth = outbox_depth(config)
            alive = agent.alive()
        finally:
            if traffic is not None:
                traffic.stop()
            agent.stop()
            watcher.close()
            sims.close()
            broker.stop()
    summarise(args, samples, settled, depth, alive)


def soak(agent: Measured, watcher: Subscriber, config: Path, args: argparse.Namespace) -> list[Sample]:
    """Sample until ``--minutes`` are over: (t, RSS MB, CPU s, CPU s/h since last, messages, outbox)."""
    print(f"{'t (s)':>7} {'RSS MB':>7} {'CPU s':>7} {'CPU s/h':>8} {'messages':>9} {'outbox':>7}")
    samples: list[Sample] = []
    started = time.monotonic()
    last_t, last_cpu = 0.0, agent.cpu_s()
    while True:
        now = time.monotonic() - started
        cpu = agent.cpu_s()
        rate = (cpu - last_cpu) * 3600 / (now - last_t) if now > last_t else 0.0
        row = (now, agent.rss_mb(), cpu, rate, watcher.total(), outbox_depth(config))
        samples.append(row)
        print(
            f"{row[0]:7.0f} {row[1]:7.1f} {row[2]:7.2f} {row[3]:8.1f} {row[4]:9d} {row[5]!s:>7}", flush=True
        )
        last_t, last_cpu = now, cpu
        if now >= args.minutes * 60 or not agent.alive():
            return samples
        time.sleep(min(args.sample, max(0.0, args.minutes * 60 - now)))


def settle(watcher: Subscriber, traffic: Traffic) -> dict[str, int]:
    """Owed versus received, after giving the last owed messages 30 s to arrive."""

    def received() -> tuple[set[int], int]:
        payloads = list(watcher.payloads)
        seqs = {json.loads(p)["seq"] for topic, p in payloads if topic.endswith("/pbx/pbx")}
        succeeded = sum(
            1
            for topic, p in payloads
            if topic.endswith("/events") and json.loads(p)["type"] == "action.succeeded"
        )
        return seqs, succeeded

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        seqs, succeeded = received()
        if set(traffic.delivered) <= seqs and succeeded >= traffic.actions_queued + 1:
            break
        time.sleep(0.5)
    seqs, succeeded = received()
    return {
        "reports owed": len(traffic.delivered),
        "reports lost": len(set(traffic.delivered) - seqs),
        "actions queued": traffic.actions_queued + 1,  # and the simulator's welcome message
        "actions not reported done": max(0, traffic.actions_queued + 1 - succeeded),
        "messages received": watcher.total(),
    }


def summarise(
    args: argparse.Namespace,
    samples: list[Sample],
    settled: dict[str, int],
    depth: Optional[int],
    alive: bool,
) -> None:
    first, last = samples[0], samples[-1]
    peak = max(row[1] for row in samples)
    duration = last[0] - first[0]
    cpu_per_hour = (last[2] - first[2]) * 3600 / duration if duration else 0.0
    received = settled["messages received"]
    print(
        f"\nsoak: {duration / 60:.1f} min, metrics every 1 s,",
        f"{len(SELECTED)} vendors every {args.heartbeat_interval} s,",
        f"a PBX report every {args.report_every:g} s, a Telecom X action a minute",
    )
    growth = last[1] - first[1]
    print(f"RSS: {first[1]:.1f} MB at start, {last[1]:.1f} MB at end, {peak:.1f} MB peak ({growth:+.1f} MB)")
    warm = next((row for row in samples if row[0] >= 60), None)
    if warm is not None and warm is not last:
        hours = (last[0] - warm[0]) / 3600
        pace = (last[1] - warm[1]) / hours
        print(
            f"RSS after the first minute (imports, caches, connections warm): {warm[1]:.1f} ->",
            f"{last[1]:.1f} MB ({pace:+.1f} MB per hour at that pace)",
        )
    print(f"CPU: {cpu_per_hour:.1f} s per hour ({cpu_per_hour / 36:.2f}% of one core)")
    print(f"messages sent (received by a subscriber): {received} ({received / max(duration, 1):.1f}/s)")
    print(
        f"owed and lost: {settled['reports owed']} reports, {settled['reports lost']} lost;",
        f"{settled['actions queued']} actions, {settled['actions not reported done']} not reported done",
    )
    print(f"outbox depth at the end: {depth}; agent still running at the end: {alive}")


if __name__ == "__main__":
    main()
