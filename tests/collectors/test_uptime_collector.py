"""Uptime from /proc/uptime."""

from __future__ import annotations

from collector_helpers import HOSTS, Tree, collector_for


def test_uptime_is_the_first_field() -> None:
    assert collector_for(HOSTS / "x86-hwmon").collect().uptime_s == 1209600.55


def test_malformed_uptime_is_a_reason(tree: Tree) -> None:
    tree.write("proc/uptime", "\n")
    assert collector_for(tree.root).collect().unavailable["uptime_s"] == "malformed /proc/uptime: ''"
