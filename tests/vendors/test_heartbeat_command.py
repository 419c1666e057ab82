"""``edge-agent heartbeat NAME [--dry-run]`` as a user runs it: a subprocess, a config file, a simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from test_telecomx_format import SEED_APP_FIELDS, SEED_REQUEST_FIELDS, is_seed_type
from vendor_helpers import HARDWARE_KEY, TOKEN

from edge_agent.simulators.base import SimulatorServer
from edge_agent.store import Store
from edge_agent.vendors.telecomx.simulator import TelecomXSimulator
from edge_agent.vendors.xyte.simulator import XyteSimulator

HOST = Path(__file__).resolve().parents[1] / "fixtures" / "hosts" / "android-tablet"
# What the android-tablet fixture can tell, in Telecom X's names.
TABLET_FIELDS = {
    "token", "wifiLinkSpeed", "wifiSignalStrength", "freeMemory", "uptime", "batteryState", "chargingState",
    "temperatureZones", "appStatus", "place", "noEvents",
}  # fmt: skip


def write_config(tmp_path: Path, tx_url: str, xyte_url: str) -> Path:
    (tmp_path / "token").write_text(TOKEN + "\n", encoding="utf-8")
    path = tmp_path / "edge-agent.toml"
    path.write_text(
        f"""
[device]
id = "tablet-7"

[metrics]
host_root = "{HOST}"

[storage]
path = "{tmp_path / "state" / "agent.db"}"

[heartbeats.lobby]
vendor = "telecomx"
url = "{tx_url}/iptv/app/heartbeat"
token_file = "token"
apps = ["com.telecomx.iptv", "com.example.missing"]
place = "launcher"

[heartbeats.hub]
vendor = "xyte"
entry_url = "{xyte_url}"
hardware_key = "{HARDWARE_KEY}"
sn = "SN-77"
cloud_id = "ACME-77"
firmware_version = "2.1.0"
""",
        encoding="utf-8",
    )
    return path


def edge_agent(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_AGENT_")}
    env["PATH"] = f"{HOST / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}"  # the fixture's dumpsys & co
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_dry_run_prints_the_telecomx_request_field_for_field_with_the_token_masked(tmp_path: Path) -> None:
    app = TelecomXSimulator()
    app.add_device(TOKEN)
    with SimulatorServer(app) as server:
        config = write_config(tmp_path, server.url, "http://127.0.0.1:9")
        done = edge_agent("heartbeat", "lobby", "-c", str(config), "--dry-run")
        assert server.requests == []  # nothing sent
    assert done.returncode == 0, done.stderr
    assert TOKEN not in done.stdout
    shown = json.loads(done.stdout)
    assert shown["method"] == "POST" and shown["url"] == f"{server.url}/iptv/app/heartbeat"
    assert shown["headers"]["Content-Type"] == "application/json"
    body = shown["body"]
    assert set(body) == TABLET_FIELDS
    assert body["token"] == "****"
    for key, value in body.items():
        assert is_seed_type(value, SEED_REQUEST_FIELDS[key]), key
    assert body["wifiLinkSpeed"] == 286.0 and body["freeMemory"] == 33 and body["uptime"] == 351240
    assert body["temperatureZones"] == "38.5,41.2,40.1,31,33.4,34,39.8"
    assert body["appStatus"] == {
        "com.telecomx.iptv": {"installed": True, "versionName": "2.4.1", "versionCode": 2041},
        "com.example.missing": {"installed": False},
    }
    for app_status in body["appStatus"].values():
        assert all(is_seed_type(value, SEED_APP_FIELDS[key]) for key, value in app_status.items())
    assert not (tmp_path / "state").exists()  # a dry run leaves no store behind


def test_dry_run_of_an_unregistered_xyte_device_prints_its_registration_and_says_so(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9")
    done = edge_agent("heartbeat", "hub", "-c", str(config), "--dry-run")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert (shown["method"], shown["url"]) == ("POST", "http://127.0.0.1:9/v1/devices")
    assert shown["body"] == {
        "hardware_key": "****",
        "sn": "SN-77",
        "firmware_version": "2.1.0",
        "cloud_id": "ACME-77",
    }
    assert "registration" in shown["note"]
    assert HARDWARE_KEY not in done.stdout


def test_a_real_beat_registers_and_then_dry_run_shows_the_telemetry_with_the_key_masked(
    tmp_path: Path,
) -> None:
    app = XyteSimulator()
    app.add_model(HARDWARE_KEY)
    with SimulatorServer(app) as server:
        config = write_config(tmp_path, "http://127.0.0.1:9", server.url)
        sent = edge_agent("heartbeat", "hub", "-c", str(config))
        assert sent.returncode == 0, sent.stderr
        device = app.device_by_sn("SN-77")
        assert device is not None
        before = len(server.requests)
        preview = edge_agent("heartbeat", "hub", "-c", str(config), "--dry-run")
        assert len(server.requests) == before
    printed: dict[str, Any] = json.loads(sent.stdout)
    assert printed["outcome"]["ok"] is True and printed["reply"]["device_id"] == device.id
    assert preview.returncode == 0, preview.stderr
    assert device.access_key not in preview.stdout
    shown = json.loads(preview.stdout)
    assert shown["url"] == f"{server.url}/v1/devices/{device.id}/telemetry"
    assert shown["headers"]["Authorization"] == "****"
    assert set(shown["body"]) == {"status", "timestamp", "telemetries", "override"}
    assert shown["body"]["telemetries"]["wifi_link_mbps"] == 286.0


def test_a_real_beat_queues_the_replys_actions_in_the_store_and_prints_them(tmp_path: Path) -> None:
    app = TelecomXSimulator()
    app.add_device(TOKEN)
    app.queue_action(TOKEN, {"type": "MESSAGE", "date": 1, "message": "Lunch is ready", "notify": 0})
    with SimulatorServer(app) as server:
        config = write_config(tmp_path, server.url, "http://127.0.0.1:9")
        done = edge_agent("heartbeat", "lobby", "-c", str(config))
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["outcome"]["ok"] is True and printed["outcome"]["actions"] == 1
    assert printed["reply"]["actions"][0]["message"] == "Lunch is ready"
    assert [event["type"] for event in printed["events"]] == ["action.received"]
    store = Store(tmp_path / "state" / "agent.db")
    try:
        [entry] = store.journal.in_state("received")
    finally:
        store.close()
    assert entry.type == "MESSAGE" and entry.payload["message"] == "Lunch is ready"


def test_a_failed_beat_exits_1_and_an_unknown_endpoint_exits_2(tmp_path: Path) -> None:
    app = TelecomXSimulator()  # no devices: our token is unknown
    with SimulatorServer(app) as server:
        config = write_config(tmp_path, server.url, "http://127.0.0.1:9")
        refused = edge_agent("heartbeat", "lobby", "-c", str(config))
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["outcome"]["status"] == 403
    unknown = edge_agent("heartbeat", "nowhere", "-c", str(config), "--dry-run")
    assert unknown.returncode == 2 and "lobby" in unknown.stderr and "hub" in unknown.stderr
