"""AI-box events and Acks, field by field against seed 002 (no sockets: pure encode/decode)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.clock import FakeClock
from vendor_helpers import sample_snapshot

from edge_agent.config import AiBoxConfig
from edge_agent.errors import VendorError, VendorProtocolError, VendorRejectedError, VendorTransportError
from edge_agent.model import Snapshot
from edge_agent.vendors.aibox.format import (
    chosen_interval,
    decode_ack,
    device_info,
    event_body,
    event_request,
    missing_identity,
)
from edge_agent.vendors.aibox.vendor_time import format_event_time, parse_vendor_time
from edge_agent.vendors.types import HttpResponse

# The seed's Ack example exactly as published: 15 commas are missing after "isCarDetectEnable".
SEED_ACK_AS_PUBLISHED = """{
"operator": "heartbeat-Ack",
"info": {
"eventId":1,
"time":"20200331T101002+08",
"heartbeatInterval":1,
"eventSendMode":"realTime",
"strategy":
{
"passengerStaticsInterval": 2,
"heartBeatInterval": 30,
"isCarDetectEnable": true
"isTimedSnapshotEnable": true
}
},
"result": {
"errorNo": 0,
"description": "ok"
}
}"""
EXTENDED_WITH_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}")


def config(**extra: Any) -> AiBoxConfig:
    values: dict[str, Any] = {
        "vendor": "aibox",
        "url": "http://127.0.0.1:1/event",
        "serial_number": "I320013590DEA0BE21F6958",
        "platform_id": "64010000001110000001",
        "sn": "I320315D7248CAA258793D9",
        "did": "IOTBEE-274996-YPHPK",
    }
    values.update(extra)
    return AiBoxConfig(**values)


def ack(**info: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"eventId": 7, "eventSendMode": "realTime"}
    body.update(info)
    return {"operator": "heartbeat-Ack", "info": body, "result": {"errorNo": 0, "description": "ok"}}


def reply(body: Any, status: int = 200) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status, raw)


# -- the request ---------------------------------------------------------------------------


def test_the_event_has_the_seeds_layout_with_the_devices_real_ip_and_mac() -> None:
    snapshot = sample_snapshot(FakeClock())
    body = event_body(config(), device_info(config(), snapshot), 42, "2020-03-31T10:10:01+08:00")
    assert body == {
        "operator": "heartbeat",
        "deviceInfo": {
            "serialNumber": "I320013590DEA0BE21F6958",
            "platformID": "64010000001110000001",
            "IP": "192.168.1.20",
            "MAC": "aa:bb:cc:dd:ee:ff",
            "SN": "I320315D7248CAA258793D9",
            "DID": "IOTBEE-274996-YPHPK",
            "deviceType": "0x0002",
            "deviceVersion": "V1.0.0",
        },
        "info": {"eventId": 42, "time": "2020-03-31T10:10:01+08:00", "strategyVersion": "v1.0.0"},
    }
    request = event_request(config(), body)
    assert request.method == "POST" and request.headers["Content-Type"] == "application/json"


def test_optional_identity_fields_are_left_out_when_not_configured() -> None:
    minimal = AiBoxConfig(vendor="aibox", url="http://127.0.0.1:1/", serial_number="S-1")
    info = device_info(minimal, sample_snapshot(FakeClock()))
    assert set(info) == {"serialNumber", "IP", "MAC", "deviceType", "deviceVersion"}


def test_a_snapshot_without_ip_or_mac_is_reported_with_its_reason_not_invented() -> None:
    clock = FakeClock()
    offline = Snapshot(timestamp=clock.now(), mac="aa:bb:cc:dd:ee:ff", unavailable={"ip": "no default route"})
    assert missing_identity(offline) == "the device has no IP (no default route)"
    assert missing_identity(None) == "the device has no IP (no snapshot) and no MAC (no snapshot)"
    assert missing_identity(sample_snapshot(clock)) is None


# -- times -----------------------------------------------------------------------------------

INSTANT = datetime(2020, 3, 31, 2, 10, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "text",
    [
        "2020-03-31T10:10:01+08",  # the seed's request
        "20200331T101001+08",  # the seed's Ack (basic)
        "2020-03-31T10:10:01+08:00",
        "20200331T10:10:01+08:00",  # the hybrid of a sibling page
        "2020-03-31T10:10:01+0800",
        "20200331T101001+0800",
        "2020-03-31T02:10:01Z",
        "2020-03-30T21:10:01-05",
        "2020-03-31T07:40:01+05:30",
    ],
)
def test_every_time_form_the_vendor_writes_reads_as_the_same_instant(text: str) -> None:
    assert parse_vendor_time(text) == INSTANT


@pytest.mark.parametrize(
    "text",
    ["2020-03-31T10:10:01", "2020-03-31 10:10:01+08", "2020-13-31T10:10:01+08", "2020-03-31T10:10:01+15",
     "2020-03-31T10:10:01+08:60", "yesterday", "", "\uff12\uff10\uff12\uff10-03-31T10:10:01+08"],
)  # fmt: skip
def test_times_the_vendor_never_writes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_vendor_time(text)


def test_the_device_writes_extended_iso_8601_with_its_offset() -> None:
    china = timezone(timedelta(hours=8))
    assert format_event_time(INSTANT, china) == "2020-03-31T10:10:01+08:00"
    assert (
        format_event_time(INSTANT, timezone(timedelta(hours=-3, minutes=-30))) == "2020-03-30T22:40:01-03:30"
    )
    assert EXTENDED_WITH_OFFSET.fullmatch(format_event_time(INSTANT))  # the machine's own zone


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(timezone.utc)
    ),
    st.integers(min_value=-14 * 4, max_value=14 * 4).map(lambda q: timezone(timedelta(minutes=15 * q))),
)
@settings(max_examples=200, deadline=None)
def test_what_the_device_writes_it_reads_back_as_the_same_second(moment: datetime, zone: timezone) -> None:
    text = format_event_time(moment, zone)
    assert EXTENDED_WITH_OFFSET.fullmatch(text)
    assert parse_vendor_time(text) == moment.replace(microsecond=0)


# -- the Ack ---------------------------------------------------------------------------------


def test_a_good_ack_confirms_its_event_and_says_interval_mode_and_strategy() -> None:
    strategy = {"passengerStaticsInterval": 2, "heartBeatInterval": 45, "isFallDetectEnable": True}
    got = decode_ack(reply(ack(time="20200331T101002+08", heartbeatInterval=1, strategy=strategy)), 7)
    assert got.event_id == 7
    assert got.interval == 45  # the strategy's interval governs when a strategy is present
    assert got.send_mode == "realTime"
    assert got.strategy == strategy
    assert got.server_time == datetime(2020, 3, 31, 2, 10, 2, tzinfo=timezone.utc)


def test_keys_and_the_operator_are_read_case_insensitively() -> None:
    body = {
        "OPERATOR": "Heartbeat-ACK",
        "Info": {"EVENTID": 7, "HeartBeatInterval": 90, "EventSendMode": "retransmission"},
        "RESULT": {"ErrorNo": 0},
    }
    got = decode_ack(reply(body), 7)
    assert (got.interval, got.send_mode) == (90, "Retransmission")


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"heartbeatInterval": 120}, 120),  # no strategy: info's field
        ({"heartbeatInterval": 1}, 5),  # the seed's 1 s is clamped up
        ({"heartbeatInterval": 86400}, 3600),
        ({"heartbeatInterval": 1, "strategy": {"heartBeatInterval": 30}}, 30),
        ({"heartbeatInterval": 60, "strategy": {"isFallDetectEnable": True}}, None),  # strategy without one
        ({}, None),  # keep the current interval
        ({"heartbeatInterval": -4}, None),
        ({"heartbeatInterval": "abc"}, None),
        ({"heartbeatInterval": True}, None),
    ],
)
def test_the_interval_follows_protocols_3_6_3_and_is_clamped(info: dict[str, Any], expected: Any) -> None:
    assert decode_ack(reply(ack(**info)), 7).interval == expected


def test_the_seeds_published_ack_is_refused_as_invalid_json_with_the_place_of_the_fault() -> None:
    with pytest.raises(VendorProtocolError, match=r"not valid JSON: Expecting ',' delimiter at line 13"):
        decode_ack(reply(SEED_ACK_AS_PUBLISHED.encode()), 1)


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        (b"", VendorProtocolError, "empty body"),
        ({**ack(), "operator": "heartbeat"}, VendorProtocolError, "operator"),
        (ack(eventId=8), VendorProtocolError, "eventId 8, not 7"),
        (ack(eventId="7x"), VendorProtocolError, "eventId"),
        ({"operator": "heartbeat-Ack", "info": {"eventId": 7}}, VendorProtocolError, "no result.errorNo"),
        (
            {**ack(), "result": {"errorNo": 3, "description": "busy"}},
            VendorTransportError,
            "errorNo 3 (busy)",
        ),
        ([ack()], VendorProtocolError, "not an object"),
        (b"\xff\xfe", VendorProtocolError, "UTF-8"),
    ],
)
def test_anything_but_a_matching_ack_with_error_no_zero_leaves_the_event_undelivered(
    body: Any, error: type[VendorError], words: str
) -> None:
    with pytest.raises(error, match=re.escape(words)):
        decode_ack(reply(body), 7)


def test_http_errors_keep_their_usual_meaning() -> None:
    with pytest.raises(VendorTransportError):
        decode_ack(reply(ack(), status=503), 7)
    with pytest.raises(VendorRejectedError):
        decode_ack(reply({"result": {"errorNo": 1}}, status=400), 7)


def test_an_unreadable_server_time_or_mode_is_noted_and_the_event_still_counts() -> None:
    got = decode_ack(reply(ack(time="31/03/2020", eventSendMode="burst")), 7)
    assert got.server_time is None and got.send_mode is None
    assert any("info.time" in note for note in got.notes)
    assert any("burst" in note for note in got.notes)


def test_chosen_interval_notes_why_it_kept_or_clamped() -> None:
    notes: list[str] = []
    assert chosen_interval({"heartbeatinterval": 1}, None, notes) == 5
    assert notes == ["info.heartbeatInterval 1 s clamped to 5 s"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)


@given(
    st.dictionaries(
        st.sampled_from(["operator", "info", "result", "Info", "RESULT", "x"]), json_values, max_size=4
    ),
    st.dictionaries(
        st.sampled_from(["eventId", "time", "heartbeatInterval", "eventSendMode", "strategy"]),
        json_values,
        max_size=5,
    ),
)
@settings(max_examples=300, deadline=None)
def test_a_hostile_ack_is_either_a_confirmation_or_a_vendor_error(
    top: dict[str, Any], info: dict[str, Any]
) -> None:
    body = dict(top)
    if info:
        body["info"] = info
    try:
        got = decode_ack(reply(body), 7)
    except VendorError:
        return
    assert got.event_id == 7
    assert got.interval is None or 5 <= got.interval <= 3600
    assert got.send_mode in (None, "realTime", "Retransmission")
