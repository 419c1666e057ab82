"""Memory from /proc/meminfo, including kernels older than MemAvailable."""

from __future__ import annotations

from collector_helpers import Tree, collector_for


def test_memavailable_gives_the_free_percent(tree: Tree) -> None:
    tree.write("proc/meminfo", "MemTotal:  1000 kB\nMemFree:  100 kB\nMemAvailable:  333 kB\n")
    snapshot = collector_for(tree.root).collect()
    assert snapshot.memory_total_bytes == 1024000
    assert snapshot.memory_available_bytes == 333 * 1024
    assert snapshot.memory_free_percent == 33.3


def test_old_kernel_without_memavailable_counts_free_buffers_and_cached(tree: Tree) -> None:
    tree.write("proc/meminfo", "MemTotal: 2000 kB\nMemFree: 500 kB\nBuffers: 100 kB\nCached: 400 kB\n")
    snapshot = collector_for(tree.root).collect()
    assert snapshot.memory_available_bytes == 1000 * 1024
    assert snapshot.memory_free_percent == 50.0


def test_missing_meminfo_is_unavailable_and_the_rest_still_comes(tree: Tree) -> None:
    tree.write("proc/uptime", "7.25 1.00\n")
    snapshot = collector_for(tree.root).collect()
    for key in ("memory_total_bytes", "memory_available_bytes", "memory_free_percent"):
        assert snapshot.unavailable[key] == "/proc/meminfo not found"
    assert snapshot.uptime_s == 7.25


def test_meminfo_without_total_is_malformed(tree: Tree) -> None:
    tree.write("proc/meminfo", "MemFree: 500 kB\n")
    assert collector_for(tree.root).collect().unavailable["memory_free_percent"] == (
        "malformed /proc/meminfo: no MemTotal"
    )
