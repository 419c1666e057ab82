"""Telecom X requests and replies, field by field against seed 000 (no sockets: pure encode/decode)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.clock import FakeClock
from vendor_helpers import TOKEN, sample_snapshot

from edge_agent.config import TelecomXConfig
from edge_agent.errors import VendorAuthError, VendorProtocolError, VendorRejectedError, VendorTransportError
from edge_agent.vendors.telecomx.adapter import decode, encode
from edge_agent.vendors.telecomx.simulator import SEED_JS_LITERAL_REPLY
from edge_agent.vendors.types import HttpResponse

# Seed 000's request table: every field and its declared type.
SEED_REQUEST_FIELDS: dict[str, str] = {
    "token": "String",
    "cpuUsage": "String",
    "wifiLinkSpeed": "Number",
    "wifiSignalStrength": "Number",
    "freeMemory": "Number",
    "uptime": "Number",
    "remoteRtt": "Number",
    "remotePacketLoss": "Number",
    "batteryState": "Number",
    "chargingState": "Boolean",
    "place": "String",
    "awakeState": "Boolean",
    "turnedOff": "Boolean",
    "interactions": "Number",
    "temperatureZones": "String",
    "noEvents": "Boolean",
    "appStatus": "Object",
}
SEED_APP_FIELDS = {"name": "String", "versionCode": "Number", "versionName": "String", "installed": "Boolean"}

# protocols.md R-000-1: the seed's reply example, corrected into JSON.
R_000_1 = "\n".join(
    [
        "[",
        ' {"type":"MESSAGE","message":"We need to reboot your box","date":149465756},',
        ' {"type":"REBOOT","date":149465758},',
        (
            ' {"type":"START_APP","date":123975990,"app":"com.android.raider",'
            '"includeToken":true,"includeDeviceId":true,"includeTechnicalRoomNumber":false},'
        ),
        ' {"type":"UPDATE_APP","date":123868998,"app":"dr.ramasjang.dk","version":"19.31.3"},',
        (
            ' {"type":"MESSAGE","date":123868998,"message":"App is now updated",'
            '"duration":12345678,"notify":"SOUND","repeat":true},'
        ),
        (
            ' {"type":"MESSAGE","date":123868998,"message":"Lunch is ready at 12:00",'
            '"notify":0,"duration":0,"repeat":false}'
        ),
        "]",
    ]
)


def is_seed_type(value: Any, kind: str) -> bool:
    if kind == "String":
        return isinstance(value, str)
    if kind == "Boolean":
        return isinstance(value, bool)
    if kind == "Number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, dict)


def config(**extra: Any) -> TelecomXConfig:
    return TelecomXConfig(vendor="telecomx", token=TOKEN, **extra)


def reply(body: Any, status: int = 200) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status, raw, {"content-type": "application/json"})


def test_the_request_carries_every_statistic_the_snapshot_knows_in_the_seeds_types_and_units() -> None:
    snapshot = sample_snapshot(FakeClock())
    request = encode(
        snapshot, config(apps=["dk.telecomx.tv", "com.android.raider", "not.there"], place="EPG")
    )
    body = request.json_body
    assert request.method == "POST"
    assert request.url == "https://api.telecomx.dk/iptv/app/heartbeat"
    assert request.headers["Content-Type"] == "application/json"
    for key, value in body.items():
        assert key in SEED_REQUEST_FIELDS, f"{key} is not in the seed"
        assert is_seed_type(value, SEED_REQUEST_FIELDS[key]), f"{key}={value!r}"
    assert body["token"] == TOKEN
    assert body["cpuUsage"] == "12.3"
    assert body["freeMemory"] == 42 and 0 <= body["freeMemory"] <= 100
    assert body["uptime"] == 12345
    assert body["wifiLinkSpeed"] == 72.2 and body["wifiSignalStrength"] == -61.0
    assert body["remoteRtt"] == 23.4 and body["remotePacketLoss"] == 0.5
    assert body["batteryState"] == 87.0 and body["chargingState"] is True
    assert body["temperatureZones"] == "41.5,38,30.2"
    assert [float(part) for part in body["temperatureZones"].split(",")] == [41.5, 38.0, 30.2]
    assert body["place"] == "EPG"
    assert body["noEvents"] is False
    assert "turnedOff" not in body
    assert set(body["appStatus"]) == {"dk.telecomx.tv", "com.android.raider"}
    assert body["appStatus"]["dk.telecomx.tv"] == {
        "name": "Telecom X TV",
        "installed": True,
        "versionName": "2.0.4",
        "versionCode": 204,
    }
    assert body["appStatus"]["com.android.raider"] == {"installed": False}
    for app in body["appStatus"].values():
        assert all(is_seed_type(value, SEED_APP_FIELDS[key]) for key, value in app.items())


def test_the_last_beat_before_shutdown_says_turned_off_and_no_events_follows_the_config() -> None:
    body = encode(None, config(no_events=True), final=True).json_body
    assert body == {"token": TOKEN, "turnedOff": True, "noEvents": True}


def test_the_token_is_masked_when_the_request_is_shown() -> None:
    shown = encode(sample_snapshot(FakeClock()), config()).to_display()
    assert shown["body"]["token"] == "****"
    assert TOKEN not in json.dumps(shown)


def test_the_corrected_seed_reply_gives_every_action_with_its_fields() -> None:
    parsed = decode(reply(json.loads(R_000_1)), "tx")
    assert [action.type for action in parsed.actions] == [
        "MESSAGE",
        "REBOOT",
        "START_APP",
        "UPDATE_APP",
        "MESSAGE",
        "MESSAGE",
    ]
    message, reboot, start, update, updated, lunch = (action.to_json() for action in parsed.actions)
    assert message["message"] == "We need to reboot your box" and message["date"] == 149465756
    assert reboot["date"] == 149465758
    assert start["app"] == "com.android.raider"
    assert (start["includeToken"], start["includeDeviceId"], start["includeTechnicalRoomNumber"]) == (
        True,
        True,
        False,
    )
    assert update["app"] == "dr.ramasjang.dk" and update["version"] == "19.31.3"
    assert (updated["notify"], updated["repeat"], updated["duration"]) == ("SOUND", True, 12345678)
    assert (lunch["notify"], lunch["repeat"], lunch["duration"]) == (0, False, 0)
    assert len({action.id for action in parsed.actions}) == 6
    assert all(action.id.startswith("tx:") for action in parsed.actions)
    assert parsed.skipped == ()


def test_the_same_action_delivered_again_gets_the_same_id_and_a_different_one_does_not() -> None:
    first = decode(reply([{"type": "REBOOT", "date": 5}]), "tx").actions[0]
    again = decode(reply([{"date": 5, "type": "REBOOT"}]), "tx").actions[0]
    later = decode(reply([{"type": "REBOOT", "date": 6}]), "tx").actions[0]
    other_endpoint = decode(reply([{"type": "REBOOT", "date": 5}]), "tx2").actions[0]
    assert first.id == again.id
    assert len({first.id, later.id, other_endpoint.id}) == 3


def test_a_video_action_keeps_its_url() -> None:
    video = decode(
        reply([{"type": "VIDEO", "date": 1, "video": "https://cdn.example/a.m3u8"}]), "tx"
    ).actions[0]
    assert video.to_json() == {
        "id": video.id,
        "type": "VIDEO",
        "date": 1,
        "video": "https://cdn.example/a.m3u8",
    }


def test_unknown_types_wrongly_typed_actions_and_unknown_fields_are_skipped_not_fatal() -> None:
    parsed = decode(
        reply(
            [
                {"type": "SELF_DESTRUCT", "date": 1},
                {"type": "MESSAGE", "date": 2, "message": 42},
                {"type": "VIDEO", "date": 3},
                "REBOOT",
                {"type": "REBOOT", "date": 4, "colour": "blue"},
            ]
        ),
        "tx",
    )
    assert [action.to_json()["date"] for action in parsed.actions] == [4]
    assert "colour" not in parsed.actions[0].to_json()
    assert len(parsed.skipped) == 5
    assert any("SELF_DESTRUCT" in reason for reason in parsed.skipped)


def test_an_empty_reply_is_no_actions() -> None:
    assert decode(reply([]), "tx").actions == ()
    assert decode(HttpResponse(200, b""), "tx").actions == ()


@pytest.mark.parametrize(
    "body",
    [SEED_JS_LITERAL_REPLY, b'{"type": "REBOOT"}', b'[{"type": "REBOOT"', b"\xff\xfe", b"[" * 100000],
    ids=["seed-js-literal", "object-not-array", "truncated", "not-utf8", "deeply-nested"],
)
def test_a_reply_that_is_not_a_json_array_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(VendorProtocolError):
        decode(reply(body), "tx")


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("access_denied", "Insufficient access level"),
        ("mac", "Mac not authorized"),
        ("mac", "Device not enabled"),
        ("customer", "Customer not active"),
        ("portal", "Portal not found"),
    ],
)
def test_each_403_is_a_refusal_that_says_what_the_vendor_said(key: str, text: str) -> None:
    with pytest.raises(VendorAuthError) as caught:
        decode(reply({"error": key, "message": text}, 403), "tx")
    assert caught.value.status == 403
    assert key in str(caught.value) and text in str(caught.value)


def test_a_500_is_worth_retrying_and_a_400_is_not() -> None:
    with pytest.raises(VendorTransportError):
        decode(reply({"error": "internal_error"}, 500), "tx")
    with pytest.raises(VendorRejectedError):
        decode(reply({"error": "bad_request"}, 400), "tx")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
action_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["MESSAGE", "REBOOT", "START_APP", "UPDATE_APP", "VIDEO", "OTHER"])},
    optional={
        "date": json_values,
        "message": json_values,
        "notify": json_values,
        "app": json_values,
        "video": json_values,
        "includeToken": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, st.lists(st.one_of(action_like, json_values), max_size=6)))
def test_any_json_reply_gives_a_reply_or_a_protocol_error_never_a_crash(body: Any) -> None:
    try:
        parsed = decode(reply(json.dumps(body).encode()), "tx")
    except VendorProtocolError:
        return
    for action in parsed.actions:
        json.dumps(action.to_json(), allow_nan=False)  # what the journal stores is plain JSON


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_a_reply_or_a_protocol_error(body: bytes) -> None:
    try:
        parsed = decode(HttpResponse(200, body), "tx")
    except VendorProtocolError:
        return
    assert isinstance(parsed.actions, tuple)
