"""End-to-end fixtures: a real broker, every registered vendor's simulator, the agent as a user runs it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The broker, agent-process and subscriber helpers are shared with the MQTT tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mqtt"))

from mqtt_brokers import BrokerProcess, have_mosquitto, make_broker
from support.vendor_world import VendorWorld


@pytest.fixture(params=["mosquitto", "amqtt"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BrokerProcess]:
    if request.param == "mosquitto" and not have_mosquitto():
        pytest.skip("mosquitto is not installed (.ci/run installs it)")
    process = make_broker(request.param, tmp_path).start()
    yield process
    process.kill()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[VendorWorld]:
    made = VendorWorld(tmp_path)
    yield made
    made.close()
