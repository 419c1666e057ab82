"""Fixtures for the MQTT tests: real brokers, real agent processes, plain subscribers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Callable, Optional

import pytest
from mqtt_agent_process import AgentProcess
from mqtt_brokers import BrokerProcess, have_mosquitto, make_broker, mosquitto
from mqtt_watch import Watcher
from net_gate import NetGate

BROKERS = ["mosquitto", "amqtt"]


@pytest.fixture(params=BROKERS)
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BrokerProcess]:
    """Each test that asks for it runs once against mosquitto and once against amqtt."""
    if request.param == "mosquitto" and not have_mosquitto():
        pytest.skip("mosquitto is not installed (.ci/run installs it)")
    process = make_broker(request.param, tmp_path).start()
    yield process
    process.kill()


@pytest.fixture
def mosquitto_only(tmp_path: Path) -> Callable[..., BrokerProcess]:
    """A mosquitto with extra config lines (TLS, passwords, MQTT 5), started on demand."""
    if not have_mosquitto():
        pytest.skip("mosquitto is not installed (.ci/run installs it)")
    started: list[BrokerProcess] = []

    def start(extra: str = "") -> BrokerProcess:
        process = mosquitto(tmp_path, extra=extra).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
def watch() -> Iterator[Callable[..., Watcher]]:
    watchers: list[Watcher] = []

    def make(port: int, topics: list[str], **options: object) -> Watcher:
        watcher = Watcher(port, topics, **options)  # type: ignore[arg-type]
        watchers.append(watcher)
        return watcher

    yield make
    for watcher in watchers:
        watcher.close()


@pytest.fixture
def gate() -> Iterator[Callable[[int], NetGate]]:
    gates: list[NetGate] = []

    def make(target_port: int) -> NetGate:
        made = NetGate(target_port)
        gates.append(made)
        return made

    yield make
    for made in gates:
        made.close()


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    """Start agents (``start_agent(config_path)``); every one still running is killed at the end."""
    agents: list[AgentProcess] = []

    def start(config: Path, log_name: Optional[str] = None) -> AgentProcess:
        log = tmp_path / (log_name or f"{config.stem}.log")
        agent = AgentProcess(config, log)
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.kill()
