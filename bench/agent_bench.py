"""The whole agent's cost, measured from the outside, beside peer agents from PyPI in the same run.

Starts a private mosquitto and every registered vendor's simulator, then prints:

* cold start: from spawning ``python -m edge_agent run`` (every vendor and MQTT on)
  to its first retained ``<prefix>/<id>/state`` on the broker, ``--cold-starts`` runs of
  one config: the first with the config cache empty (validated with pydantic), and the
  median of the restarts (the cache kept: a device's every reboot and service restart,
  what goal 2 is judged on); for each peer, from spawning it to its first message;
* steady state, every process started together and measured over the same
  ``--minutes`` after a warm-up: resident memory (VmRSS, median and max of samples
  every 10 s) and CPU seconds over the window (each thread's ``schedstat``, to the
  nanosecond; utime + stime in clock ticks where a thread ended: see ``CpuSample``),
  extrapolated to an hour, at one ``--interval`` (metrics, and every vendor heartbeat)
  for: edge-agent with every vendor and MQTT, edge-agent with MQTT only, and each
  peer publishing the same metric families at the same interval;
* the ratio of each peer's figures to edge-agent's.

Usage: ``.venv/bin/python bench/agent_bench.py [--minutes 5] [--interval 10] [--cold-starts 5]
[--no-peers] [--peer-dir ~/.cache/edge-agent-bench]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
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
    free_port,
    select_vendors,
    start_agent,
    start_floor,
    wait_for,
)
from paho.mqtt import publish
from peers import PACKAGES, can_lift_minimum, first_topic, linux2mqtt_label, prepare, start_peer

SAMPLE_EVERY_S = 10.0
NOT_METRICS = ("/availability", "/status", "/version")  # a peer's "I am here", sent at connect


def cold_starts(
    workdir: Path, broker: Mosquitto, sims: Simulators, runs: int, src: Optional[Path] = None
) -> list[float]:
    """Seconds from spawn to the first retained state of edge-agent, one per run, all of one config.

    The first run finds the config cache empty (a fresh folder: it validates with pydantic,
    keeps the result, then execs the lean interpreter); the others are restarts, as at a
    device's every reboot and service restart, and reuse it (see :func:`restarts`).
    """
    device = "cold"
    topic = f"edge/{device}/state"
    config = agent_config(workdir, broker.port, device_id=device, metrics_interval=10, sims=sims)
    env = {**os.environ, "XDG_CACHE_HOME": str(workdir / "cold-cache")}
    env.pop("CACHE_DIRECTORY", None)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    argv = [sys.executable, "-m", "edge_agent", "--log-level", "warning", "run", "-c", str(config)]
    times = []
    for run in range(runs):
        # the last run's retained state would be seen at once: clear it first
        publish.single(topic, b"", qos=1, retain=True, hostname="127.0.0.1", port=broker.port)
        watcher = Subscriber(broker.port, [topic])
        agent = Measured("edge-agent", argv, workdir / f"{device}-{run}.log", env=env)
        try:
            wait_for("the first state", lambda w=watcher: topic in w.first_seen)
            times.append(watcher.first_seen[topic] - agent.started)
        finally:
            agent.stop()
            watcher.close()
    return times


def restarts(starts: list[float]) -> list[float]:
    """The runs after the first, which find the config cache kept (all of them when there is one run)."""
    return starts[1:] or starts


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


def fast_linux2mqtt(bin_dir: Path, broker: Mosquitto, interval: int, workdir: Path) -> Measured:
    """linux2mqtt at ``interval``, its 5 s minimum lifted; at 5 s if that cannot start.

    The lifted run is checked, not assumed: a subscriber counts its CPU messages for a few
    seconds and expects about one a second. If the names the wrapper sets are gone, the
    wrapper exits, or the messages come at the 5 s pace, it falls back to 5 s, and the
    name in the figures says which one ran (:func:`peers.linux2mqtt_label`).
    """
    tag = "-fast"
    if can_lift_minimum(bin_dir):
        watcher = Subscriber(broker.port, [f"linux/peer{tag}/cpu/state"])
        peer = start_peer("linux2mqtt", bin_dir, broker.port, interval, workdir, tag, lift=True)
        try:
            deadline = time.monotonic() + 60
            while not watcher.total() and peer.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            first = watcher.total()
            window = 5 * interval
            time.sleep(window)  # a rate over a fixed window: a benchmark, not a test
            rate = (watcher.total() - first) / window
        finally:
            watcher.close()
        if peer.alive() and rate >= 0.6 / interval:
            print(f"linux2mqtt with its minimum lifted: {rate:.2f} CPU messages/s at a {interval} s interval")
            peer.name = linux2mqtt_label(interval, lifted=True)
            return peer
        print(f"linux2mqtt with its minimum lifted did not run at {interval} s ({rate:.2f} messages/s): "
              "falling back to its 5 s minimum")  # fmt: skip
        peer.stop()
    peer = start_peer("linux2mqtt", bin_dir, broker.port, interval, workdir, tag)
    peer.name = linux2mqtt_label(interval, lifted=False)
    return peer


Figures = dict[str, tuple[float, float, float, float]]
"""process name -> (median RSS MB, max RSS MB, CPU s per hour, bytes written per hour)."""


def steady(processes: list[Measured], warm_up: float, minutes: float, wal_files: dict[str, Path]) -> Figures:
    """Each process's figures over the same measured window; ``wal_files`` gets its high water mark."""
    time.sleep(warm_up)
    cpu_start = {p.name: p.cpu_sample() for p in processes}
    written_start = {p.name: p.write_bytes() for p in processes}
    rss: dict[str, list[float]] = {p.name: [] for p in processes}
    started = time.monotonic()
    while time.monotonic() - started < minutes * 60:
        for process in processes:
            if not process.alive():
                raise SystemExit(f"{process.name} exited during the measurement")
            rss[process.name].append(process.rss_mb())
        for name, wal in wal_files.items():
            size = wal.stat().st_size if wal.exists() else 0
            WAL_HIGH_WATER[name] = max(WAL_HIGH_WATER.get(name, 0), size)
        time.sleep(SAMPLE_EVERY_S)
    window = time.monotonic() - started
    return {
        p.name: (
            statistics.median(rss[p.name]),
            max(rss[p.name]),
            p.cpu_sample().seconds_since(cpu_start[p.name]) * 3600 / window,
            (p.write_bytes() - written_start[p.name]) * 3600 / window,
        )
        for p in processes
    }


