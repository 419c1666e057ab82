"""Temperatures of thermal zones and hwmon chips, named by the kernel, nonsense skipped."""

from __future__ import annotations

from collector_helpers import HOSTS, Tree, collector_for


def test_x86_hwmon_sensors_are_named_by_chip_and_label_and_bridged_zones_are_not_doubled() -> None:
    temperatures = collector_for(HOSTS / "x86-hwmon").collect().temperatures
    assert temperatures["coretemp Package id 0"] == 46.0
    assert temperatures["coretemp Core 3"] == 46.0
    assert temperatures["pch_cannonlake"] == 52.0
    assert temperatures["it8728 temp2"] == 28.0
    assert "acpitz_2" not in temperatures  # hwmon0 "acpitz" is the acpitz zone read again
    assert "it8728 temp3" not in temperatures  # -128 °C is a disconnected probe


def test_android_zones_keep_order_get_unique_names_and_skip_unused_or_denied_ones() -> None:
    temperatures = collector_for(HOSTS / "android-tablet").collect().temperatures
    assert list(temperatures) == [
        "aoss0-usr",
        "cpu-0-0-usr",
        "tsens_tz_sensor",
        "battery",
        "skin-therm",
        "quiet-therm",
        "tsens_tz_sensor_2",
    ]
    assert temperatures["tsens_tz_sensor_2"] == 39.8  # thermal_zone10 comes after thermal_zone9
    assert temperatures["battery"] == 31.0  # a vendor kernel that reports whole degrees


def test_the_pi_cpu_thermal_zone_is_reported_once() -> None:
    assert collector_for(HOSTS / "pi4").collect().temperatures == {"cpu-thermal": 47.2}


def test_no_sensor_at_all_is_unavailable_with_the_reason(tree: Tree) -> None:
    tree.write("sys/class/thermal/thermal_zone0/type", "unused\n")
    tree.write("sys/class/thermal/thermal_zone0/temp", "0\n")
    snapshot = collector_for(tree.root).collect()
    assert snapshot.temperatures == {}
    assert snapshot.unavailable["temperatures"] == (
        "no readable sensor in /sys/class/thermal or /sys/class/hwmon"
    )


def test_a_denied_thermal_class_still_reports_hwmon(tree: Tree) -> None:
    tree.write(".denied", "/sys/class/thermal\n")
    tree.write("sys/class/thermal/thermal_zone0/type", "cpu\n")
    tree.write("sys/class/hwmon/hwmon0/name", "k10temp\n")
    tree.write("sys/class/hwmon/hwmon0/temp1_input", "51250\n")
    tree.write("sys/class/hwmon/hwmon0/temp1_label", "Tctl\n")
    snapshot = collector_for(tree.root).collect()
    assert snapshot.temperatures == {"k10temp Tctl": 51.2}
    assert "temperatures" not in snapshot.unavailable


def test_everything_denied_gives_the_denial_as_reason(tree: Tree) -> None:
    tree.write(".denied", "/sys/class/thermal\n/sys/class/hwmon\n")
    assert collector_for(tree.root).collect().unavailable["temperatures"] == (
        "permission denied: /sys/class/thermal; permission denied: /sys/class/hwmon"
    )


def test_the_pi_cpu_temperature_is_its_soc_zone() -> None:
    assert collector_for(HOSTS / "pi4").collect().cpu_temperature == 47.2


def test_elsewhere_the_cpu_temperature_is_the_hottest_cpu_sensor_not_the_hottest_sensor(tree: Tree) -> None:
    tree.write("sys/class/thermal/thermal_zone0/type", "acpitz\n")
    tree.write("sys/class/thermal/thermal_zone0/temp", "88000\n")  # hotter, but the board
    tree.write("sys/class/hwmon/hwmon0/name", "k10temp\n")
    tree.write("sys/class/hwmon/hwmon0/temp1_input", "51250\n")
    tree.write("sys/class/hwmon/hwmon0/temp1_label", "Tctl\n")
    tree.write("sys/class/hwmon/hwmon0/temp3_input", "63500\n")
    tree.write("sys/class/hwmon/hwmon0/temp3_label", "Tccd1\n")
    tree.write("sys/class/hwmon/hwmon1/name", "nvme\n")
    tree.write("sys/class/hwmon/hwmon1/temp1_input", "70000\n")
    snapshot = collector_for(tree.root).collect()
    assert snapshot.cpu_temperature == 63.5
    assert "cpu_temperature" not in snapshot.unavailable


def test_android_cpu_zones_count_as_cpu_sensors() -> None:
    assert collector_for(HOSTS / "android-tablet").collect().cpu_temperature == 41.2  # cpu-0-0-usr


def test_the_soc_zone_wins_over_a_hotter_cpu_sensor(tree: Tree) -> None:
    tree.write("sys/class/thermal/thermal_zone0/type", "cpu0-thermal\n")
    tree.write("sys/class/thermal/thermal_zone0/temp", "71000\n")
    tree.write("sys/class/thermal/thermal_zone1/type", "soc-thermal\n")
    tree.write("sys/class/thermal/thermal_zone1/temp", "55000\n")
    assert collector_for(tree.root).collect().cpu_temperature == 55.0


def test_no_cpu_sensor_makes_cpu_temperature_unavailable_with_the_names_read(tree: Tree) -> None:
    tree.write("sys/class/thermal/thermal_zone0/type", "acpitz\n")
    tree.write("sys/class/thermal/thermal_zone0/temp", "27800\n")
    snapshot = collector_for(tree.root).collect()
    assert snapshot.temperatures == {"acpitz": 27.8}
    assert snapshot.cpu_temperature is None
    assert snapshot.unavailable["cpu_temperature"] == "no CPU sensor among the 1 temperatures read (acpitz)"


def test_no_sensor_at_all_leaves_cpu_temperature_unavailable_for_the_same_reason(tree: Tree) -> None:
    tree.write("sys/class/thermal/thermal_zone0/type", "unused\n")
    tree.write("sys/class/thermal/thermal_zone0/temp", "0\n")
    snapshot = collector_for(tree.root).collect()
    assert snapshot.unavailable["cpu_temperature"] == snapshot.unavailable["temperatures"]
