"""What one metrics cycle costs, beside the bare /proc and /sys reads it is built on.

Prints figures; asserts nothing. Run on the device you care about (a Pi Zero is where
this matters)::

    .venv/bin/python bench/collect.py [--cycles 200] [--host-root /]

* CPU time (``time.process_time``) of one ``MetricsCollector.collect()``, median of
  ``--cycles`` after a warm-up cycle (which takes the fresh CPU sample and fills the
  helper-program cache, as the first cycle of the agent does);
* the same for just opening and reading the files those collectors read;
* the resident memory of a fresh Python that has imported ``edge_agent.collectors`` and
  ``edge_agent.config`` (and after one ``collect()``), beside a bare Python.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

# The files the collectors read on a cycle, as glob patterns under the host root.
FILE_PATTERNS = (
    "proc/stat",
    "proc/loadavg",
    "proc/meminfo",
    "proc/uptime",
    "proc/net/wireless",
    "proc/net/route",
    "proc/net/fib_trie",
    "sys/class/thermal/thermal_zone*/type",
    "sys/class/thermal/thermal_zone*/temp",
    "sys/class/hwmon/hwmon*/name",
    "sys/class/hwmon/hwmon*/temp*_input",
    "sys/class/hwmon/hwmon*/temp*_label",
    "sys/class/power_supply/*/type",
    "sys/class/power_supply/*/scope",
    "sys/class/power_supply/*/capacity",
    "sys/class/power_supply/*/status",
    "sys/class/power_supply/*/online",
    "sys/class/net/*/address",
)

RSS_PROBE = (
    "import re\n"
    "{imports}\n"
    "text = open('/proc/self/status').read()\n"
    "print(re.search(r'VmRSS:\\s+(\\d+) kB', text).group(1))\n"
)


def median_cpu_us(action: Callable[[], object], cycles: int) -> float:
    """Median CPU time of ``action`` in microseconds."""
    samples = []
    for _ in range(cycles):
        started = time.process_time()
        action()
        samples.append(time.process_time() - started)
    return statistics.median(samples) * 1e6


def bare_reads(paths: list[str]) -> None:
    for path in paths:
        try:
            with open(path, "rb") as handle:
                handle.read()
        except OSError:
            continue


def rss_kib(imports: str) -> int:
    code = RSS_PROBE.format(imports=imports)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(result.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--host-root", default=os.environ.get("EDGE_AGENT_HOST_ROOT", "/"))
    args = parser.parse_args()

    from edge_agent.collectors import MetricsCollector
    from edge_agent.config import MetricsConfig

    collector = MetricsCollector(MetricsConfig(host_root=Path(args.host_root)))
    collector.collect()  # warm-up: fresh CPU sample, helper cache filled
    paths = sorted({p for pattern in FILE_PATTERNS for p in glob.glob(os.path.join(args.host_root, pattern))})

    cycle_us = median_cpu_us(collector.collect, args.cycles)
    reads_us = median_cpu_us(lambda: bare_reads(paths), args.cycles)
    wall_started = time.perf_counter()
    for _ in range(args.cycles):
        collector.collect()
    wall_us = (time.perf_counter() - wall_started) / args.cycles * 1e6

    bare = rss_kib("")
    imported = rss_kib("import edge_agent.collectors, edge_agent.config")
    collected = rss_kib(
        "import edge_agent.collectors, edge_agent.config\n"
        f"edge_agent.collectors.MetricsCollector(edge_agent.config.MetricsConfig(host_root={args.host_root!r}))"
        ".collect()"
    )

    python = sys.version.split()[0]
    print(f"host root {args.host_root}, {len(paths)} files, median of {args.cycles} cycles, Python {python}")
    print(f"  collect() CPU time           {cycle_us:9.1f} us   (wall {wall_us:.1f} us mean)")
    print(f"  bare open+read of the files  {reads_us:9.1f} us")
    print(f"  overhead over bare reads     {cycle_us / reads_us if reads_us else float('nan'):9.1f} x")
    print(f"  RSS bare python              {bare:9d} KiB")
    print(f"  RSS after import             {imported:9d} KiB   (+{imported - bare} KiB)")
    print(f"  RSS after one collect()      {collected:9d} KiB   (+{collected - bare} KiB)")


if __name__ == "__main__":
    main()
