"""The AI-box platform simulator, driven over real HTTP on loopback as a device would."""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from support.http import loopback_client

from edge_agent.simulators.base import SimClock, SimulatorServer
from edge_agent.vendors.aibox.simulator import STRATEGY_FLAGS, AiBoxSimulator

START = datetime(2020, 3, 31, 2, 10, 2, tzinfo=timezone.utc)  # 10:10:02 at +08

# The request example of seed 002, as the vendor publishes it.
SEED_REQUEST: dict[str, Any] = {
    "operator": "heartbeat",
    "deviceInfo": {
        "serialNumber": "I320013590DEA0BE21F6958",
        "platformID": "64010000001110000001",
        "IP": "192.168.1.233",
        "MAC": "5a:58:12:7f:23:a2",
        "SN": "I320315D7248CAA258793D9",
        "DID": "IOTBEE-274996-YPHPK",
        "deviceType": "0x0002",
        "deviceVersion": "V1.0.0",
    },
    "info": {"eventId": 1, "time": "2020-03-31T10:10:01+08", "strategyVersion": "v1.0.0"},
}
SERIAL = SEED_REQUEST["deviceInfo"]["serialNumber"]


def heartbeat(event_id: int = 1, **info: Any) -> dict[str, Any]:
    body = copy.deepcopy(SEED_REQUEST)
    body["info"]["eventId"] = event_id
    body["info"].update(info)
    return body


class Platform:
    """The simulator behind a real loopback server, and a client to post to it."""

    def __init__(self, sim: AiBoxSimulator, server: SimulatorServer, client: httpx.Client) -> None:
        self.sim, self.server, self.client = sim, server, client

    def post(self, body: Any, timeout: float = 5.0) -> httpx.Response:
        return self.client.post(f"{self.server.url}/heartbeat", json=body, timeout=timeout)

    def ack(self, body: Any) -> dict[str, Any]:
        response = self.post(body)
        assert response.status_code == 200
        return json.loads(response.text)  # strict: the seed's own Ack example is not valid JSON


@pytest.fixture
def clock() -> SimClock:
    return SimClock(START)


@pytest.fixture
def platform(clock: SimClock) -> Iterator[Platform]:
    sim = AiBoxSimulator(clock)
    with SimulatorServer(sim) as server, loopback_client() as client:
        yield Platform(sim, server, client)


def test_the_seed_heartbeat_is_acked_with_its_event_id_and_error_no_zero(platform: Platform) -> None:
    ack = platform.ack(heartbeat(41))
    assert ack["operator"] == "heartbeat-Ack"
    assert ack["info"]["eventId"] == 41
    assert ack["result"]["errorNo"] == 0
    assert platform.sim.delivered(SERIAL) == {41}


def test_keys_are_read_case_insensitively(platform: Platform) -> None:
    body = {
        "Operator": "heartbeat",
        "deviceinfo": {k.lower(): v for k, v in SEED_REQUEST["deviceInfo"].items()},
        "INFO": {"eventid": 7, "TIME": "2020-03-31T10:10:01+08", "strategyversion": "v1.0.0"},
    }
    ack = platform.ack(body)
    assert ack["result"]["errorNo"] == 0
    assert ack["info"]["eventId"] == 7


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ("deviceInfo", "serialNumber"),
        ("deviceInfo", "IP"),
        ("deviceInfo", "MAC"),
        ("deviceInfo", "deviceType"),
        ("deviceInfo", "deviceVersion"),
        ("info", "eventId"),
        ("info", "time"),
        ("info", "strategyVersion"),
    ],
)
def test_a_missing_required_field_is_refused_with_a_description_naming_it(
    platform: Platform, section: str, field: str
) -> None:
    body = heartbeat(5)
    del body[section][field]
    ack = platform.ack(body)
    assert ack["result"]["errorNo"] != 0
    assert field in ack["result"]["description"]
    assert platform.sim.delivered(SERIAL) == set()
    assert platform.sim.events(SERIAL) == []


