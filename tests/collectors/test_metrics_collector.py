"""MetricsCollector as the agent uses it: every key accounted for, never an exception."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from collector_helpers import HOSTS, Tree, collector_for
from support.clock import FakeClock

from edge_agent.collectors import COLLECTORS, MetricsCollector
from edge_agent.config import parse_config
from edge_agent.model import AppInfo, Snapshot

COLLECTORS_DIR = Path(__file__).resolve().parents[2] / "edge_agent" / "collectors"
METRIC_KEYS = [f.name for f in fields(Snapshot) if f.name not in ("timestamp", "unavailable", "apps")]


def host_cases() -> list[Path]:
    return sorted(path for path in HOSTS.iterdir() if path.is_dir())


def test_every_snapshot_metric_is_filled_by_exactly_one_collector() -> None:
    owners: dict[str, list[str]] = {}
    for name, collector in COLLECTORS.items():
        for key in collector.keys:
            owners.setdefault(key, []).append(name)
    assert sorted(owners) == sorted([*METRIC_KEYS, "apps"])
    assert all(len(names) == 1 for names in owners.values()), owners


@pytest.mark.parametrize("root", [*host_cases(), None], ids=lambda p: p.name if p else "empty-tree")
def test_each_metric_has_a_value_or_a_reason(root: Path, tree: Tree) -> None:
    snapshot = collector_for(root if root is not None else tree.root).collect()
    for key in METRIC_KEYS:
        value = getattr(snapshot, key)
        has_value = value not in (None, {})
        assert has_value != (key in snapshot.unavailable), (
            f"{key}: {value!r} / {snapshot.unavailable.get(key)}"
        )


def test_garbage_everywhere_still_gives_a_snapshot(tree: Tree) -> None:
    junk = "\x00\xff garbage: not-a-number\n\n::\n"
    for path in (
        "proc/stat",
        "proc/loadavg",
        "proc/meminfo",
        "proc/uptime",
        "proc/net/wireless",
        "proc/net/route",
        "proc/net/fib_trie",
        "sys/class/thermal/thermal_zone0/temp",
        "sys/class/thermal/thermal_zone0/type",
        "sys/class/hwmon/hwmon0/name",
        "sys/class/hwmon/hwmon0/temp1_input",
        "sys/class/power_supply/BAT0/type",
        "sys/class/net/wlan0/address",
    ):
        tree.write(path, junk)
    tree.write("sys/class/power_supply/BAT1/type", "Battery\n")
    tree.write("sys/class/power_supply/BAT1/capacity", "full\n")
    (tree.root / "proc" / "binary").write_bytes(b"\xff\xfe\x00")
    tree.program("iw", "echo 'tx bitrate: lots MBit/s'\n")
    snapshot = collector_for(tree.root, apps=["vlc"]).collect()
    assert snapshot.cpu_percent is None and "cpu_percent" in snapshot.unavailable
    assert (
        snapshot.unavailable["battery_percent"] == "malformed /sys/class/power_supply/BAT1/capacity: 'full'"
    )
    assert snapshot.to_json()["timestamp"]


def test_timestamp_comes_from_the_injected_clock(tree: Tree, clock: FakeClock) -> None:
    snapshot = collector_for(tree.root, clock=clock).collect()
    assert snapshot.to_json()["timestamp"] == "2026-11-25T01:02:03.456Z"


def test_from_config_also_looks_up_the_telecomx_heartbeat_apps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = HOSTS / "x86-hwmon"
    monkeypatch.setenv("PATH", str(root / "bin"))
    text = f"""
[metrics]
host_root = "{root}"
apps = ["openssh-server"]

[heartbeats.iptv]
vendor = "telecomx"
token = "0123456789abcdef01234567"
apps = ["vlc", "openssh-server"]
"""
    collector = MetricsCollector.from_config(parse_config(text, tmp_path / "edge-agent.toml"))
    apps = collector.collect().apps
    assert list(apps) == ["openssh-server", "vlc"]
    assert apps["vlc"] == AppInfo("vlc", False)
