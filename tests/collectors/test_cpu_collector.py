"""CPU usage from /proc/stat deltas, on ordered snapshots including counters that go backwards."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from collector_helpers import CPU_SEQUENCES, HOSTS, Tree, collector_for
from support.clock import FakeClock

from edge_agent import startup_cpu
from edge_agent.collectors import CollectorContext, CommandRunner, HostPaths, MetricsCollector
from edge_agent.collectors.cpu import CpuCollector
from edge_agent.config import MetricsConfig


def sequence_cases() -> list[Path]:
    return sorted(path for path in CPU_SEQUENCES.iterdir() if path.is_dir())


@pytest.mark.parametrize("case", sequence_cases(), ids=lambda path: path.name)
def test_cpu_percent_follows_the_snapshot_sequence(case: Path, tree: Tree) -> None:
    cycles = json.loads((case / "expected.json").read_text())["cycles"]
    pending: list[str] = []

    def show(name: str) -> None:
        tree.write("proc/stat", (case / name).read_text())

    def sleep(seconds: float) -> None:
        assert pending, "the collector took a sample the sequence does not expect"
        show(pending.pop(0))

    tree.write("proc/loadavg", "0.00 0.00 0.00 1/100 1\n")
    collector = collector_for(tree.root, sleep=sleep)
    for number, cycle in enumerate(cycles, start=1):
        show(cycle["reads"][0])
        pending[:] = cycle["reads"][1:]
        snapshot = collector.collect()
        assert pending == [], f"cycle {number}: the collector did not take the expected fresh sample"
        assert snapshot.cpu_percent == cycle["cpu_percent"], f"cycle {number}: {cycle['why']}"
        assert "cpu_percent" not in snapshot.unavailable


def test_denied_proc_stat_is_unavailable_with_the_reason_and_load_still_comes() -> None:
    snapshot = collector_for(HOSTS / "android-tablet").collect()
    assert snapshot.cpu_percent is None
    assert snapshot.unavailable["cpu_percent"] == "permission denied: /proc/stat"
    assert snapshot.load_1m == 5.12


def test_a_frozen_proc_stat_gives_no_figure_rather_than_zero(tree: Tree) -> None:
    tree.write("proc/stat", "cpu  100 0 100 1000 0 0 0 0 0 0\n")
    snapshot = collector_for(tree.root).collect()
    assert snapshot.cpu_percent is None
    assert snapshot.unavailable["cpu_percent"] == "/proc/stat did not advance during a 0.2 s sample"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("intr 1 2 3\n", "malformed /proc/stat: no aggregate cpu line"),
        ("cpu  12 x 3 4\n", "malformed /proc/stat: 'cpu  12 x 3 4'"),
        ("cpu  12 3\n", "malformed /proc/stat: too few fields on the cpu line"),
    ],
)
def test_malformed_proc_stat_is_a_reason(content: str, reason: str, tree: Tree) -> None:
    tree.write("proc/stat", content)
    tree.write("proc/uptime", "5.00 1.00\n")
    snapshot = collector_for(tree.root).collect()
    assert snapshot.unavailable["cpu_percent"] == reason
    assert snapshot.uptime_s == 5.0


def _started_collector(tree: Tree, start: str, own_then: float, own_now: float, sleep: Any) -> CpuCollector:
    """A CPU collector whose process read ``start`` as it began, reading ``tree`` as the live host.

    The read at start is taken only of the live ``/proc/stat``, so the tree stands in for it.
    """
    host = HostPaths(tree.root)
    host.is_live = True
    clock = FakeClock()
    context = CollectorContext(
        host=host,
        config=MetricsConfig(host_root=tree.root),
        clock=clock,
        platform="linux",
        commands=CommandRunner(timeout=1.0, cache_seconds=0.0, clock=clock),
        sleep=sleep,
        cpu_start=(start, own_then),
    )
    collector = CpuCollector(context)
    collector._own_cpu = lambda: own_now  # the process's own CPU seconds now
    return collector


def test_the_first_figure_is_the_start_up_window_without_the_agents_own_cpu_and_no_sample(
    tree: Tree,
) -> None:
    """No 0.2 s sleep: the first figure is the delta since the process's own read at its start,
    the process's own CPU time in it (0.5 s = 50 ticks) counted as idle, as during a sleep."""
    tree.write("proc/loadavg", "0.00 0.00 0.00 1/100 1\n")
    tree.write("proc/stat", "cpu  200 0 200 1400 0 0 0 0 0 0\n")

    def sleep(seconds: float) -> None:
        raise AssertionError("the collector took a sample although the start-up gave it a window")

    collector = _started_collector(tree, "cpu  100 0 100 1000 0 0 0 0 0 0", 1.0, 1.5, sleep)
    assert collector.read().values["cpu_percent"] == 25.0  # (200 - 50) busy of 600 ticks
    tree.write("proc/stat", "cpu  300 0 300 1600 0 0 0 0 0 0\n")
    assert collector.read().values["cpu_percent"] == 50.0  # then each cycle against the last


