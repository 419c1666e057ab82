"""Fixtures for the fleet tests: real brokers (the MQTT tests' processes) and plain MQTT clients."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

# The broker processes and the plain subscriber are shared with the MQTT tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mqtt"))

from mqtt_brokers import BrokerProcess, have_mosquitto, make_broker
from mqtt_watch import Watcher


def _start(kind: str, workdir: Path) -> BrokerProcess:
    if kind == "mosquitto" and not have_mosquitto():
        pytest.skip("mosquitto is not installed (.ci/run installs it)")
    return make_broker(kind, workdir).start()


@pytest.fixture
def mosquitto_broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    """mosquitto: MQTT 5, shared subscriptions."""
    process = _start("mosquitto", tmp_path)
    yield process
    process.kill()


@pytest.fixture(params=["mosquitto", "amqtt"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BrokerProcess]:
    """Once against mosquitto (MQTT 5) and once against amqtt (MQTT 3.1.1 only)."""
    process = _start(request.param, tmp_path)
    yield process
    process.kill()


@pytest.fixture
def client() -> Iterator[Callable[..., Watcher]]:
    """Plain MQTT clients (``client(port, topics, protocol=...)``), closed at the end."""
    made: list[Watcher] = []

    def make(port: int, topics: list[str], **options: object) -> Watcher:
        watcher = Watcher(port, topics, **options)  # type: ignore[arg-type]
        made.append(watcher)
        return watcher

    yield make
    for watcher in made:
        watcher.close()
