"""Healthchecks.io's ping API, against a simulator written from its public docs, over real HTTP."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from vendor_helpers import FakeClock, sample_snapshot

from edge_agent.config import parse_config
from edge_agent.errors import ConfigError, VendorRejectedError, VendorTransportError
from edge_agent.heartbeat.context import StoreContext
from edge_agent.heartbeat.transport import HttpTransport
from edge_agent.model import AppInfo
from edge_agent.simulators.base import SimClock, SimulatorServer
from edge_agent.store import Store
from edge_agent.vendors.healthchecks.adapter import BODY_LIMIT, HealthchecksAdapter
from edge_agent.vendors.healthchecks.simulator import HealthchecksSimulator


@pytest.fixture
def hc() -> Iterator[tuple[HealthchecksSimulator, SimulatorServer]]:
    app = HealthchecksSimulator(SimClock())
    with SimulatorServer(app) as server:
        yield app, server


def adapter(tmp_path: Path, table: str) -> tuple[HealthchecksAdapter, Store]:
    text = f'[device]\nid = "pi-1"\n[heartbeats.cron]\nvendor = "healthchecks"\n{table}\n'
    config = parse_config(text, tmp_path / "edge-agent.toml")
    store = Store(tmp_path / "agent.db")
    context = StoreContext(store, "cron", FakeClock(), lambda event: None, device_id="pi-1")
    return HealthchecksAdapter("cron", config.heartbeats["cron"], context), store


def beat(hc_adapter: HealthchecksAdapter, snapshot: Any = "sample", *, final: bool = False) -> Any:
    async def run() -> Any:
        transport = HttpTransport(hc_adapter.config)
        try:
            shot = sample_snapshot(FakeClock()) if snapshot == "sample" else snapshot
            return await hc_adapter.beat(shot, transport.send, final=final)
        finally:
            await transport.aclose()

    return asyncio.run(run())


def test_a_success_ping_carries_the_snapshot_as_its_log(hc: Any, tmp_path: Path) -> None:
    app, server = hc
    check = app.add_check()
    hc_adapter, store = adapter(tmp_path, f'url = "{server.url}"\nuuid = "{check.uuid}"')
    reply = beat(hc_adapter)
    store.close()
    (ping,) = app.pings(check.uuid)
    assert (ping.kind, ping.method, reply.summary["answer"]) == ("success", "POST", "OK")
    assert '"cpu_percent":12.34' in ping.body and check.status == "up"


def test_no_snapshot_is_a_fail_ping(hc: Any, tmp_path: Path) -> None:
    app, server = hc
    check = app.add_check()
    hc_adapter, store = adapter(tmp_path, f'url = "{server.url}"\nuuid = "{check.uuid}"')
    beat(hc_adapter, None)
    store.close()
    assert [p.kind for p in app.pings(check.uuid)] == ["fail"] and check.status == "down"


def test_start_is_sent_once_per_run_then_success(hc: Any, tmp_path: Path) -> None:
    app, server = hc
    check = app.add_check()
    hc_adapter, store = adapter(tmp_path, f'url = "{server.url}"\nuuid = "{check.uuid}"\nsignal_start = true')
    beat(hc_adapter)
    beat(hc_adapter)
    store.close()
    assert [p.kind for p in app.pings(check.uuid)] == ["start", "success", "success"]


@pytest.mark.parametrize(("on_stop", "kinds"), [("none", []), ("fail", ["fail"]), ("3", ["3"]), ("0", ["0"])])
def test_the_goodbye_is_what_on_stop_says(hc: Any, tmp_path: Path, on_stop: str, kinds: list[str]) -> None:
    app, server = hc
    check = app.add_check()
    hc_adapter, store = adapter(
        tmp_path, f'url = "{server.url}"\nuuid = "{check.uuid}"\non_stop = "{on_stop}"'
    )
    beat(hc_adapter, final=True)
    store.close()
    assert [p.kind for p in app.pings(check.uuid)] == kinds
    assert len(server.requests) == len(kinds)


def test_a_slug_url_on_a_self_hosted_base_creates_the_check(tmp_path: Path) -> None:
    app = HealthchecksSimulator(SimClock(), prefix="/ping")
    app.add_check(slug="other", ping_key="pk-1")  # the project exists; "lobby" does not yet
    with SimulatorServer(app) as server:
        table = f'url = "{server.url}/ping"\nping_key = "pk-1"\nslug = "lobby"\ncreate = true'
        hc_adapter, store = adapter(tmp_path, table)
        reply = beat(hc_adapter)
        store.close()
        assert (reply.status, reply.summary["answer"]) == (201, "Created")
        assert server.requests[0].path == "/ping/pk-1/lobby" and server.requests[0].arg("create") == "1"


@pytest.mark.parametrize("legacy", [False, True])
def test_an_unknown_check_is_refused_never_a_success(tmp_path: Path, legacy: bool) -> None:
    app = HealthchecksSimulator(SimClock())
    app.legacy_bodies = legacy  # 404 "not found", or the older 200 "OK (not found)"
    with SimulatorServer(app) as server:
        hc_adapter, store = adapter(
            tmp_path, f'url = "{server.url}"\nuuid = "{"0" * 8}-0000-4000-8000-{"0" * 12}"'
        )
        with pytest.raises(VendorRejectedError, match="not found"):
            beat(hc_adapter)
        store.close()


@pytest.mark.parametrize("legacy", [False, True])
def test_past_five_pings_a_minute_is_rate_limited_and_retried_later(tmp_path: Path, legacy: bool) -> None:
    clock = SimClock()
    app = HealthchecksSimulator(clock)
    app.legacy_bodies = legacy
    check = app.add_check()
    with SimulatorServer(app) as server:
        hc_adapter, store = adapter(tmp_path, f'url = "{server.url}"\nuuid = "{check.uuid}"')
        for _ in range(5):
            beat(hc_adapter)
        with pytest.raises(VendorTransportError, match="rate limited"):
            beat(hc_adapter)
        clock.advance(61)
        beat(hc_adapter)
        store.close()
    assert len(app.pings(check.uuid)) == 6


def test_the_log_is_capped_at_100_kb(hc: Any, tmp_path: Path) -> None:
    app, server = hc
    check = app.add_check()
    hc_adapter, store = adapter(tmp_path, f'url = "{server.url}"\nuuid = "{check.uuid}"')
    snapshot = sample_snapshot(FakeClock())
    many = {f"app.{i:05d}": AppInfo(f"app.{i:05d}", True, "x" * 40) for i in range(3000)}
    beat(hc_adapter, replace(snapshot, apps=many))
    store.close()
    (request,) = server.requests
    assert 90_000 < len(request.body) <= BODY_LIMIT
    assert _headers(f"{server.url}/{check.uuid}/log")["Ping-Body-Limit"] == str(BODY_LIMIT)


def test_the_preview_masks_the_uuid(tmp_path: Path) -> None:
    uuid = "5f1c3b0e-7d2a-4c4e-9b8a-0c1d2e3f4a5b"
    hc_adapter, store = adapter(tmp_path, f'uuid = "{uuid}"')
    request, _ = hc_adapter.preview(None)
    store.close()
    assert uuid not in str(request.to_display()) and request.url.endswith(f"{uuid}/fail")


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        ('uuid = "5F1C3B0E-7D2A-4C4E-9B8A-0C1D2E3F4A5B"', "UUID"),
        ('ping_key = "k"\nslug = "Lobby Pi"', "slug"),
        ('ping_key = "k"', "both ping_key and slug"),
        ('uuid = "5f1c3b0e-7d2a-4c4e-9b8a-0c1d2e3f4a5b"\nslug = "x"\nping_key = "k"', "not both"),
        ('uuid = "5f1c3b0e-7d2a-4c4e-9b8a-0c1d2e3f4a5b"\non_stop = "256"', "exit status"),
        ('uuid = "5f1c3b0e-7d2a-4c4e-9b8a-0c1d2e3f4a5b"\ncreate = true', "slug URLs only"),
    ],
)
def test_a_wrong_check_address_is_a_config_error(tmp_path: Path, table: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        parse_config(f'[heartbeats.cron]\nvendor = "healthchecks"\n{table}\n', tmp_path / "edge-agent.toml")


def _headers(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.headers


def _status(url: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.parametrize(
    ("suffix", "method", "expected"),
    [
        ("", "GET", (200, "OK")),
        ("", "HEAD", (200, "")),
        ("/log", "GET", (200, "OK")),
        ("/255", "GET", (200, "OK")),
        ("/256", "GET", (400, "invalid url format")),
        ("/-1", "GET", (400, "invalid url format")),
        ("/start/extra", "GET", (400, "invalid url format")),
        ("", "PUT", (405, "method not allowed")),
    ],
)
def test_the_simulator_keeps_the_documented_rules(hc: Any, suffix: str, method: str, expected: Any) -> None:
    app, server = hc
    check = app.add_check()
    assert _status(f"{server.url}/{check.uuid}{suffix}", method) == expected


def test_an_ambiguous_slug_is_a_conflict(hc: Any) -> None:
    app, server = hc
    app.add_check(slug="dup", ping_key="pk")
    app.add_check(slug="dup", ping_key="pk")
    assert _status(f"{server.url}/pk/dup") == (409, "ambiguous slug")