@pytest.mark.parametrize("event_id", ["1", True, 1.5, None])
def test_an_event_id_that_is_not_an_integer_is_refused(platform: Platform, event_id: Any) -> None:
    ack = platform.ack(heartbeat(event_id))
    assert ack["result"]["errorNo"] != 0
    assert "eventId" in ack["result"]["description"]


def test_a_refused_heartbeat_still_echoes_its_event_id(platform: Platform) -> None:
    body = heartbeat(9)
    del body["deviceInfo"]["MAC"]
    assert platform.ack(body)["info"]["eventId"] == 9


@pytest.mark.parametrize(
    "event_time",
    [
        "2020-03-31T10:10:01+08",
        "20200331T101001+08",
        "2020-03-31T10:10:01+08:00",
        "2020-03-31T10:10:01+0800",
        "20200331T101001+0800",
        "20200331T10:10:01+08:00",
        "2020-03-31T02:10:01Z",
        "2020-03-30T21:10:01-05:00",
    ],
)
def test_every_time_format_the_vendor_writes_is_accepted(platform: Platform, event_time: str) -> None:
    assert platform.ack(heartbeat(1, time=event_time))["result"]["errorNo"] == 0


@pytest.mark.parametrize(
    "event_time",
    [
        "yesterday",
        "2020-03-31 10:10:01+08",
        "2020-03-31T10:10:01",
        "2020-13-31T10:10:01+08",
        "2020-02-30T10:10:01+08",
        "2020-03-31T24:10:01+08",
        "2020-0331T10:10:01+08",
        "2020-03-31T10:10:01+25",
        "",
        "\uff12\uff10\uff12\uff10-03-31T10:10:01+08",  # full-width digits
    ],
)
def test_a_time_that_is_not_iso_8601_is_refused(platform: Platform, event_time: str) -> None:
    ack = platform.ack(heartbeat(1, time=event_time))
    assert ack["result"]["errorNo"] != 0
    assert "time" in ack["result"]["description"]


def test_the_ack_time_is_the_platform_clock_in_the_basic_format_by_default(platform: Platform) -> None:
    assert platform.ack(heartbeat())["info"]["time"] == "20200331T101002+08"


def test_the_ack_time_can_be_written_in_the_extended_format(platform: Platform, clock: SimClock) -> None:
    platform.sim.set_time_format("extended")
    clock.advance(60)
    assert platform.ack(heartbeat())["info"]["time"] == "2020-03-31T10:11:02+08:00"


def test_the_full_strategy_is_sent_when_the_device_strategy_version_differs(platform: Platform) -> None:
    platform.sim.set_strategy(version="v2.0.0", isPetDetectEnable=False, passenger_statics_interval=6)
    strategy = platform.ack(heartbeat(strategyVersion="v1.0.0"))["info"]["strategy"]
    assert set(strategy) == {"passengerStaticsInterval", "heartBeatInterval", *STRATEGY_FLAGS}
    assert len(STRATEGY_FLAGS) == 27
    assert strategy["isPetDetectEnable"] is False
    assert strategy["isFallDetectEnable"] is True
    assert strategy["passengerStaticsInterval"] == 6


def test_no_strategy_is_sent_when_the_device_already_has_the_platform_version(platform: Platform) -> None:
    platform.sim.set_strategy(version="v1.0.0")
    assert "strategy" not in platform.ack(heartbeat(strategyVersion="v1.0.0"))["info"]


def test_both_interval_fields_follow_the_platform_settings(platform: Platform) -> None:
    platform.sim.set_strategy(version="v9")
    platform.sim.set_intervals(heartbeat_interval=15, strategy_heartbeat_interval=45)
    info = platform.ack(heartbeat())["info"]
    assert info["heartbeatInterval"] == 15
    assert info["strategy"]["heartBeatInterval"] == 45


def test_the_event_send_mode_follows_the_platform_setting(platform: Platform) -> None:
    assert platform.ack(heartbeat(1))["info"]["eventSendMode"] == "realTime"
    platform.sim.set_event_send_mode("Retransmission")
    assert platform.ack(heartbeat(2))["info"]["eventSendMode"] == "Retransmission"


