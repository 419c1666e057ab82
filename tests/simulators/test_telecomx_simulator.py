"""The Telecom X heartbeat simulator, driven over real HTTP on loopback as a tablet would."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from support.http import loopback_client

from edge_agent.simulators.base import SimClock, SimulatorServer
from edge_agent.vendors.telecomx import simulator as telecomx
from edge_agent.vendors.telecomx.simulator import TelecomXSimulator

START = datetime(2025, 3, 4, 8, 9, 0, tzinfo=timezone.utc)
TOKEN = "12345678901234567890ABCD"  # the shape of the wiki's example tokens

# Every documented field, with the seed's types, plus one the seed does not name.
FULL_BODY: dict[str, Any] = {
    "token": TOKEN,
    "cpuUsage": "12.5",
    "wifiLinkSpeed": 72,
    "wifiSignalStrength": -61,
    "freeMemory": 43.2,
    "uptime": 86400,
    "remoteRtt": 18.5,
    "remotePacketLoss": 0,
    "batteryState": 88,
    "chargingState": True,
    "place": "launcher",
    "awakeState": True,
    "turnedOff": False,
    "interactions": 3,
    "temperatureZones": "41.5,38,44",
    "noEvents": False,
    "appStatus": {
        "dr.ramasjang.dk": {
            "name": "Ramasjang",
            "versionCode": 1931,
            "versionName": "19.31.3",
            "installed": True,
        }
    },
}


class Platform:
    """The simulator behind a real loopback server, and a client to post heartbeats to it."""

    def __init__(self, sim: TelecomXSimulator, server: SimulatorServer, client: httpx.Client) -> None:
        self.sim, self.server, self.client = sim, server, client

    @property
    def url(self) -> str:
        return f"{self.server.url}{telecomx.HEARTBEAT_PATH}"

    def beat(self, **fields: Any) -> httpx.Response:
        return self.client.post(self.url, json={"token": TOKEN, **fields})

    def actions(self, **fields: Any) -> list[dict[str, Any]]:
        response = self.beat(**fields)
        assert response.status_code == 200, response.text
        return response.json()


@contextmanager
def serve(sim: TelecomXSimulator) -> Iterator[Platform]:
    with SimulatorServer(sim) as server, loopback_client(timeout=5.0) as client:
        yield Platform(sim, server, client)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(START)


@pytest.fixture
def platform(clock: SimClock) -> Iterator[Platform]:
    sim = TelecomXSimulator(clock, rng=random.Random(7))
    sim.add_device(TOKEN, device_id="TAB-1")
    with serve(sim) as platform:
        yield platform


@pytest.fixture
def strict_platform(clock: SimClock) -> Iterator[Platform]:
    sim = TelecomXSimulator(clock, rng=random.Random(7), strict=True)
    sim.add_device(TOKEN, device_id="TAB-1")
    with serve(sim) as platform:
        yield platform


def test_a_heartbeat_returns_queued_actions_in_order_and_empties_the_queue(platform: Platform) -> None:
    platform.sim.queue_action(TOKEN, {"type": "MESSAGE", "message": "We need to reboot your box"})
    platform.sim.queue_action(TOKEN, {"type": "REBOOT"})

    first = platform.actions()
    second = platform.actions()

    assert [action["type"] for action in first] == ["MESSAGE", "REBOOT"]
    assert first[0]["message"] == "We need to reboot your box"
    assert second == []


def test_a_heartbeat_with_nothing_queued_answers_an_empty_json_array(platform: Platform) -> None:
    response = platform.beat()

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == []


def test_no_events_returns_the_actions_but_keeps_them_queued(platform: Platform) -> None:
    platform.sim.queue_action(TOKEN, {"type": "START_APP", "app": "com.android.raider"})

    peeked = platform.actions(noEvents=True)
    consumed = platform.actions()

    assert [action["app"] for action in peeked] == ["com.android.raider"]
    assert consumed == peeked
    assert platform.actions() == []


def test_queued_actions_get_the_simulator_time_in_milliseconds_unless_dated(
    platform: Platform, clock: SimClock
) -> None:
    platform.sim.queue_action(TOKEN, {"type": "REBOOT"})
    clock.advance(2.5)
    platform.sim.queue_action(TOKEN, {"type": "REBOOT", "date": 149465758})

    dates = [action["date"] for action in platform.actions()]

    assert dates == [int(START.timestamp() * 1000), 149465758]


def test_a_missing_token_is_access_denied(platform: Platform) -> None:
    response = platform.client.post(platform.url, json={"uptime": 5})

    assert response.status_code == 403
    assert response.json() == {"error": "access_denied", "message": "Insufficient access level"}


def test_an_unknown_token_is_access_denied(platform: Platform) -> None:
    response = platform.client.post(platform.url, json={"token": "000000000000000000000000"})

    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"


@pytest.mark.parametrize(
    ("flag", "key", "text"),
    [
        ("mac_authorized", "mac", "Mac not authorized"),
        ("enabled", "mac", "Device not enabled"),
        ("customer_active", "customer", "Customer not active"),
        ("portal_exists", "portal", "Portal not found"),
    ],
)
def test_each_refused_device_state_answers_its_documented_403(
    platform: Platform, flag: str, key: str, text: str
) -> None:
    platform.sim.set_flags(TOKEN, **{flag: False})

    response = platform.beat()

    assert response.status_code == 403
    assert response.json() == {"error": key, "message": text}


def test_a_refused_heartbeat_neither_consumes_actions_nor_is_recorded(platform: Platform) -> None:
    platform.sim.queue_action(TOKEN, {"type": "REBOOT"})
    platform.sim.set_flags(TOKEN, customer_active=False)
    assert platform.beat(uptime=1).status_code == 403

    platform.sim.set_flags(TOKEN, customer_active=True)

    assert platform.sim.heartbeats(TOKEN) == []
    assert [action["type"] for action in platform.actions()] == ["REBOOT"]


def test_an_injected_internal_error_answers_500_once_and_keeps_the_queue(platform: Platform) -> None:
    platform.sim.queue_action(TOKEN, {"type": "REBOOT"})
    platform.sim.fail_internal()

    failed = platform.beat()
    recovered = platform.actions()

    assert failed.status_code == 500
    assert failed.json()["error"] == "internal_error"
    assert [action["type"] for action in recovered] == ["REBOOT"]


def test_only_post_is_allowed_on_the_heartbeat_path(platform: Platform) -> None:
    response = platform.client.get(platform.url, params={"token": TOKEN})

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_another_path_is_not_found(platform: Platform) -> None:
    response = platform.client.post(f"{platform.server.url}/iptv/app/heartbeats", json={"token": TOKEN})

    assert response.status_code == 404


@pytest.mark.parametrize("body", [b"token=12345678901234567890ABCD", b'[{"token": "x"}]', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_a_bad_request(platform: Platform, body: bytes) -> None:
    response = platform.client.post(platform.url, content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


def test_every_accepted_heartbeat_is_recorded_with_unknown_fields(platform: Platform) -> None:
    assert platform.sim.last_heartbeat(TOKEN) is None

    platform.beat(uptime=10)
    platform.beat(uptime=70, firmwareFlavour="edge-agent")

    bodies = platform.sim.heartbeats(TOKEN)
    assert [body["uptime"] for body in bodies] == [10, 70]
    assert platform.sim.last_heartbeat(TOKEN) == {
        "token": TOKEN,
        "uptime": 70,
        "firmwareFlavour": "edge-agent",
    }


def test_by_default_wrong_types_are_accepted_and_recorded_as_sent(platform: Platform) -> None:
    response = platform.beat(cpuUsage=12.5, freeMemory=150, chargingState="yes")

    assert response.status_code == 200
    assert platform.sim.last_heartbeat(TOKEN)["freeMemory"] == 150


def test_a_reset_token_locks_out_the_old_one_and_keeps_the_device_queue(platform: Platform) -> None:
    platform.sim.queue_action(TOKEN, {"type": "REBOOT"})

    new_token = platform.sim.reset_token("TAB-1")
    old = platform.beat()
    new = platform.client.post(platform.url, json={"token": new_token})

    assert new_token != TOKEN and len(new_token) == 24
    assert old.status_code == 403 and old.json()["error"] == "access_denied"
    assert new.status_code == 200 and [a["type"] for a in new.json()] == ["REBOOT"]


def test_strict_mode_accepts_every_documented_field_with_its_documented_type(
    strict_platform: Platform,
) -> None:
    response = strict_platform.client.post(strict_platform.url, json=FULL_BODY)

    assert response.status_code == 200
    assert strict_platform.sim.last_heartbeat(TOKEN) == FULL_BODY


@pytest.mark.parametrize(
    ("fields", "offender"),
    [
        ({"token": 12345}, "token"),
        ({"cpuUsage": 12.5}, "cpuUsage"),
        ({"uptime": "86400"}, "uptime"),
        ({"interactions": True}, "interactions"),
        ({"freeMemory": 101}, "freeMemory"),
        ({"freeMemory": -1}, "freeMemory"),
        ({"chargingState": "true"}, "chargingState"),
        ({"noEvents": 1}, "noEvents"),
        ({"temperatureZones": [41.5, 38]}, "temperatureZones"),
        ({"temperatureZones": "41.5,hot"}, "temperatureZones"),
        ({"appStatus": ["dr.ramasjang.dk"]}, "appStatus"),
        (
            {"appStatus": {"dr.ramasjang.dk": {"versionCode": "1931"}}},
            "appStatus.dr.ramasjang.dk.versionCode",
        ),
        ({"appStatus": {"dr.ramasjang.dk": {"installed": "yes"}}}, "appStatus.dr.ramasjang.dk.installed"),
    ],
)
def test_strict_mode_names_the_field_of_the_wrong_type(
    strict_platform: Platform, fields: dict[str, Any], offender: str
) -> None:
    body = {**FULL_BODY, **fields}

    response = strict_platform.client.post(strict_platform.url, json=body)

    assert response.status_code == 400
    assert response.json()["field"] == offender
    assert strict_platform.sim.heartbeats(TOKEN) == []


def test_the_error_body_shape_can_be_replaced_with_plain_text(clock: SimClock) -> None:
    sim = TelecomXSimulator(clock, error_body=lambda key, text: text)
    sim.add_device(TOKEN, mac_authorized=False)

    with serve(sim) as platform:
        response = platform.beat()

    assert response.status_code == 403
    assert response.text == "Mac not authorized"


def test_the_demo_seed_provisions_a_token_with_a_welcome_message() -> None:
    sim = telecomx.create()
    credentials = telecomx.seed_demo(sim)

    with SimulatorServer(sim) as server:
        response = httpx.post(
            f"{server.url}{telecomx.HEARTBEAT_PATH}", json={"token": credentials["token"]}, timeout=5.0
        )

    assert response.status_code == 200
    assert [action["type"] for action in response.json()] == ["MESSAGE"]


def test_provisioning_refuses_a_token_already_in_use_and_unknown_flags(platform: Platform) -> None:
    with pytest.raises(ValueError):
        platform.sim.add_device(TOKEN)
    with pytest.raises(TypeError):
        platform.sim.add_device("ANOTHER0TOKEN00000000000", macAuthorised=False)
