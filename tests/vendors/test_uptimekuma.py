"""Uptime Kuma push monitors, against a simulator written from its public source, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from vendor_helpers import FakeClock, sample_snapshot

from edge_agent.config import parse_config
from edge_agent.errors import ConfigError, VendorProtocolError, VendorRejectedError
from edge_agent.heartbeat.context import StoreContext
from edge_agent.heartbeat.transport import HttpTransport
from edge_agent.simulators.base import SimClock, SimulatorServer
from edge_agent.store import Store
from edge_agent.vendors.types import HttpRequest, HttpResponse
from edge_agent.vendors.uptimekuma.adapter import UptimeKumaAdapter
from edge_agent.vendors.uptimekuma.simulator import UptimeKumaSimulator


@pytest.fixture
def kuma() -> Iterator[tuple[UptimeKumaSimulator, SimulatorServer]]:
    app = UptimeKumaSimulator(SimClock())
    with SimulatorServer(app) as server:
        yield app, server


def adapter(tmp_path: Path, table: str) -> tuple[UptimeKumaAdapter, Store]:
    text = f'[device]\nid = "pi-1"\n[heartbeats.kuma]\nvendor = "uptimekuma"\n{table}\n'
    config = parse_config(text, tmp_path / "edge-agent.toml")
    store = Store(tmp_path / "agent.db")
    context = StoreContext(store, "kuma", FakeClock(), lambda event: None, device_id="pi-1")
    return UptimeKumaAdapter("kuma", config.heartbeats["kuma"], context), store


def beat(
    kuma_adapter: UptimeKumaAdapter, snapshot: Any = "sample", *, final: bool = False, send: Any = None
) -> Any:
    async def run() -> Any:
        transport = HttpTransport(kuma_adapter.config)
        try:
            shot = sample_snapshot(FakeClock()) if snapshot == "sample" else snapshot
            return await kuma_adapter.beat(shot, send or transport.send, final=final)
        finally:
            await transport.aclose()

    return asyncio.run(run())


def test_an_up_push_carries_the_message_and_the_round_trip(kuma: Any, tmp_path: Path) -> None:
    app, server = kuma
    monitor = app.add_monitor()
    kuma_adapter, store = adapter(
        tmp_path, f'url = "{server.url}"\npush_token = "{monitor.token}"\nmsg = "lobby ok & fine"'
    )
    reply = beat(kuma_adapter)
    store.close()
    (recorded,) = app.beats(monitor.token)
    assert (recorded.status, recorded.msg, recorded.ping) == ("up", "lobby ok & fine", 23.4)
    assert reply.summary == {"sent": "up", "ping": 23.4, "ok": True}
    assert server.requests[0].method == "GET" and server.requests[0].path == f"/api/push/{monitor.token}"


def test_no_snapshot_is_a_down_push_and_an_unknown_round_trip_is_left_out(kuma: Any, tmp_path: Path) -> None:
    app, server = kuma
    monitor = app.add_monitor()
    kuma_adapter, store = adapter(tmp_path, f'url = "{server.url}"\npush_token = "{monitor.token}"')
    beat(kuma_adapter, None)
    beat(kuma_adapter, replace(sample_snapshot(FakeClock()), rtt_ms=None))
    store.close()
    first, second = app.beats(monitor.token)
    assert (first.status, first.msg.startswith("no snapshot"), first.ping) == ("down", True, None)
    assert (second.status, second.ping) == ("up", None)


@pytest.mark.parametrize(("on_stop", "expected"), [("none", []), ("down", [("down", "edge-agent stopped")])])
def test_the_goodbye_is_what_on_stop_says(
    kuma: Any, tmp_path: Path, on_stop: str, expected: list[Any]
) -> None:
    app, server = kuma
    monitor = app.add_monitor()
    kuma_adapter, store = adapter(
        tmp_path, f'url = "{server.url}"\npush_token = "{monitor.token}"\non_stop = "{on_stop}"'
    )
    beat(kuma_adapter, final=True)
    store.close()
    assert [(b.status, b.msg) for b in app.beats(monitor.token)] == expected


@pytest.mark.parametrize("paused", [False, True])
def test_an_unknown_or_paused_monitor_is_refused_with_kumas_reason(
    kuma: Any, tmp_path: Path, paused: bool
) -> None:
    app, server = kuma
    monitor = app.add_monitor()
    token = monitor.token if paused else "NoSuchToken"
    if paused:
        app.pause(monitor.token)
    kuma_adapter, store = adapter(tmp_path, f'url = "{server.url}"\npush_token = "{token}"')
    with pytest.raises(VendorRejectedError, match="Monitor not found or not active"):
        beat(kuma_adapter)
    store.close()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"ok":false,"msg":"nope"}', VendorRejectedError),
        (b'{"ok":"yes"}', VendorProtocolError),
        (b"OK", VendorProtocolError),
    ],
)
def test_only_ok_true_is_a_success(tmp_path: Path, body: bytes, error: type) -> None:
    async def answer(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, body, {"content-type": "application/json"})

    kuma_adapter, store = adapter(tmp_path, 'url = "http://127.0.0.1:9"\npush_token = "abc"')
    with pytest.raises(error):
        beat(kuma_adapter, send=answer)
    store.close()


def test_the_preview_masks_the_token(tmp_path: Path) -> None:
    kuma_adapter, store = adapter(tmp_path, 'url = "http://kuma.local:3001"\npush_token = "SecretPushToken1"')
    request, _ = kuma_adapter.preview(sample_snapshot(FakeClock()))
    store.close()
    assert "SecretPushToken1" not in json.dumps(request.to_display()) and "SecretPushToken1" in request.url


@pytest.mark.parametrize(
    ("token", "reason"), [("has/slash", "letters and digits"), ("x" * 33, "letters and digits")]
)
def test_a_wrong_token_is_a_config_error(tmp_path: Path, token: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        parse_config(
            f'[heartbeats.kuma]\nvendor = "uptimekuma"\nurl = "http://k:3001"\npush_token = "{token}"\n',
            tmp_path / "edge-agent.toml",
        )


def _get(url: str, method: str = "GET") -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        text = exc.read().decode()
        return exc.code, json.loads(text) if text.startswith("{") else text


@pytest.mark.parametrize(
    ("query", "method", "expected"),
    [
        ("", "GET", ("up", "OK", None)),
        ("?status=down&msg=disk%20full", "POST", ("down", "disk full", None)),
        ("?status=UP&ping=12.5ms", "GET", ("down", "OK", 12.5)),  # only "up" is up; parseFloat reads "12.5"
        ("?ping=0", "GET", ("up", "OK", None)),  # parseFloat(0) || null
    ],
)
def test_the_simulator_reads_the_query_as_kuma_does(
    kuma: Any, query: str, method: str, expected: Any
) -> None:
    app, server = kuma
    monitor = app.add_monitor()
    assert _get(f"{server.url}/api/push/{monitor.token}{query}", method) == (200, {"ok": True})
    (recorded,) = app.beats(monitor.token)
    assert (recorded.status, recorded.msg, recorded.ping) == expected


def test_the_simulator_refuses_a_ping_out_of_range_and_other_paths(kuma: Any) -> None:
    app, server = kuma
    monitor = app.add_monitor()
    status, body = _get(f"{server.url}/api/push/{monitor.token}?ping=-5")
    assert status == 404 and body["ok"] is False and body["msg"].startswith("Invalid ping value")
    assert _get(f"{server.url}/api/push/{monitor.token}/extra")[0] == 404
    assert app.beats(monitor.token) == []