WAL_HIGH_WATER: dict[str, int] = {}
"""process name -> largest size its store's ``-wal`` file reached during the window."""


def command_seconds(
    argv: list[str], runs: int, env: Optional[dict[str, str]], cwd: Optional[Path] = None
) -> list[float]:
    """Wall times of running ``argv`` to its end, as a user at a console waits for it, in order.

    ``env`` names a fresh config cache folder: the first run of ``metrics`` validates and
    keeps the config, the others reuse it (``check`` always validates).
    """
    times = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd, check=True
        )
        times.append(time.monotonic() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=5.0, help="measured window (default 5)")
    parser.add_argument(
        "--interval", type=int, default=10, help="metrics and heartbeat interval, s (default 10)"
    )
    parser.add_argument(
        "--fast-interval",
        type=int,
        default=1,
        help="a second metrics interval for the CPU goal (MQTT only, linux2mqtt, floor); 0: none",
    )
    parser.add_argument("--warm-up", type=float, default=60.0, help="seconds before measuring (default 60)")
    parser.add_argument("--cold-starts", type=int, default=5)
    parser.add_argument("--no-peers", action="store_true", help="measure edge-agent only")
    parser.add_argument(
        "--vendors",
        help="comma-separated vendors to start and configure (default: every registered one); "
        "issue 15's figures are for telecomx,xyte,aibox,yeastar,pubnub",
    )
    parser.add_argument("--peer-dir", type=Path, default=Path.home() / ".cache" / "edge-agent-bench")
    parser.add_argument(
        "--agent-src",
        type=Path,
        help="run the edge_agent package found in this folder (e.g. an older checkout) instead",
    )
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

    src = args.agent_src.resolve() if args.agent_src else None
    env = {**os.environ, "PYTHONPATH": str(src)} if src else None
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir)
        print(f"vendors: {', '.join(select_vendors(args.vendors))}")
        sims = Simulators(args.interval)
        processes: list[Measured] = []
        try:
            starts = cold_starts(workdir, broker, sims, args.cold_starts, src)
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
            bare = agent_config(workdir, broker.port, device_id="mqtt-only", metrics_interval=every)
            defaults = agent_config(workdir, broker.port, device_id="defaults", metrics_interval=every,
                                    sims=sims, heartbeat_interval=None, report_port=free_port())  # fmt: skip
            cli = [sys.executable, "-m", "edge_agent"]
            command_env = {**(env or os.environ), "XDG_CACHE_HOME": str(workdir / "command-cache")}
            command_env.pop("CACHE_DIRECTORY", None)
            commands = {
                f"edge-agent {what}": command_seconds(
                    [*cli, what, "-c", str(bare)], args.cold_starts, command_env, src
                )
                for what in ("check", "metrics")
            }
            wal_files = {
                FULL: workdir / "full.db-wal",
                BARE: workdir / "mqtt-only.db-wal",
                DEFAULTS: workdir / "defaults.db-wal",
            }
            processes.append(start_agent(full, workdir / "full.log", FULL, src))
            processes.append(start_agent(bare, workdir / "bare.log", BARE, src))
            processes.append(start_agent(defaults, workdir / "defaults.log", DEFAULTS, src))
            processes.append(start_floor(broker.port, every, workdir / "floor.log", "floor/slow"))
            for name, bin_dir in peer_bins.items():
                processes.append(start_peer(name, bin_dir, broker.port, every, workdir))
            fast = args.fast_interval
            if fast and fast != every:
                fast_bare = agent_config(
                    workdir, broker.port, device_id="mqtt-only-fast", metrics_interval=fast
                )
                wal_files[f"{BARE} {fast} s"] = workdir / "mqtt-only-fast.db-wal"
                processes.append(start_agent(fast_bare, workdir / "fast.log", f"{BARE} {fast} s", src))
                processes.append(start_floor(broker.port, fast, workdir / "floor-fast.log", "floor/fast"))
                if "linux2mqtt" in peer_bins:
                    processes.append(fast_linux2mqtt(peer_bins["linux2mqtt"], broker, fast, workdir))
            figures = steady(processes, args.warm_up, args.minutes, wal_files)
        finally:
            for process in processes:
                process.stop()
            sims.close()
            broker.stop()

    report(args, starts, peer_starts, commands, figures)


