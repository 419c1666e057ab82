"""Battery level and charging state from sysfs, and termux-battery-status on Termux only."""

from __future__ import annotations

from collector_helpers import HOSTS, Tree, collector_for


def battery(tree: Tree, status: str, capacity: str = "64") -> None:
    tree.write("sys/class/power_supply/BAT0/type", "Battery\n")
    tree.write("sys/class/power_supply/BAT0/capacity", capacity + "\n")
    tree.write("sys/class/power_supply/BAT0/status", status + "\n")


def test_tablet_battery_charging() -> None:
    snapshot = collector_for(HOSTS / "android-tablet").collect()
    assert (snapshot.battery_percent, snapshot.charging) == (76.0, True)


def test_not_charging_while_usb_is_online_counts_as_charging(tree: Tree) -> None:
    battery(tree, "Not charging", "80")
    tree.write("sys/class/power_supply/usb/type", "USB\n")
    tree.write("sys/class/power_supply/usb/online", "1\n")
    snapshot = collector_for(tree.root).collect()
    assert (snapshot.battery_percent, snapshot.charging) == (80.0, True)


def test_discharging_with_the_charger_offline_is_not_charging(tree: Tree) -> None:
    battery(tree, "Discharging")
    tree.write("sys/class/power_supply/AC/type", "Mains\n")
    tree.write("sys/class/power_supply/AC/online", "0\n")
    assert collector_for(tree.root).collect().charging is False


def test_unknown_status_with_no_supply_is_unavailable_but_the_level_comes(tree: Tree) -> None:
    battery(tree, "Unknown", "12")
    snapshot = collector_for(tree.root).collect()
    assert snapshot.battery_percent == 12.0
    assert snapshot.unavailable["charging"] == "battery status unknown"


def test_a_mouse_battery_is_not_the_host_battery() -> None:
    snapshot = collector_for(HOSTS / "x86-hwmon").collect()
    assert snapshot.battery_percent is None
    assert snapshot.unavailable["battery_percent"] == "no battery in /sys/class/power_supply"


def test_termux_asks_termux_battery_status_when_selinux_hides_sysfs() -> None:
    snapshot = collector_for(HOSTS / "android-phone-termux").collect()
    assert (snapshot.battery_percent, snapshot.charging) == (54.0, False)


def test_termux_plugged_in_is_charging(tree: Tree) -> None:
    tree.write("system/build.prop", "ro.build.version.sdk=33\n")
    tree.program(
        "termux-battery-status", """echo '{"percentage": 100, "status": "FULL", "plugged": "PLUGGED_AC"}'\n"""
    )
    snapshot = collector_for(tree.root).collect()
    assert (snapshot.battery_percent, snapshot.charging) == (100.0, True)


def test_a_hanging_termux_battery_status_is_cut_off_and_reported(tree: Tree) -> None:
    tree.write("system/build.prop", "ro.build.version.sdk=33\n")
    tree.program("termux-battery-status", "sleep 30\necho '{\"percentage\": 50}'\n")
    snapshot = collector_for(tree.root, extra_path="/usr/bin:/bin", command_timeout=0.3).collect()
    assert snapshot.battery_percent is None
    assert snapshot.unavailable["battery_percent"] == (
        "no battery in /sys/class/power_supply; termux-battery-status timed out after 0.3 s"
    )


def test_plain_linux_never_runs_the_termux_helper(tree: Tree) -> None:
    marker = tree.root / "ran"
    tree.program("termux-battery-status", f"touch {marker}\necho '{{\"percentage\": 50}}'\n")
    snapshot = collector_for(tree.root, extra_path="/usr/bin:/bin", platform="linux").collect()
    assert snapshot.battery_percent is None
    assert not marker.exists()
