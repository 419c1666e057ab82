"""Fixtures of the broker compatibility suite: every test runs once per engine, and says what it saw.

The engines are mosquitto, amqtt and nats-server (processes of the test, on free ports)
and RabbitMQ's MQTT plugin (on the machine's node, for the session). An engine that is
not installed or not running is skipped with the reason. The MQTT tests' helpers
(brokers, agent processes, the plain subscriber, the network gate) and the fleet tests'
(the CLI as a process) are shared.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional, Union

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "mqtt"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fleet"))

from compat_engines import ENGINES, OwnEngine, own_engine
from compat_rabbitmq import RabbitMqttSession, RabbitUnavailable
from compat_record import CompatResults, FeatureRecord
from mqtt_agent_process import AgentProcess
from mqtt_watch import Watcher
from net_gate import NetGate

RESULTS_ENV = "EDGE_AGENT_COMPAT_RESULTS"

Engine = Union[OwnEngine, RabbitMqttSession]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "compat(*features): the compatibility features a test decides")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"compat_report_{report.when}", report)


@pytest.fixture(scope="session")
def compat_results() -> Iterator[CompatResults]:
    """The session's observations; written to ``$EDGE_AGENT_COMPAT_RESULTS`` when that is set."""
    results = CompatResults()
    yield results
    target = os.environ.get(RESULTS_ENV)
    if target:
        results.write(Path(target))


@pytest.fixture(scope="session")
def rabbitmq() -> Iterator[Union[RabbitMqttSession, str]]:
    """The MQTT plugin on a free port for the whole session, or why it cannot be had."""
    session = RabbitMqttSession()
    try:
        session.start()
    except RabbitUnavailable as exc:
        session.close()
        yield str(exc)
        return
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path, compat_results: CompatResults) -> Iterator[Engine]:
    """Each test that asks for it runs against every engine present on this machine."""
    name = request.param
    if name == "rabbitmq":
        session = request.getfixturevalue("rabbitmq")
        if isinstance(session, str):
            pytest.skip(f"RabbitMQ: {session}")
        compat_results.versions[name] = session.version
        yield session
        return
    started = own_engine(name, tmp_path)
    if started is None:
        pytest.skip(f"{name} is not installed")
    compat_results.versions[name] = started.version
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def compat(
    request: pytest.FixtureRequest, engine: Engine, compat_results: CompatResults
) -> Iterator[FeatureRecord]:
    """What this test decides about its ``@pytest.mark.compat`` features on this engine."""
    marker = request.node.get_closest_marker("compat")
    assert marker is not None, "a compat test names its features with @pytest.mark.compat(...)"
    record = FeatureRecord(engine.name, tuple(marker.args))
    yield record
    setup = getattr(request.node, "compat_report_setup", None)
    call = getattr(request.node, "compat_report_call", None)
    passed: Optional[bool] = None
    if setup is not None and setup.passed and call is not None and not call.skipped:
        passed = call.passed
    for observation in record.finish(passed):
        compat_results.add(observation)


@pytest.fixture
def prefix(engine: Engine, watch: Callable[..., Watcher]) -> Iterator[str]:
    """A topic prefix of this test alone: RabbitMQ's retained messages outlive a test.

    On RabbitMQ every topic the test's devices used gets an empty retained message at the
    end, which deletes what they left retained on the shared node.
    """
    value = f"compat-{uuid.uuid4().hex[:8]}"
    sweeper = watch(engine.port, [f"{value}/#"]) if engine.name == "rabbitmq" else None
    yield value
    if sweeper is not None:
        for topic in sorted({m.topic for m in sweeper.seen}):
            sweeper.publish(topic, b"", retain=True)


@pytest.fixture
def watch() -> Iterator[Callable[..., Watcher]]:
    """Plain subscribers (``watch(port, topics, protocol=...)``), closed at the end."""
    made: list[Watcher] = []

    def make(port: int, topics: list[str], **options: Any) -> Watcher:
        watcher = Watcher(port, topics, **options)
        made.append(watcher)
        return watcher

    yield make
    for watcher in made:
        watcher.close()


@pytest.fixture
def gate() -> Iterator[Callable[[int], NetGate]]:
    """TCP forwarders to a broker, which the test can shut and open (the network, not the broker)."""
    made: list[NetGate] = []

    def make(target_port: int) -> NetGate:
        forwarder = NetGate(target_port)
        made.append(forwarder)
        return forwarder

    yield make
    for forwarder in made:
        forwarder.close()


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    """``edge-agent run -c FILE`` processes; every one still running is killed at the end."""
    agents: list[AgentProcess] = []

    def start(config: Path, log_name: Optional[str] = None) -> AgentProcess:
        agent = AgentProcess(config, tmp_path / (log_name or f"{config.stem}-{len(agents)}.log"))
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.kill()