FULL = "edge-agent (vendors + MQTT)"
BARE = "edge-agent (MQTT only)"
DEFAULTS = "edge-agent (vendors, default intervals)"
HOURS_PER_YEAR = 24 * 365


def verdict(ok: Optional[bool]) -> str:
    return "not measured" if ok is None else ("MET" if ok else "NOT MET")


def report(
    args: argparse.Namespace,
    starts: list[float],
    peer_starts: dict[str, float],
    commands: dict[str, list[float]],
    figures: Figures,
) -> None:
    source = f" (edge_agent from {args.agent_src})" if args.agent_src else ""
    again = restarts(starts)
    print(
        f"edge-agent{source}: cold start to the first retained state ({len(SELECTED)} vendors + MQTT on): "
        f"first start (config cache empty) {starts[0]:.2f} s; "
        + (
            f"restarts (config cached), median of {len(again)}: {statistics.median(again):.2f} s "
            f"(min {min(again):.2f}, max {max(again):.2f})"
            if len(starts) > 1
            else "no restart (--cold-starts 1)"
        )
    )
    for name, seconds in peer_starts.items():
        print(f"cold start to the first metric message, {name}, median of {len(starts)}: {seconds:.2f} s")
    for name, times in commands.items():
        again = restarts(times)
        print(
            f"{name} (MQTT-only config), wall time: first {times[0]:.2f} s (config cache empty); "
            f"then median of {len(again)}: {statistics.median(again):.2f} s"
        )
    print(f"\nsteady state at a {args.interval} s interval, {args.minutes:g} min measured after "
          f"{args.warm_up:g} s warm-up (CPU and writes extrapolated to an hour):")  # fmt: skip
    header = f"{'RSS MB (median)':>16} {'RSS MB (max)':>13} {'CPU s/hour':>11} {'KB written/h':>13}"
    print(f"{'process':44} {header}")
    for name, (median, peak, cpu, written) in figures.items():
        print(f"{name:44} {median:16.1f} {peak:13.1f} {cpu:11.1f} {written / 1024:13.0f}")
    for name, size in WAL_HIGH_WATER.items():
        print(f"{name}: the store's -wal file reached {size / 1024:.0f} KB")
    goals(args, starts, peer_starts, commands, figures)