@pytest.mark.parametrize(
    ("start", "why"),
    [
        ("cpu  195 0 200 1396 0 0 0 0 0 0", "fewer than MIN_TICKS ticks since the start"),
        ("cpu  900 0 900 9000 0 0 0 0 0 0", "counters behind the start's"),
    ],
)
def test_a_start_up_window_that_cannot_give_a_figure_falls_back_to_the_sample(
    start: str, why: str, tree: Tree
) -> None:
    tree.write("proc/loadavg", "0.00 0.00 0.00 1/100 1\n")
    tree.write("proc/stat", "cpu  200 0 200 1400 0 0 0 0 0 0\n")
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        tree.write("proc/stat", "cpu  210 0 210 1420 0 0 0 0 0 0\n")

    collector = _started_collector(tree, start, 1.0, 1.0, sleep)
    assert collector.read().values["cpu_percent"] == 50.0, why  # the 0.2 s sample's figure
    assert slept == [0.2], why


def test_a_start_read_is_not_used_for_another_host_root(tree: Tree) -> None:
    """``[metrics] host_root`` elsewhere: the process read the live /proc/stat, not that tree's."""
    tree.write("proc/loadavg", "0.00 0.00 0.00 1/100 1\n")
    tree.write("proc/stat", "cpu  200 0 200 1400 0 0 0 0 0 0\n")
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        tree.write("proc/stat", "cpu  210 0 210 1420 0 0 0 0 0 0\n")

    collector = MetricsCollector(
        MetricsConfig(host_root=tree.root),
        sleep=sleep,
        registry={"cpu": CpuCollector},
        cpu_start=("cpu  100 0 100 1000 0 0 0 0 0 0", 0.0),
    )
    assert collector.collect().cpu_percent == 50.0
    assert slept == [0.2]


def test_the_start_read_goes_to_the_exec_d_interpreter_and_is_used_once(monkeypatch: Any) -> None:
    monkeypatch.delenv(startup_cpu.ENV, raising=False)
    monkeypatch.setattr(startup_cpu, "_read", None)
    startup_cpu.take()
    first = startup_cpu.consume()
    assert first is not None and first[0].startswith("cpu ")  # this test runs on Linux
    handed = "0.25;cpu  1 2 3 4 5 6 7 8 0 0"
    monkeypatch.setenv(startup_cpu.ENV, handed)
    startup_cpu.take()  # a stray variable, not run's own exec: ignored, and removed
    stray = startup_cpu.consume()
    assert stray is not None and stray[0] != handed.partition(";")[2]
    assert startup_cpu.ENV not in os.environ
    monkeypatch.setenv(startup_cpu.ENV, handed)
    monkeypatch.setenv(startup_cpu.HANDED_WITH, "7")  # what run sets for its exec, beside it
    startup_cpu.take()  # the new interpreter: the handed-over read wins over a fresh one
    assert startup_cpu.ENV not in os.environ
    assert startup_cpu.handover() == {startup_cpu.ENV: handed}
    assert startup_cpu.consume() == ("cpu  1 2 3 4 5 6 7 8 0 0", 0.25)
    assert startup_cpu.consume() is None
    assert startup_cpu.handover() == {}
