"""Temperatures of every thermal zone and hwmon sensor, in °C, named as the kernel names them.

* ``/sys/class/thermal/thermal_zone*/{type,temp}`` is named by ``type`` (``cpu-thermal``).
* ``/sys/class/hwmon/hwmon*/temp*_input`` is named ``"<name> <label>"`` from the chip's
  ``name`` and the sensor's ``temp*_label`` (``coretemp Package id 0``); a chip with a
  single unlabelled sensor is just ``<name>``, several are ``<name> temp<N>``.
* A hwmon chip that the kernel's thermal bridge registers for a thermal zone (its name is
  the zone type with ``-`` turned into ``_``, e.g. ``cpu_thermal`` for ``cpu-thermal``)
  is the same sensor read twice, and is skipped.
* A name seen twice gets ``_2``, ``_3``... in reading order (Android tablets often have
  several zones of one type).

Which readings are nonsense, and skipped (the zone simply does not appear):

* files that cannot be read now (sysfs answers EINVAL/EIO for a disabled zone);
* exactly ``0``: how unused Android zones and unpopulated hwmon inputs report "no sensor";
* anything outside -40..150 °C after conversion (e.g. ``-274000`` from a broken probe).

Values are millidegrees, except that a reading under 200 in magnitude is taken as whole
degrees: some vendor Android kernels report °C, and 0.2 °C inside a running device is
not a plausible millidegree reading.

``cpu_temperature`` is the one figure people chart first, picked from the same readings:

* the SoC zone where the board has one (``cpu-thermal`` on every Raspberry Pi since
  kernel 4.19, ``soc-thermal`` or ``bcm2835_thermal`` on others);
* otherwise the hottest CPU sensor: ``x86_pkg_temp``, ``coretemp ...``, ``k10temp ...``
  (``Tctl``/``Tdie``/``Tccd*``), ``zenpower ...``, and the ``cpu...`` zones of Android
  (``cpu-0-0-usr``, ``cpuss-0-usr``); the hottest, because a throttling core is what
  the figure must show;
* otherwise unavailable, with the names that were read: a board temperature (``acpitz``),
  a battery or a skin sensor is not the CPU, and guessing would mislead a chart.
"""

from __future__ import annotations

import re
from typing import ClassVar, Optional

from edge_agent.collectors.base import CollectorContext, Reading
from edge_agent.collectors.host import HostPaths
from edge_agent.errors import SensorUnavailable

THERMAL_DIR = "/sys/class/thermal"
HWMON_DIR = "/sys/class/hwmon"

LOWEST_PLAUSIBLE_C = -40.0
HIGHEST_PLAUSIBLE_C = 150.0
WHOLE_DEGREES_BELOW = 200

_TEMP_INPUT = re.compile(r"temp(\d+)_input")

SOC_ZONES = ("cpu-thermal", "cpu_thermal", "soc-thermal", "soc_thermal", "bcm2835_thermal")
_CPU_SENSOR = re.compile(r"(x86_pkg_temp|coretemp|k10temp|zenpower|cpu)", re.IGNORECASE)
_NAMES_IN_REASON = 8


def to_celsius(raw: int) -> Optional[float]:
    """A sysfs temperature in °C with one decimal, or None for a nonsense reading."""
    if raw == 0:
        return None
    celsius = float(raw) if abs(raw) < WHOLE_DEGREES_BELOW else raw / 1000.0
    if not LOWEST_PLAUSIBLE_C <= celsius <= HIGHEST_PLAUSIBLE_C:
        return None
    return round(celsius, 1)


def read_thermal_zones(host: HostPaths) -> list[tuple[str, float]]:
    """(type, °C) of every readable thermal zone, in zone order."""
    readings: list[tuple[str, float]] = []
    for zone in host.list_dir(THERMAL_DIR, "thermal_zone*"):
        try:
            name = host.read_line(f"{zone}/type") or zone.rsplit("/", 1)[-1]
            celsius = to_celsius(host.read_int(f"{zone}/temp"))
        except SensorUnavailable:
            continue
        if celsius is not None:
            readings.append((name, celsius))
    return readings