def ratio(figures: Figures, mine: str, theirs: str, index: int) -> Optional[float]:
    if mine not in figures or theirs not in figures or not figures[theirs][index]:
        return None
    return figures[mine][index] / figures[theirs][index]


def goals(
    args: argparse.Namespace,
    starts: list[float],
    peer_starts: dict[str, float],
    commands: dict[str, list[float]],
    figures: Figures,
) -> None:
    """Each goal of issue 15 with its ratio against the peers measured in this run, and whether met."""
    print("\ngoals (ratios against processes measured in this run):")

    def line(goal: str, value: Optional[float], limit: float, strict: bool = False) -> None:
        value = None if value is None else round(value, 2)  # judged as printed
        ok = None if value is None else (value < limit if strict else value <= limit)
        shown = "-" if value is None else f"{value:.2f}x"
        print(f"  {goal:70} {shown:>7}  {verdict(ok)}")

    line("1 memory: RSS MQTT only / linux2mqtt (<= 1)", ratio(figures, BARE, "linux2mqtt", 0), 1.0)
    memory_goal = f"1 memory: RSS {len(SELECTED)} vendors + MQTT + store / glances (< 1)"
    line(memory_goal, ratio(figures, FULL, "glances", 0), 1.0, strict=True)
    cold = statistics.median(restarts(starts))
    peer = peer_starts.get("linux2mqtt")
    restarted = peer and len(starts) > 1  # one run is a first start only: no restart to judge
    line("2 start-up: restart to first retained state / linux2mqtt's first metric (<= 2)",
         cold / peer if restarted else None, 2.0)  # fmt: skip
    first = f"{starts[0] / peer:.2f}x" if peer else "-"
    print(f"  {'  (the first start, config cache empty, not judged)':70} {first:>7}")
    for name, times in commands.items():
        seconds = statistics.median(restarts(times))  # `check` validates every time; `metrics` once
        ok = seconds < 0.3
        print(f"  {'2 start-up: ' + name + ' wall time (< 0.3 s)':70} {seconds:6.2f}s  {verdict(ok)}")
    intervals = [(args.interval, BARE, "linux2mqtt", f"bare-reads floor ({args.interval:g} s)")]
    if args.fast_interval and args.fast_interval != args.interval:
        fast = args.fast_interval
        lifted = linux2mqtt_label(fast, lifted=True)
        peer_fast = lifted if lifted in figures else linux2mqtt_label(fast, lifted=False)
        intervals.append((fast, f"{BARE} {fast} s", peer_fast, f"bare-reads floor ({fast:g} s)"))
    for every, mine, peer_name, floor in intervals:
        line(f"3 CPU at {every} s: MQTT only / linux2mqtt (<= 1)", ratio(figures, mine, peer_name, 2), 1.0)
        line(f"3 CPU at {every} s: MQTT only / bare-reads floor (<= 2)", ratio(figures, mine, floor, 2), 2.0)
    if DEFAULTS in figures:
        per_hour = figures[DEFAULTS][3]
        per_year = per_hour * HOURS_PER_YEAR / 1024**3
        print(f"  4 SD writes, {len(SELECTED)} vendors at default intervals + MQTT: "
              f"{per_hour / 1024:.0f} KB/hour, {per_year:.2f} GB/year "
              "(no peer keeps a store: reported, not judged)")  # fmt: skip
        for name in (BARE, FULL):
            if name in figures:
                print(f"    {name}: {figures[name][3] / 1024:.0f} KB/hour")
    print("  5 soak: RSS flat after the first minute -- run bench/soak.py (not part of this run)")


if __name__ == "__main__":
    main()
