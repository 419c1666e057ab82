"""The engine's schedule: endpoints never wait for each other, and a refused request stops only its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from vendor_helpers import TOKEN, telecomx_table, xyte_table

from edge_agent.errors import ConfigError
from edge_agent.simulators.base import Fault, SimulatorServer
from edge_agent.vendors import ADAPTERS, adapter_class
from edge_agent.vendors.telecomx.simulator import TelecomXSimulator
from edge_agent.vendors.xyte.simulator import XyteSimulator

VENDORS_DIR = Path(__file__).resolve().parents[2] / "edge_agent" / "vendors"


def test_a_hung_vendor_does_not_delay_another_endpoint(
    telecomx: tuple[TelecomXSimulator, SimulatorServer], harness_factory: Any
) -> None:
    app, server = telecomx
    hung_app = TelecomXSimulator()
    hung_app.add_device(TOKEN)
    with SimulatorServer(hung_app) as hung_server:
        hung_server.inject(Fault("hang", seconds=5))
        harness = harness_factory(
            telecomx_table(server.url, name="healthy", interval="60")
            + telecomx_table(hung_server.url, name="hung", timeout="120")
        )
        pauses = harness.run(lambda rec: len(rec.outcomes_of("healthy")) == 5)
        assert len(hung_server.requests) == 1  # its one request is still waiting for an answer
    assert harness.recorder.outcomes_of("hung") == []
    assert [o["ok"] for o in harness.recorder.outcomes_of("healthy")] == [True] * 5
    assert pauses[:4] == [60.0] * 4  # the healthy endpoint kept its schedule
    assert len(app.heartbeats(TOKEN)) == 5


def test_a_refused_request_stops_only_its_endpoint_until_the_config_changes(
    telecomx: tuple[TelecomXSimulator, SimulatorServer],
    xyte_sim: tuple[XyteSimulator, SimulatorServer],
    harness_factory: Any,
) -> None:
    _app, server = telecomx
    _xapp, xserver = xyte_sim
    harness = harness_factory(
        telecomx_table(server.url) + xyte_table(xserver.url).replace("hw-key-model-7", "not-a-model")
    )
    # The two endpoints run side by side: wait for both, not for one and a guess at the other.
    harness.run(lambda rec: len(rec.outcomes_of("tx")) >= 4 and len(rec.outcomes_of("xy")) >= 1)
    [refused] = harness.recorder.outcomes_of("xy")
    assert refused["ok"] is False and refused["status"] == 400 and refused["next_in_s"] is None
    assert len(xserver.requests) == 1
    [event] = harness.recorder.events_of("heartbeat.error")
    assert event.data["endpoint"] == "xy" and "Invalid hardware key" in event.data["error"]


def test_disabled_endpoints_and_vendors_without_an_adapter_are_not_started(
    telecomx: tuple[TelecomXSimulator, SimulatorServer], harness_factory: Any
) -> None:
    _app, server = telecomx
    harness = harness_factory(
        telecomx_table(server.url)
        + telecomx_table(server.url, name="off", enabled="false")
        + '[heartbeats.cam]\nvendor = "aibox"\nurl = "http://127.0.0.1:9/x"\nserial_number = "S1"\n'
    )
    heartbeats = harness.config.heartbeats
    runnable = {name for name, hb in heartbeats.items() if hb.enabled and hb.vendor in ADAPTERS}
    assert set(harness.engine.endpoints) == runnable and "off" not in runnable
    assert set(harness.engine.skipped) == {name for name, hb in heartbeats.items() if hb.enabled} - runnable
    harness.run(lambda rec: len(rec.outcomes_of("tx")) == 2)
    assert {name for name, _ in harness.recorder.outcomes} <= runnable


def test_an_unknown_vendor_name_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="telecomx, xyte"):
        adapter_class("nonesuch")


def test_outcomes_have_the_documented_keys(
    telecomx: tuple[TelecomXSimulator, SimulatorServer], harness_factory: Any
) -> None:
    _app, server = telecomx
    harness = harness_factory(telecomx_table(server.url))
    harness.run(lambda rec: len(rec.outcomes) == 1)
    [(name, outcome)] = harness.recorder.outcomes
    assert name == "tx"
    assert outcome == {
        "endpoint": "tx",
        "vendor": "telecomx",
        "ok": True,
        "status": 200,
        "latency_ms": 0.0,
        "time": "2026-11-25T01:02:03.456Z",
        "error": None,
        "actions": 0,
        "next_in_s": 60.0,
    }
