"""HostPaths: every read is under the root, reasons name the device path, fixtures can deny."""

from __future__ import annotations

import pytest
from collector_helpers import HOSTS, Tree

from edge_agent.collectors.host import HostPaths, detect_platform
from edge_agent.errors import SensorUnavailable


def test_reads_the_file_under_the_root_and_names_the_device_path_when_missing(tree: Tree) -> None:
    tree.write("proc/uptime", "12.50 3.00\n")
    host = HostPaths(tree.root)
    assert host.read_line("/proc/uptime") == "12.50 3.00"
    with pytest.raises(SensorUnavailable) as missing:
        host.read_text("/proc/meminfo")
    assert missing.value.reason == "/proc/meminfo not found"
    assert str(tree.root) not in missing.value.reason


def test_a_file_longer_than_one_read_comes_back_whole(tree: Tree) -> None:
    """``/proc/net/fib_trie`` on a router, ``/proc/stat`` on a many-core board: past one read's size."""
    text = "".join(f"line {index:06d} of a long kernel table\n" for index in range(5000))  # ~185 KB
    tree.write("proc/net/fib_trie", text)
    assert HostPaths(tree.root).read_text("/proc/net/fib_trie") == text


def test_a_directory_where_a_file_should_be_is_unreadable_with_its_reason(tree: Tree) -> None:
    tree.write("sys/class/power_supply/BAT0/capacity/oops", "")  # capacity is a directory here
    with pytest.raises(SensorUnavailable) as error:
        HostPaths(tree.root).read_text("/sys/class/power_supply/BAT0/capacity")
    assert error.value.reason == "cannot read /sys/class/power_supply/BAT0/capacity: Is a directory"


def test_a_fixture_declares_paths_denied_as_selinux_would(tree: Tree) -> None:
    tree.write("proc/stat", "cpu 1 2 3 4\n")
    tree.write("proc/net/route", "Iface\n")
    tree.write(".denied", "# like Android\n/proc/stat\nproc/net\n")
    host = HostPaths(tree.root)
    for denied in ("/proc/stat", "/proc/net/route"):
        with pytest.raises(SensorUnavailable) as error:
            host.read_text(denied)
        assert error.value.reason == f"permission denied: {denied}"
    with pytest.raises(SensorUnavailable):
        host.list_dir("/proc/net")
    assert not host.exists("/proc/stat")


def test_listing_is_in_natural_order_and_a_missing_directory_is_empty(tree: Tree) -> None:
    for index in (10, 2, 1, 0):
        tree.write(f"sys/class/thermal/thermal_zone{index}/temp", "40000\n")
    tree.write("sys/class/thermal/cooling_device0/type", "fan\n")
    host = HostPaths(tree.root)
    assert host.list_dir("/sys/class/thermal", "thermal_zone*") == [
        f"/sys/class/thermal/thermal_zone{index}" for index in (0, 1, 2, 10)
    ]
    assert host.list_dir("/sys/class/power_supply") == []


def test_malformed_integer_is_a_reason_not_a_crash(tree: Tree) -> None:
    tree.write("sys/class/power_supply/BAT0/capacity", "lots\n")
    with pytest.raises(SensorUnavailable, match="malformed /sys/class/power_supply/BAT0/capacity"):
        HostPaths(tree.root).read_int("/sys/class/power_supply/BAT0/capacity")


@pytest.mark.parametrize(
    ("configured", "environ", "case", "expected"),
    [
        ("auto", {"TERMUX_VERSION": "0.118.0"}, "pi4", "termux"),
        ("auto", {"PREFIX": "/data/data/com.termux/files/usr"}, "pi4", "termux"),
        ("auto", {}, "android-tablet", "termux"),
        ("auto", {}, "pi4", "linux"),
        ("linux", {"TERMUX_VERSION": "0.118.0"}, "android-tablet", "linux"),
    ],
)
def test_platform_auto_recognises_termux(configured: str, environ: dict, case: str, expected: str) -> None:
    assert detect_platform(configured, HostPaths(HOSTS / case), environ) == expected
