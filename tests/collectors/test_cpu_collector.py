"""CPU usage from /proc/stat deltas, on ordered snapshots including counters that go backwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from collector_helpers import CPU_SEQUENCES, HOSTS, Tree, collector_for


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
