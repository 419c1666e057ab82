"""The whole agent's cost, measured from the outside, beside peer agents from PyPI in the same run.

Starts a private mosquitto and the five vendor simulators, then prints:

* cold start: from spawning ``python -m edge_agent run`` (all five vendors and MQTT on)
  to its first retained ``<prefix>/<id>/state`` on the broker, median of
  ``--cold-starts`` runs; for each peer, from spawning it to its first message;
* steady state, every process started together and measured over the same
  ``--minutes`` after a warm-up: resident memory (VmRSS, median and max of samples
  every 10 s) and CPU seconds (utime + stime from ``/proc/<pid>/stat``) over the window,
  extrapolated to an hour, at one ``--interval`` (metrics, and every vendor heartbeat)
  for: edge-agent with all five vendors and MQTT, edge-agent with MQTT only, and each
  peer publishing the same metric families at the same interval;
* the ratio of each peer's figures to edge-agent's.

Usage: ``.venv/bin/python bench/agent_bench.py [--minutes 5] [--interval 10] [--cold-starts 5]
[--no-peers] [--peer-dir ~/.cache/edge-agent-bench]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Optional

from agent_rig import Measured, Mosquitto, Simulators, Subscriber, agent_config, start_agent, wait_for
from peers import PACKAGES, first_topic, prepare, start_peer

SAMPLE_EVERY_S = 10.0
NOT_METRICS = ("/availability", "/status", "/version")  # a peer's "I am here", sent at connect


def cold_starts(workdir: Path, broker: Mosquitto, sims: Simulators, runs: int) -> list[float]:
    """Seconds from spawn to the first retained state of edge-agent, one per run."""
    times = []
    for run in range(runs):
        device = f"cold-{run}"
        config = agent_config(workdir, broker.port, device_id=device, metrics_interval=10, sims=sims)
        watcher = Subscriber(broker.port, [f"edge/{device}/state"])
        agent = start_agent(config, workdir / f"{device}.log")
        try:
            wait_for("the first state", lambda w=watcher, d=device: f"edge/{d}/state" in w.first_seen)
            times.append(watcher.first_seen[f"edge/{device}/state"] - agent.started)
        finally:
            agent.stop()
            watcher.close()
    return times


def peer_cold_start(
    name: str, bin_dir: Path, workdir: Path, broker: Mosquitto, interval: int, run: int
) -> float:
    """Seconds from spawning peer ``name`` to its first metric message (not its "online")."""
    tag = f"-cold{run}"
    watcher = Subscriber(broker.port, [first_topic(name, tag)])
    peer = start_peer(name, bin_dir, broker.port, interval, workdir, tag)

    def first_metric() -> Optional[float]:
        metrics = [
            when for topic, when in dict(watcher.first_seen).items() if not topic.endswith(NOT_METRICS)
        ]
        return min(metrics) if metrics else None

    try:
        return float(wait_for(f"{name}'s first metric", first_metric, timeout=120)) - peer.started
    finally:
        peer.stop()
        watcher.close()


def steady(
    processes: list[Measured], warm_up: float, minutes: float
) -> dict[str, tuple[float, float, float]]:
    """name -> (median RSS MB, max RSS MB, CPU seconds per hour) over the measured window."""
    time.sleep(warm_up)
    cpu_start = {p.name: p.cpu_s() for p in processes}
    rss: dict[str, list[float]] = {p.name: [] for p in processes}
    started = time.monotonic()
    while time.monotonic() - started < minutes * 60:
        for process in processes:
            if not process.alive():
                raise SystemExit(f"{process.name} exited during the measurement")
            rss[process.name].append(process.rss_mb())
        time.sleep(SAMPLE_EVERY_S)
    window = time.monotonic() - started
    return {
        p.name: (
            statistics.median(rss[p.name]),
            max(rss[p.name]),
            (p.cpu_s() - cpu_start[p.name]) * 3600 / window,
        )
        for p in processes
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=5.0, help="measured window (default 5)")
    parser.add_argument(
        "--interval", type=int, default=10, help="metrics and heartbeat interval, s (default 10)"
    )
    parser.add_argument("--warm-up", type=float, default=60.0, help="seconds before measuring (default 60)")
    parser.add_argument("--cold-starts", type=int, default=5)
    parser.add_argument("--no-peers", action="store_true", help="measure edge-agent only")
    parser.add_argument("--peer-dir", type=Path, default=Path.home() / ".cache" / "edge-agent-bench")
    args = parser.parse_args()

    peer_bins: dict[str, Path] = {}
    if not args.no_peers:
        args.peer_dir.mkdir(parents=True, exist_ok=True)
        for name in PACKAGES:
            bin_dir, why = prepare(name, args.peer_dir)
            if bin_dir is None:
                print(f"peer {name}: not measured, {why}")
            else:
                peer_bins[name] = bin_dir

    with tempfile.TemporaryDirectory(prefix="agent-bench-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir)
        sims = Simulators(args.interval)
        processes: list[Measured] = []
        try:
            starts = cold_starts(workdir, broker, sims, args.cold_starts)
            peer_starts = {
                name: statistics.median(
                    peer_cold_start(name, bin_dir, workdir, broker, args.interval, run)
                    for run in range(args.cold_starts)
                )
                for name, bin_dir in peer_bins.items()
            }
            every = args.interval
            full = agent_config(workdir, broker.port, device_id="full", metrics_interval=every, sims=sims,
                                heartbeat_interval=every)  # fmt: skip
            bare = agent_config(workdir, broker.port, device_id="mqtt-only", metrics_interval=args.interval)
            processes.append(start_agent(full, workdir / "full.log", "edge-agent (5 vendors + MQTT)"))
            processes.append(start_agent(bare, workdir / "bare.log", "edge-agent (MQTT only)"))
            for name, bin_dir in peer_bins.items():
                processes.append(start_peer(name, bin_dir, broker.port, args.interval, workdir))
            figures = steady(processes, args.warm_up, args.minutes)
        finally:
            for process in processes:
                process.stop()
            sims.close()
            broker.stop()

    report(args, starts, peer_starts, figures)


def report(
    args: argparse.Namespace,
    starts: list[float],
    peer_starts: dict[str, float],
    figures: dict[str, tuple[float, float, float]],
) -> None:
    print(f"cold start to the first retained state (5 vendors + MQTT on), median of {len(starts)}: "
          f"{statistics.median(starts):.2f} s (min {min(starts):.2f}, max {max(starts):.2f})")  # fmt: skip
    for name, seconds in peer_starts.items():
        print(f"cold start to the first metric message, {name}, median of {len(starts)}: {seconds:.2f} s")
    print(f"\nsteady state at a {args.interval} s interval, {args.minutes:g} min measured after "
          f"{args.warm_up:g} s warm-up (CPU extrapolated to an hour):")  # fmt: skip
    print(f"{'process':34} {'RSS MB (median)':>16} {'RSS MB (max)':>13} {'CPU s/hour':>11}")
    for name, (median, peak, cpu) in figures.items():
        print(f"{name:34} {median:16.1f} {peak:13.1f} {cpu:11.1f}")
    base: Optional[tuple[float, float, float]] = figures.get("edge-agent (5 vendors + MQTT)")
    bare = figures.get("edge-agent (MQTT only)")
    for name in PACKAGES:
        if name not in figures or base is None or bare is None:
            continue
        median, _, cpu = figures[name]
        rss = f"RSS {median / bare[0]:.2f}x (MQTT only), {median / base[0]:.2f}x (5 vendors)"
        cpu_ratio = f"CPU {cpu / bare[2]:.2f}x (MQTT only), {cpu / base[2]:.2f}x (5 vendors)"
        print(f"{name} / edge-agent: {rss}; {cpu_ratio}")
        if name in peer_starts:
            print(f"{name} / edge-agent cold start: {peer_starts[name] / statistics.median(starts):.2f}x")


if __name__ == "__main__":
    main()
