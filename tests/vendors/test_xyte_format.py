"""Xyte requests and replies against seed 001 and protocols.md section 2 (pure steps, no sockets)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.clock import FakeClock
from vendor_helpers import HARDWARE_KEY, sample_snapshot

from edge_agent.config import XyteConfig
from edge_agent.errors import VendorAuthError, VendorProtocolError, VendorRejectedError, VendorTransportError
from edge_agent.vendors.semver import is_newer
from edge_agent.vendors.types import HttpResponse
from edge_agent.vendors.xyte import format as xyte
from edge_agent.vendors.xyte.format import Registration

SEED_REPLY = {
    "config_version": 0,
    "command": False,
    "info_version": 0,
    "new_licenses": True,
    "latest_fw_version": "1.3.4",
    "latest_fw_file_id": "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
    "space_data_version": 4,
    "success": True,
}
REGISTRATION = Registration(
    "d8083a34-22c8-4cd8-9acb-1912", "2300742898f3ddc0e62e087ddc4a368c", "https://eu-1.endpoints.xyte.io"
)
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def config(**extra: Any) -> XyteConfig:
    values: dict[str, Any] = {
        "vendor": "xyte",
        "hardware_key": HARDWARE_KEY,
        "sn": "SN-1",
        "firmware_version": "1.2.0",
        "mac": "AA:BB:CC:DD:EE:FF",
    }
    values.update(extra)
    return XyteConfig(**values)


def reply(body: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(status, json.dumps(body).encode(), {"content-type": "application/json"})


def test_registration_goes_to_the_entry_host_with_the_required_fields_and_no_authorization() -> None:
    request = xyte.registration_request(config(name="Lobby screen"))
    assert (request.method, request.url) == ("POST", "https://entry.xyte.io/v1/devices")
    assert request.json_body == {
        "hardware_key": HARDWARE_KEY,
        "sn": "SN-1",
        "firmware_version": "1.2.0",
        "mac": "AA:BB:CC:DD:EE:FF",
        "name": "Lobby screen",
    }
    assert "Authorization" not in request.headers
    assert request.to_display()["body"]["hardware_key"] == "****"


def test_cloud_id_devices_register_with_their_cloud_id() -> None:
    body = xyte.registration_request(config(mac=None, cloud_id="ACME-1b4e28ba")).json_body
    assert body["cloud_id"] == "ACME-1b4e28ba" and "mac" not in body


def test_telemetry_goes_to_the_hub_with_the_raw_access_key_and_the_seed_fields() -> None:
    snapshot = sample_snapshot(FakeClock())
    request = xyte.telemetry_request(
        snapshot, REGISTRATION, override=True, status="online", taken_at=xyte.taken_at(snapshot, None)
    )
    assert request.method == "POST"
    assert request.url == "https://eu-1.endpoints.xyte.io/v1/devices/d8083a34-22c8-4cd8-9acb-1912/telemetry"
    assert request.headers["Authorization"] == "2300742898f3ddc0e62e087ddc4a368c"  # no "Bearer"
    body = request.json_body
    assert set(body) == {"status", "timestamp", "telemetries", "override"}
    assert body["status"] == "online" and body["override"] is True
    assert body["timestamp"] == "2026-11-25T01:02:03.456Z" and ISO_MS.match(body["timestamp"])
    telemetries = body["telemetries"]
    assert all(isinstance(value, (int, float, str, bool)) for value in telemetries.values())
    assert telemetries["cpu_percent"] == 12.34 and telemetries["charging"] is True
    assert telemetries["temperature_cpu"] == 41.5 and telemetries["ip"] == "192.168.1.20"
    assert request.to_display()["headers"]["Authorization"] == "****"


def test_later_telemetry_has_no_override_key() -> None:
    request = xyte.telemetry_request(None, REGISTRATION, override=False, status="online", taken_at="x")
    assert "override" not in request.json_body


def test_the_seed_reply_is_read_field_by_field() -> None:
    flags = xyte.decode_telemetry(reply(SEED_REPLY))
    assert flags.to_json() == SEED_REPLY


def test_a_reply_without_firmware_has_a_null_version() -> None:
    flags = xyte.decode_telemetry(reply({**SEED_REPLY, "latest_fw_version": None, "latest_fw_file_id": None}))
    assert flags.latest_fw_version is None


@pytest.mark.parametrize(
    "body",
    [{**SEED_REPLY, "config_version": "3"}, {**SEED_REPLY, "command": "yes"}, [SEED_REPLY], "ok", 7],
    ids=["version-as-text", "flag-as-text", "array", "string", "number"],
)
def test_a_wrongly_typed_telemetry_reply_is_a_protocol_error(body: Any) -> None:
    with pytest.raises(VendorProtocolError):
        xyte.decode_telemetry(reply(body))


def test_registration_reply_gives_id_key_and_hub() -> None:
    registered = xyte.decode_registration(
        reply(
            {
                "id": "abc",
                "access_key": "k" * 32,
                "hub_url": "https://eu-1.endpoints.xyte.io",
                "mqtt_hub_url": None,
            }
        )
    )
    assert registered == Registration("abc", "k" * 32, "https://eu-1.endpoints.xyte.io")


@pytest.mark.parametrize(
    "body",
    [{"id": "abc", "access_key": "k"}, {"id": "a/b", "access_key": "k", "hub_url": "https://h"},
     {"id": "abc", "access_key": "k", "hub_url": "ftp://h"}, {"id": 5, "access_key": "k", "hub_url": "https://h"}],
)  # fmt: skip
def test_an_unusable_registration_reply_is_a_protocol_error(body: Any) -> None:
    with pytest.raises(VendorProtocolError):
        xyte.decode_registration(reply(body))


def test_already_registered_is_a_rejection_that_says_what_to_do() -> None:
    with pytest.raises(VendorRejectedError, match="delete the device"):
        xyte.decode_registration(reply({"error": "Device already registered"}, 409))


def test_401_and_403_from_the_hub_are_refusals() -> None:
    for status in (401, 403):
        with pytest.raises(VendorAuthError):
            xyte.decode_telemetry(reply({"error": "Not authorized"}, status))


def test_config_is_read_nested_or_flat() -> None:
    nested = {
        "name": "Default",
        "version": 3,
        "last_updated": "x",
        "config": {"interval": 30},
        "device_id": "d",
    }
    assert xyte.decode_config(reply(nested)) == (3, {"interval": 30})
    assert xyte.decode_config(reply({"version": 2, "last_updated": "x", "interval": 15})) == (
        2,
        {"interval": 15},
    )


def test_no_pending_command_is_an_empty_object_or_404() -> None:
    assert xyte.decode_command(reply({})) is None
    assert xyte.decode_command(reply({"error": "Not found"}, 404)) is None
    command = xyte.decode_command(
        reply({"id": "c1", "status": "pending", "name": "reboot", "parameters": {}})
    )
    assert command is not None and xyte.command_action("xy", command).type == "REBOOT"


def test_custom_commands_keep_their_name_and_parameters() -> None:
    command = xyte.Command("c2", "update_firmware", "pending", {"url": "https://f/x.bin", "version": "2.0.0"})
    action = xyte.command_action("xy", command)
    assert action.to_json() == {
        "id": "xy:command:c2",
        "type": "update_firmware",
        "url": "https://f/x.bin",
        "version": "2.0.0",
    }


def test_licenses_are_read_with_their_change_and_bad_items_skipped() -> None:
    changes, skipped = xyte.decode_licenses(
        reply(
            [
                {"id": "l1", "data": "D", "signature": "S", "add": True, "remove": False, "update": False},
                {"id": "l2", "remove": True},
                {"data": "no id"},
                {"id": "l3"},
            ]
        )
    )
    assert [(item.id, item.change) for item in changes] == [("l1", "add"), ("l2", "remove")]
    assert len(skipped) == 2


def test_an_interval_in_the_config_is_bounded() -> None:
    assert xyte.config_interval({"interval": 30}) == 30.0
    assert xyte.config_interval({"interval": 0.001}) == 1.0
    assert xyte.config_interval({"interval": -5}) is None
    assert xyte.config_interval({"interval": "30"}) is None
    assert xyte.config_interval({"interval": True}) is None


@pytest.mark.parametrize(
    ("newer", "older"),
    [("1.10.0", "1.9.9"), ("1.3.4", "1.2.0"), ("2.0.0", "2.0.0-rc.1"), ("1.0.0-rc.2", "1.0.0-rc.1"),
     ("1.0.0-beta", "1.0.0-alpha"), ("1.0.0-alpha.1", "1.0.0-alpha"), ("v1.4", "1.3.9"),
     ("1.0.0-a", "1.0.0-1")],
)  # fmt: skip
def test_firmware_versions_compare_as_semver(newer: str, older: str) -> None:
    assert is_newer(newer, older)
    assert not is_newer(older, newer)


def test_equal_or_unreadable_versions_are_never_newer() -> None:
    assert not is_newer("1.3.4", "1.3.4")
    assert not is_newer("1.3.4+build7", "1.3.4")
    assert not is_newer("latest", "1.0.0")
    assert not is_newer("1.0.0", "banana")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
telemetry_like = st.fixed_dictionaries(
    {},
    optional={key: json_values for key in SEED_REPLY},
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, telemetry_like))
def test_any_json_gives_flags_or_a_protocol_error(body: Any) -> None:
    for decoder in (xyte.decode_telemetry, xyte.decode_config, xyte.decode_command, xyte.decode_licenses,
                    xyte.decode_registration):  # fmt: skip
        try:
            decoder(reply(body))
        except VendorProtocolError:
            continue
        except VendorTransportError:
            # Only a telemetry the hub says it did not take is worth sending again.
            assert decoder is xyte.decode_telemetry and isinstance(body, dict) and body["success"] is False
            continue


def test_a_telemetry_reply_with_success_false_is_a_retryable_error_with_the_hubs_words() -> None:
    with pytest.raises(VendorTransportError, match=r"success: false.*quota exceeded"):
        xyte.decode_telemetry(reply({**SEED_REPLY, "success": False, "message": "quota exceeded"}))
    with pytest.raises(VendorTransportError, match="no reason given"):
        xyte.decode_telemetry(reply({"success": False}))


def test_a_404_on_the_telemetry_means_the_device_is_gone_and_asks_for_a_new_registration() -> None:
    with pytest.raises(VendorAuthError, match="deleted") as raised:
        xyte.decode_telemetry(reply({"error": "Not found"}, 404))
    assert raised.value.status == 404


def test_degradation_is_a_metric_lost_since_it_was_seen_not_one_never_had() -> None:
    seen: set[str] = set()
    sample = sample_snapshot(FakeClock())
    no_battery = replace(sample, battery_percent=None, unavailable={"battery_percent": "no battery"})
    assert xyte.degradation(no_battery, seen) is None and "battery_percent" not in seen
    lost = replace(sample, wifi_signal_dbm=None, unavailable={"wifi_signal_dbm": "no wireless interface"})
    assert xyte.degradation(lost, seen) == "wifi_signal_dbm unavailable: no wireless interface"
    assert xyte.degradation(None, seen) == "no metrics: the collectors have produced no snapshot"
    many = replace(sample, unavailable={key: "x" * 400 for key in ("cpu_percent", "ip", "mac")})
    assert len(xyte.degradation(many, seen) or "") == xyte.MAX_MESSAGE
