"""Cold start of two versions of the agent, alternated, so a slow moment of the machine hits both.

``agent_bench.py`` measures one version's cold start a few times in a row; on a shared
machine the spread between two such runs is larger than a change of 50 ms. Here each round
starts the agent once from ``--before`` (a folder holding an ``edge_agent`` package, e.g.
``git archive <commit> edge_agent | tar -x -C DIR``) and once from the installed one, in
alternating order, against the same private mosquitto and simulators, and prints each
version's median time from spawning ``python -m edge_agent run`` to its first retained
state (every selected vendor and MQTT on). With ``--restarts`` each version keeps one
config (and a config cache in the run's folder): its first start validates and keeps it,
the rounds after it are restarts, as at a device's every reboot; the first round is left out.

Usage: ``.venv/bin/python bench/cold_start_pairs.py --before DIR [--rounds 10] [--vendors a,b] [--restarts]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path
from typing import Optional

from agent_rig import Mosquitto, Simulators, Subscriber, agent_config, select_vendors, start_agent, wait_for
from paho.mqtt import publish


def cold_start(workdir: Path, broker: Mosquitto, sims: Simulators, device: str, src: Optional[Path]) -> float:
    """Seconds from spawning the agent (``src``'s edge_agent, or the installed one) to its first state."""
    config = agent_config(workdir, broker.port, device_id=device, metrics_interval=10, sims=sims)
    topic = f"edge/{device}/state"
    # a restart's device: the last start's retained state would be seen at once
    publish.single(topic, b"", qos=1, retain=True, hostname="127.0.0.1", port=broker.port)
    watcher = Subscriber(broker.port, [topic])
    agent = start_agent(config, workdir / f"{device}.log", src=src)
    try:
        wait_for("the first state", lambda: topic in watcher.first_seen)
        return float(watcher.first_seen[topic] - agent.started)
    finally:
        agent.stop()
        watcher.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="folder with the other edge_agent package")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--vendors", help="comma-separated vendors (default: every registered one)")
    parser.add_argument("--restarts", action="store_true", help="one config per version: time restarts")
    args = parser.parse_args()
    print(f"vendors: {', '.join(select_vendors(args.vendors))}")
    versions: dict[str, Optional[Path]] = {"before": args.before.resolve(), "after": None}
    times: dict[str, list[float]] = {name: [] for name in versions}
    with tempfile.TemporaryDirectory(prefix="cold-pairs-") as tmp:
        workdir = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(workdir / "cache")  # the agents' config cache
        os.environ.pop("CACHE_DIRECTORY", None)
        broker = Mosquitto(workdir)
        sims = Simulators(10)
        try:
            for round_ in range(args.rounds):
                order = list(versions) if round_ % 2 == 0 else list(reversed(versions))
                for name in order:
                    device = name if args.restarts else f"{name}-{round_}"
                    seconds = cold_start(workdir, broker, sims, device, versions[name])
                    if not (args.restarts and round_ == 0):
                        times[name].append(seconds)
        finally:
            sims.close()
            broker.stop()
    for name, values in times.items():
        print(
            f"{name}: cold start to the first retained state, median of {len(values)}: "
            f"{statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"
        )


if __name__ == "__main__":
    main()