def test_the_mqtt_flavour_session_and_message_ids_are_echoed(platform: Platform) -> None:
    body = heartbeat(3)
    body["sessionId"] = "SID:1234567890-000001"
    body["messageId"] = "MID:localhost-122334455667-12232323232323-000001"
    ack = platform.ack(body)
    assert ack["sessionId"] == body["sessionId"]
    assert ack["messageId"] == body["messageId"]


def test_a_retransmitted_event_is_counted_once_as_a_duplicate_and_acked_the_same(
    platform: Platform, clock: SimClock
) -> None:
    first = platform.ack(heartbeat(12))
    clock.advance(30)
    second = platform.ack(heartbeat(12))
    assert second["result"] == first["result"]
    assert second["info"]["eventId"] == first["info"]["eventId"]
    assert platform.sim.duplicates(SERIAL) == {12: 1}
    arrivals = platform.sim.events(SERIAL)
    assert [e.duplicate for e in arrivals] == [False, True]
    assert arrivals[1].first_seen == START
    assert arrivals[1].received_at > START


def test_events_are_listed_in_arrival_order_per_serial_number(platform: Platform) -> None:
    other = heartbeat(1)
    other["deviceInfo"]["serialNumber"] = "OTHER"
    for body in (heartbeat(3), other, heartbeat(1), heartbeat(2)):
        platform.ack(body)
    assert [e.event_id for e in platform.sim.events(SERIAL)] == [3, 1, 2]
    assert [e.event_id for e in platform.sim.events("OTHER")] == [1]
    assert platform.sim.duplicates(SERIAL) == {}


def test_a_dropped_ack_leaves_the_event_undelivered_until_it_is_resent(platform: Platform) -> None:
    platform.sim.drop_acks(1)
    dropped = platform.post(heartbeat(20))
    assert dropped.content == b""
    assert platform.sim.delivered(SERIAL) == set()
    assert platform.ack(heartbeat(20))["result"]["errorNo"] == 0
    assert platform.sim.delivered(SERIAL) == {20}
    assert platform.sim.duplicates(SERIAL) == {20: 1}


def test_a_failed_ack_carries_the_error_number_and_forces_a_resend(platform: Platform) -> None:
    platform.sim.fail_acks(2, error_no=17)
    assert platform.ack(heartbeat(30))["result"]["errorNo"] == 17
    assert platform.ack(heartbeat(30))["result"]["errorNo"] == 17
    assert platform.sim.delivered(SERIAL) == set()
    assert platform.ack(heartbeat(30))["result"]["errorNo"] == 0
    assert platform.sim.delivered(SERIAL) == {30}
    assert platform.sim.duplicates(SERIAL) == {30: 2}


def test_a_delayed_ack_makes_a_device_that_gave_up_resend_the_same_event(clock: SimClock) -> None:
    gate = threading.Event()
    sim = AiBoxSimulator(clock, sleep=lambda seconds: gate.wait(10))
    sim.delay_acks(1, seconds=60)
    with SimulatorServer(sim) as server, loopback_client() as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post(f"{server.url}/heartbeat", json=heartbeat(40), timeout=0.3)
        resent = client.post(f"{server.url}/heartbeat", json=heartbeat(40), timeout=5)
        gate.set()
    assert resent.json()["result"]["errorNo"] == 0
    assert sim.duplicates(SERIAL) == {40: 1}


def test_a_body_that_is_not_json_is_refused(platform: Platform) -> None:
    response = platform.client.post(f"{platform.server.url}/heartbeat", content=b"{not json")
    assert response.status_code == 400
    assert response.json()["result"]["errorNo"] != 0


def test_another_operator_is_refused(platform: Platform) -> None:
    body = heartbeat(1)
    body["operator"] = "StartupReport"
    assert platform.ack(body)["result"]["errorNo"] != 0


def test_a_get_is_refused(platform: Platform) -> None:
    assert platform.client.get(f"{platform.server.url}/heartbeat").status_code == 405


def test_the_ack_time_matches_the_basic_pattern_for_any_clock(platform: Platform, clock: SimClock) -> None:
    clock.advance(12345.6)
    assert re.fullmatch(r"\d{8}T\d{6}\+08", platform.ack(heartbeat())["info"]["time"])