def read_hwmon(host: HostPaths, skip_chips: set[str]) -> list[tuple[str, float]]:
    """(name, °C) of every readable hwmon temperature, chips in ``skip_chips`` left out."""
    readings: list[tuple[str, float]] = []
    for chip_dir in host.list_dir(HWMON_DIR, "hwmon*"):
        try:
            chip = host.read_line(f"{chip_dir}/name")
        except SensorUnavailable:
            continue
        if chip in skip_chips:
            continue
        inputs = host.list_dir(chip_dir, "temp*_input")
        for input_path in inputs:
            match = _TEMP_INPUT.fullmatch(input_path.rsplit("/", 1)[-1])
            if match is None:
                continue
            index = match.group(1)
            try:
                celsius = to_celsius(host.read_int(input_path))
            except SensorUnavailable:
                continue
            if celsius is None:
                continue
            readings.append((_sensor_name(host, chip_dir, chip, index, len(inputs)), celsius))
    return readings


def _sensor_name(host: HostPaths, chip_dir: str, chip: str, index: str, inputs: int) -> str:
    label_path = f"{chip_dir}/temp{index}_label"
    if host.exists(label_path):
        try:
            label = host.read_line(label_path)
        except SensorUnavailable:
            label = ""
        if label:
            return f"{chip} {label}"
    return chip if inputs == 1 else f"{chip} temp{index}"


def unique_names(readings: list[tuple[str, float]]) -> dict[str, float]:
    """The readings as a dict, a repeated name suffixed ``_2``, ``_3``... in order."""
    result: dict[str, float] = {}
    for name, celsius in readings:
        unique, count = name, 1
        while unique in result:
            count += 1
            unique = f"{name}_{count}"
        result[unique] = celsius
    return result


def cpu_temperature(temperatures: dict[str, float]) -> Optional[float]:
    """The SoC zone's reading, else the hottest CPU sensor's, else None (see the module doc)."""
    for name in SOC_ZONES:
        if name in temperatures:
            return temperatures[name]
    cpu = [celsius for name, celsius in temperatures.items() if _CPU_SENSOR.match(name)]
    return max(cpu) if cpu else None


def _no_cpu_sensor(temperatures: dict[str, float]) -> str:
    names = list(temperatures)
    shown = ", ".join(names[:_NAMES_IN_REASON]) + (", ..." if len(names) > _NAMES_IN_REASON else "")
    return f"no CPU sensor among the {len(names)} temperatures read ({shown})"


class ThermalCollector:
    """Every thermal zone and hwmon temperature of the host, and the CPU's among them."""

    keys: ClassVar[tuple[str, ...]] = ("temperatures", "cpu_temperature")

    def __init__(self, context: CollectorContext) -> None:
        self._host = context.host
        self.may_wait = False

    def read(self) -> Reading:
        reading = Reading()
        denied: list[str] = []
        try:
            zones = read_thermal_zones(self._host)
        except SensorUnavailable as exc:
            zones, denied = [], [exc.reason]
        bridged = {name.replace("-", "_") for name, _ in zones}
        try:
            chips = read_hwmon(self._host, skip_chips=bridged)
        except SensorUnavailable as exc:
            chips, denied = [], [*denied, exc.reason]
        if zones or chips:
            temperatures = unique_names(zones + chips)
            reading.values["temperatures"] = temperatures
            cpu = cpu_temperature(temperatures)
            if cpu is not None:
                reading.values["cpu_temperature"] = cpu
            else:
                reading.mark_unavailable(("cpu_temperature",), _no_cpu_sensor(temperatures))
        else:
            reason = "; ".join(denied) or f"no readable sensor in {THERMAL_DIR} or {HWMON_DIR}"
            reading.mark_unavailable(self.keys, reason)
        return reading
