"""Fixtures for the device-root tests: one fresh root per test module and root, a broker on loopback."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

# The broker and subscriber helpers are shared with the MQTT tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mqtt"))

from device_root import ALL_ROOTS, DeviceRoot, build, why_not_runnable
from mqtt_brokers import BrokerProcess, have_mosquitto, mosquitto


@pytest.fixture(scope="module", params=ALL_ROOTS)
def root_name(request: pytest.FixtureRequest) -> str:
    """Every root is a parameter, so a root that cannot run here shows as skipped, with why."""
    reason = why_not_runnable(request.param)
    if reason is not None:
        pytest.skip(reason)
    return str(request.param)


@pytest.fixture(scope="module")
def root(root_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceRoot]:
    """A fresh copy of the root (built first if it is not cached), thrown away afterwards."""
    started = time.monotonic()
    facts = build(root_name)
    made = DeviceRoot(root_name, tmp_path_factory.mktemp(f"session-{root_name}"))
    made.record("run_at", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    made.record("python", facts.get("python"))
    made.record("arch", facts.get("arch"))
    made.record("debootstrap_seconds", facts.get("debootstrap_seconds"))
    made.record("prepare_seconds", round(time.monotonic() - started, 1))
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """mosquitto on this host's loopback (a chroot shares the host's network), one per root."""
    if not have_mosquitto():
        pytest.skip("mosquitto is not installed (.ci/run installs it)")
    process = mosquitto(tmp_path_factory.mktemp("broker")).start()
    yield process
    process.kill()
