"""Temperatures as metrics: one retained topic per zone, the CPU's figure, Home Assistant entities.

The snapshots are read by the real collectors from copies of the host fixture trees; the
mirror runs in this process against a real mosquitto, and a plain subscriber says what a
user's dashboard would find. A zone that goes away (a sensor unplugged, a driver
unloaded) must not leave its last value retained on the broker for ever.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from mqtt_watch import Watcher

from edge_agent.collectors import MetricsCollector
from edge_agent.config import DeviceConfig, MetricsConfig, MqttConfig
from edge_agent.model import Snapshot, SystemClock
from edge_agent.mqtt.mirror import MqttMirror
from edge_agent.store import Store

HOSTS = Path(__file__).resolve().parent.parent / "fixtures" / "hosts"
BASE = "edge/dev-t"
STATUS = f"{BASE}/status"
STATE = f"{BASE}/state"
ZONE = f"{BASE}/metrics/temperature"
CPU = f"{BASE}/metrics/cpu_temperature"
MARKER = f"{BASE}/test-marker"

# x86-hwmon, as expected.json lists it, with each name as its topic level
X86_ZONES = {
    "acpitz": b"27.8",
    "x86_pkg_temp": b"46.0",
    "nvme_Composite": b"38.9",
    "nvme_Sensor_1": b"38.9",
    "pch_cannonlake": b"52.0",
    "coretemp_Package_id_0": b"46.0",
    "coretemp_Core_0": b"44.0",
    "coretemp_Core_1": b"45.0",
    "coretemp_Core_2": b"43.0",
    "coretemp_Core_3": b"46.0",
    "it8728_temp1": b"33.0",
    "it8728_temp2": b"28.0",
}


def host_copy(case: str, tmp_path: Path) -> Path:
    """A private copy of a fixture tree, so the test can take sensors away."""
    root = tmp_path / case
    shutil.copytree(HOSTS / case, root, symlinks=True)
    return root


def read(root: Path) -> Snapshot:
    collector = MetricsCollector(
        MetricsConfig(host_root=root), environ={"PATH": str(root / "bin")}, sleep=lambda seconds: None
    )
    return collector.collect()


def make_mirror(store: Store, port: int, **mqtt: Any) -> MqttMirror:
    config = MqttConfig(
        host="127.0.0.1", port=port, keepalive=5, reconnect_min=0.05, reconnect_max=0.3, **mqtt
    )
    return MqttMirror(
        config,
        device=DeviceConfig(id="dev-t"),
        store=store,
        clock=SystemClock(),
        version="test",
        started=datetime.now(timezone.utc),
    )


def retained_on(watch: Callable[..., Watcher], port: int, topic: str) -> Optional[bytes]:
    """What the broker holds retained on ``topic`` for a subscriber arriving now (None: nothing).

    The subscriber publishes a marker after its SUBSCRIBE was acknowledged; the broker
    queues the retained copies while it handles the SUBSCRIBE, and one connection's
    messages arrive in order, so anything retained arrives before the marker.
    """
    late = watch(port, [topic, MARKER])
    late.publish(MARKER, b"done")
    seen = late.wait_for("the marker", lambda seen: [m for m in seen if m.topic == MARKER] and seen)
    retained = [m.payload for m in seen if m.topic == topic and m.retain]
    return retained[-1] if retained else None


async def run_mirror(mirror: MqttMirror, watcher: Watcher, steps: Callable[[], Any]) -> None:
    """Run the mirror until it is online, do ``steps`` (a coroutine function), then stop it."""
    stop = asyncio.Event()
    runner = asyncio.ensure_future(mirror.run(stop))
    try:
        await steps()
    finally:
        stop.set()
        await runner
        await mirror.shutdown()


def test_each_zone_and_the_cpu_temperature_are_retained_plain_values_with_mqtt_safe_names(
    mosquitto_only, tmp_path: Path, watch
) -> None:
    broker = mosquitto_only()
    watcher: Watcher = watch(broker.port, [f"{BASE}/#"])
    store = Store(tmp_path / "agent.db")
    mirror = make_mirror(store, broker.port)
    snapshot = read(host_copy("x86-hwmon", tmp_path))

    async def steps() -> None:
        await asyncio.to_thread(watcher.wait_last, STATUS, b"online")
        mirror.set_snapshot(snapshot)
        await asyncio.to_thread(watcher.wait_last, CPU, b"46.0")
        for level, value in X86_ZONES.items():
            await asyncio.to_thread(watcher.wait_last, f"{ZONE}/{level}", value)

    asyncio.run(run_mirror(mirror, watcher, steps))
    zone_topics = {m.topic for m in watcher.seen if m.topic.startswith(ZONE + "/")}
    assert zone_topics == {f"{ZONE}/{level}" for level in X86_ZONES}
    state = watcher.last(STATE)
    assert state is not None and state.json()["cpu_temperature"] == 46.0
    assert state.json()["temperatures"]["coretemp Package id 0"] == 46.0  # state keeps the kernel's names
    for level, value in X86_ZONES.items():  # a dashboard started later finds every zone
        assert retained_on(watch, broker.port, f"{ZONE}/{level}") == value
    assert retained_on(watch, broker.port, CPU) == b"46.0"
    store.close()


def test_a_zone_that_disappears_is_cleared_and_the_others_stay(mosquitto_only, tmp_path: Path, watch) -> None:
    broker = mosquitto_only()
    watcher: Watcher = watch(broker.port, [f"{BASE}/#"])
    store = Store(tmp_path / "agent.db")
    mirror = make_mirror(store, broker.port)
    root = host_copy("x86-hwmon", tmp_path)

    async def steps() -> None:
        await asyncio.to_thread(watcher.wait_last, STATUS, b"online")
        mirror.set_snapshot(read(root))
        await asyncio.to_thread(watcher.wait_last, f"{ZONE}/nvme_Composite", b"38.9")
        shutil.rmtree(root / "sys/class/hwmon/hwmon1")  # the NVMe drive is gone
        mirror.set_snapshot(read(root))
        await asyncio.to_thread(watcher.wait_last, f"{ZONE}/nvme_Composite", b"")
        await asyncio.to_thread(watcher.wait_last, f"{ZONE}/nvme_Sensor_1", b"")

    asyncio.run(run_mirror(mirror, watcher, steps))
    assert retained_on(watch, broker.port, f"{ZONE}/nvme_Composite") is None
    assert retained_on(watch, broker.port, f"{ZONE}/nvme_Sensor_1") is None
    assert retained_on(watch, broker.port, f"{ZONE}/pch_cannonlake") == b"52.0"
    state = watcher.last(STATE)
    assert state is not None and "nvme Composite" not in state.json()["temperatures"]
    store.close()


def test_a_zone_gone_while_the_agent_was_down_is_cleared_at_the_next_start(
    mosquitto_only, tmp_path: Path, watch
) -> None:
    broker = mosquitto_only()
    watcher: Watcher = watch(broker.port, [f"{BASE}/#"])
    root = host_copy("x86-hwmon", tmp_path)

    store = Store(tmp_path / "agent.db")
    first = make_mirror(store, broker.port)

    async def before() -> None:
        await asyncio.to_thread(watcher.wait_last, STATUS, b"online")
        first.set_snapshot(read(root))
        await asyncio.to_thread(watcher.wait_last, f"{ZONE}/it8728_temp2", b"28.0")

    asyncio.run(run_mirror(first, watcher, before))
    store.close()
    shutil.rmtree(root / "sys/class/hwmon/hwmon4")  # the Super-I/O driver is not loaded after the reboot

    store = Store(tmp_path / "agent.db")
    second = make_mirror(store, broker.port)

    async def after() -> None:
        await asyncio.to_thread(watcher.wait_last, STATUS, b"offline")
        await asyncio.to_thread(watcher.wait_last, STATUS, b"online")
        second.set_snapshot(read(root))
        await asyncio.to_thread(watcher.wait_last, f"{ZONE}/it8728_temp2", b"")

    asyncio.run(run_mirror(second, watcher, after))
    assert retained_on(watch, broker.port, f"{ZONE}/it8728_temp1") is None
    assert retained_on(watch, broker.port, f"{ZONE}/it8728_temp2") is None
    assert retained_on(watch, broker.port, f"{ZONE}/coretemp_Core_0") == b"44.0"
    store.close()


def test_home_assistant_gets_one_temperature_entity_per_zone_and_one_for_the_cpu(
    mosquitto_only, tmp_path: Path, watch
) -> None:
    broker = mosquitto_only()
    watcher: Watcher = watch(broker.port, ["homeassistant/sensor/#", STATUS])
    store = Store(tmp_path / "agent.db")
    mirror = make_mirror(store, broker.port, home_assistant=True)
    snapshot = read(host_copy("pi4", tmp_path))
    zone_config = "homeassistant/sensor/dev-t/temperature_cpu-thermal/config"
    cpu_config = "homeassistant/sensor/dev-t/cpu_temperature/config"

    async def steps() -> None:
        await asyncio.to_thread(watcher.wait_last, STATUS, b"online")
        mirror.set_snapshot(snapshot)
        await asyncio.to_thread(
            watcher.wait_for,
            "both configs",
            lambda seen: {zone_config, cpu_config} <= {m.topic for m in seen},
        )

    asyncio.run(run_mirror(mirror, watcher, steps))
    zone = watcher.last(zone_config)
    cpu = watcher.last(cpu_config)
    assert zone is not None and cpu is not None
    assert zone.json()["state_topic"] == f"{ZONE}/cpu-thermal"
    assert zone.json()["name"] == "Temperature cpu-thermal"
    assert zone.json()["unique_id"] == "edge_agent_dev-t_temperature_cpu-thermal"
    assert (zone.json()["device_class"], zone.json()["unit_of_measurement"]) == ("temperature", "°C")
    assert cpu.json()["state_topic"] == CPU
    assert (cpu.json()["device_class"], cpu.json()["unit_of_measurement"]) == ("temperature", "°C")
    zones = [m.topic for m in watcher.seen if "/temperature_" in m.topic]
    assert set(zones) == {zone_config}  # the Pi has one zone: one entity
    store.close()
