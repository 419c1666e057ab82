"""Fixtures of the vendor tests; the helpers they use live in vendor_helpers.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from support.clock import FakeClock
from vendor_helpers import HARDWARE_KEY, TOKEN, Harness, sample_snapshot, write_config

from edge_agent.simulators.base import SimulatorServer
from edge_agent.vendors.telecomx.simulator import TelecomXSimulator
from edge_agent.vendors.xyte.simulator import XyteSimulator


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def telecomx() -> Iterator[tuple[TelecomXSimulator, SimulatorServer]]:
    app = TelecomXSimulator()
    app.add_device(TOKEN)
    with SimulatorServer(app) as server:
        yield app, server


@pytest.fixture
def xyte_sim() -> Iterator[tuple[XyteSimulator, SimulatorServer]]:
    app = XyteSimulator()
    app.add_model(HARDWARE_KEY)
    with SimulatorServer(app) as server:
        yield app, server


@pytest.fixture
def harness_factory(tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(heartbeats: str, snapshot: Any = "sample") -> Harness:
        chosen = sample_snapshot(clock) if snapshot == "sample" else snapshot
        harness = Harness(write_config(tmp_path, heartbeats), clock, chosen)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()
