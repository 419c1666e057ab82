"""The Xyte entry host and device hub simulator, driven over real HTTP on loopback as a device would."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Optional

import httpx
import pytest
from support.http import loopback_client

from edge_agent.simulators.base import SimClock, SimulatorServer
from edge_agent.vendors.xyte import simulator as xyte
from edge_agent.vendors.xyte.simulator import XyteSimulator

START = datetime(2024, 8, 7, 12, 0, 0, tzinfo=timezone.utc)
HARDWARE_KEY = "hk-model-a"
MAC = "5A:58:12:7F:23:A2"
SN = "SN-0001"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def registration(**fields: Any) -> dict[str, Any]:
    body = {"hardware_key": HARDWARE_KEY, "sn": SN, "mac": MAC, "firmware_version": "1.0.0"}
    body.update(fields)
    return {name: value for name, value in body.items() if value is not None}


class Device:
    """A registered device's credentials and a client that calls the hub with them."""

    def __init__(self, client: httpx.Client, answer: dict[str, Any]) -> None:
        self.client = client
        self.id: str = answer["id"]
        self.key: str = answer["access_key"]
        self.hub: str = answer["hub_url"]

    def call(
        self, method: str, suffix: str = "", body: Any = None, key: Optional[str] = None
    ) -> httpx.Response:
        headers = {"Authorization": self.key if key is None else key}
        url = f"{self.hub}/v1/devices/{self.id}{suffix}"
        return self.client.request(method, url, json=body, headers=headers)

    def ok(self, method: str, suffix: str = "", body: Any = None) -> Any:
        response = self.call(method, suffix, body)
        assert response.status_code == 200, response.text
        return response.json()

    def telemetry(self, **body: Any) -> dict[str, Any]:
        return self.ok("POST", "/telemetry", {"status": "online", **body})


class Cloud:
    """The simulator behind a real loopback server, and a client playing the devices."""

    def __init__(self, sim: XyteSimulator, server: SimulatorServer, client: httpx.Client) -> None:
        self.sim, self.server, self.client = sim, server, client

    def register_raw(self, body: Any) -> httpx.Response:
        return self.client.post(f"{self.server.url}/v1/devices", json=body)

    def register(self, **fields: Any) -> Device:
        response = self.register_raw(registration(**fields))
        assert response.status_code == 200, response.text
        return Device(self.client, response.json())


@contextmanager
def serve(sim: XyteSimulator) -> Iterator[Cloud]:
    with SimulatorServer(sim) as server, loopback_client(timeout=5.0) as client:
        yield Cloud(sim, server, client)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(START)


def make_sim(clock: SimClock, **options: Any) -> XyteSimulator:
    sim = XyteSimulator(clock, rng=random.Random(11), **options)
    sim.add_model(HARDWARE_KEY)
    return sim


@pytest.fixture
def cloud(clock: SimClock) -> Iterator[Cloud]:
    with serve(make_sim(clock)) as running:
        yield running


@pytest.fixture
def device(cloud: Cloud) -> Device:
    return cloud.register()


# ----------------------------------------------------------------- registration


def test_registration_mints_a_uuid_and_a_32_hex_key_and_points_at_this_hub(cloud: Cloud) -> None:
    answer = cloud.register_raw(registration()).json()

    assert UUID_RE.match(answer["id"])
    assert re.fullmatch(r"[0-9a-f]{32}", answer["access_key"])
    assert answer["hub_url"] == cloud.server.url
    assert answer["hub_url_static_cert"] == cloud.server.url
    assert answer["mqtt_hub_url"] is None


def test_a_configured_hub_url_is_what_registration_hands_out(cloud: Cloud) -> None:
    cloud.sim.hub_url = "http://127.0.0.1:9"

    answer = cloud.register_raw(registration()).json()

    assert answer["hub_url"] == "http://127.0.0.1:9"


def test_registration_with_an_unknown_hardware_key_is_refused(cloud: Cloud) -> None:
    response = cloud.register_raw(registration(hardware_key="hk-nobody-sells"))

    assert response.status_code == 400
    assert cloud.sim.device_by_sn(SN) is None


@pytest.mark.parametrize("missing", ["hardware_key", "sn", "firmware_version"])
def test_registration_without_a_required_field_names_it(cloud: Cloud, missing: str) -> None:
    response = cloud.register_raw(registration(**{missing: None}))

    assert response.status_code == 400
    assert missing in response.json()["error"]


def test_registration_needs_a_mac_or_a_cloud_id(cloud: Cloud) -> None:
    response = cloud.register_raw(registration(mac=None))

    assert response.status_code == 400


def test_a_cloud_id_alone_is_enough_to_register(cloud: Cloud) -> None:
    registered = cloud.register(mac=None, cloud_id="XY-0b7a6c1e-9d3f-4b8e-a2c5-6f1d0e9b8a7c")

    assert cloud.sim.device(registered.id).cloud_id == "XY-0b7a6c1e-9d3f-4b8e-a2c5-6f1d0e9b8a7c"


def test_the_same_mac_and_serial_cannot_register_twice(cloud: Cloud) -> None:
    cloud.register()

    again = cloud.register_raw(registration(mac=MAC.lower().replace(":", "-")))

    assert again.status_code == 409
    assert "already" in again.json()["error"]


def test_the_same_cloud_id_cannot_register_twice(cloud: Cloud) -> None:
    cloud.register(mac=None, cloud_id="XY-1")

    again = cloud.register_raw(registration(mac=None, sn="SN-0002", cloud_id="XY-1"))

    assert again.status_code == 409
    assert "already" in again.json()["error"]


def test_another_serial_with_the_same_mac_is_another_device(cloud: Cloud) -> None:
    first = cloud.register()
    second = cloud.register(sn="SN-0002")

    assert first.id != second.id


def test_a_deleted_device_may_register_again_with_new_credentials(cloud: Cloud, device: Device) -> None:
    cloud.sim.delete_device(device.id)

    again = cloud.register()

    assert (again.id, again.key) != (device.id, device.key)
    assert cloud.sim.device_by_sn(SN).id == again.id


# ----------------------------------------------------------------- authentication and routing


@pytest.mark.parametrize("key", ["", "Bearer {key}", "0123456789abcdef0123456789abcdef"])
def test_a_hub_call_without_the_raw_access_key_is_not_authorized(device: Device, key: str) -> None:
    response = device.call("POST", "/telemetry", {"status": "online"}, key=key.format(key=device.key))

    assert response.status_code == 401
    assert response.json() == {"error": "Not authorized"}


def test_one_device_key_does_not_open_another_device(cloud: Cloud, device: Device) -> None:
    other = cloud.register(sn="SN-0002")

    response = device.call("GET", "/config", key=other.key)

    assert response.status_code == 401


def test_a_deleted_device_gets_401_not_found(cloud: Cloud, device: Device) -> None:
    cloud.sim.delete_device(device.id)

    response = device.call("POST", "/telemetry", {"status": "online"})

    assert response.status_code == 401
    assert response.json() == {"error": "Not found"}


def test_a_device_deleted_the_404_way_gets_404_not_found_on_every_hub_call(
    cloud: Cloud, device: Device
) -> None:
    cloud.sim.delete_device(device.id, status=404)

    for method, suffix in (("POST", "/telemetry"), ("GET", "/command"), ("GET", "/config")):
        response = device.call(method, suffix, {"status": "online"} if method == "POST" else None)
        assert (response.status_code, response.json()) == (404, {"error": "Not found"})


def test_a_refused_telemetry_answers_success_false_with_a_message_and_is_not_stored(
    cloud: Cloud, device: Device
) -> None:
    cloud.sim.refuse_telemetry(1, "Device is over its telemetry quota")

    refused = device.telemetry(telemetries={"temp": 30})
    taken = device.telemetry(telemetries={"temp": 31})

    assert refused["success"] is False and refused["message"] == "Device is over its telemetry quota"
    assert taken["success"] is True and "message" not in taken
    assert [body["telemetries"] for body in cloud.sim.telemetries(device.id)] == [{"temp": 31}]


def test_an_error_status_carries_its_message_which_must_be_text(cloud: Cloud, device: Device) -> None:
    device.telemetry(status="error", message="Unknown input connected", telemetries={"input": "Unknown"})
    assert cloud.sim.telemetry_state(device.id) == {"input": "Unknown", "status": "error"}
    assert cloud.sim.telemetries(device.id)[0]["message"] == "Unknown input connected"

    response = device.call("POST", "/telemetry", {"status": "error", "message": {"nested": True}})
    assert response.status_code == 400


@pytest.mark.parametrize(("method", "suffix"), [("GET", "/telemetry"), ("DELETE", ""), ("PUT", "/command")])
def test_a_known_path_with_the_wrong_method_is_405(device: Device, method: str, suffix: str) -> None:
    assert device.call(method, suffix).status_code == 405


def test_listing_devices_on_the_entry_host_is_405(cloud: Cloud) -> None:
    assert cloud.client.get(f"{cloud.server.url}/v1/devices").status_code == 405


def test_an_unknown_path_is_404(device: Device) -> None:
    assert device.call("GET", "/secrets").status_code == 404


def test_more_calls_than_the_rate_limit_in_30_seconds_get_429(clock: SimClock) -> None:
    with serve(make_sim(clock, rate_limit=3)) as cloud:
        device = cloud.register()
        statuses = [device.call("GET", "/command").status_code for _ in range(4)]
        clock.advance(30)
        after_window = device.call("GET", "/command").status_code

    assert statuses == [200, 200, 200, 429]
    assert after_window == 200


# ----------------------------------------------------------------- telemetry


def test_a_fresh_device_telemetry_reply_has_every_field_at_its_initial_value(device: Device) -> None:
    assert device.telemetry() == {
        "config_version": 0,
        "command": False,
        "new_licenses": False,
        "success": True,
        "info_version": 0,
        "latest_fw_version": None,
        "latest_fw_file_id": None,
        "space_data_version": 0,
    }


def test_the_telemetry_reply_reflects_server_state(cloud: Cloud, device: Device) -> None:
    cloud.sim.set_config(device.id, {"volume": 3})
    cloud.sim.queue_command(device.id, "reboot")
    cloud.sim.queue_license(device.id, "feature=pro")
    file_id = cloud.sim.set_firmware("1.3.4")
    cloud.sim.set_versions(device.id, info_version=2, space_data_version=4)

    reply = device.telemetry()

    assert reply["config_version"] == 1
    assert reply["command"] is True and reply["new_licenses"] is True
    assert (reply["latest_fw_version"], reply["latest_fw_file_id"]) == ("1.3.4", file_id)
    assert (reply["info_version"], reply["space_data_version"]) == (2, 4)


def test_status_joins_the_telemetries_and_later_keys_merge(cloud: Cloud, device: Device) -> None:
    device.telemetry(telemetries={"fan_speed": 100.1, "connection": "4g"})
    device.ok("POST", "/telemetry", {"status": "error", "telemetries": {"input": "Unknown"}, "message": "x"})

    assert cloud.sim.telemetry_state(device.id) == {
        "fan_speed": 100.1,
        "connection": "4g",
        "input": "Unknown",
        "status": "error",
    }


def test_an_override_telemetry_drops_the_keys_it_does_not_send(cloud: Cloud, device: Device) -> None:
    device.telemetry(telemetries={"fan_speed": 100.1, "connection": "4g"})
    device.telemetry(telemetries={"usbc": True}, override=True)

    assert cloud.sim.telemetry_state(device.id) == {"usbc": True, "status": "online"}


def test_the_raw_telemetry_bodies_are_kept_in_order(cloud: Cloud, device: Device) -> None:
    device.telemetry(timestamp="2021-08-04T07:45:44.122Z", telemetries={"temp": 30})
    device.telemetry(telemetries={"temp": 31})

    bodies = cloud.sim.telemetries(device.id)

    assert [body["telemetries"]["temp"] for body in bodies] == [30, 31]
    assert bodies[0]["timestamp"] == "2021-08-04T07:45:44.122Z"


@pytest.mark.parametrize(
    "body",
    [{"telemetries": {"temp": 30}}, {"status": "sleeping"}, {"status": "online", "telemetries": [1, 2]}],
)
def test_telemetry_without_a_valid_status_or_with_bad_telemetries_is_400(
    cloud: Cloud, device: Device, body: dict[str, Any]
) -> None:
    response = device.call("POST", "/telemetry", body)

    assert response.status_code == 400
    assert cloud.sim.telemetries(device.id) == []


# ----------------------------------------------------------------- config


def test_get_config_answers_the_portal_config_with_its_version(
    cloud: Cloud, device: Device, clock: SimClock
) -> None:
    clock.advance(60)
    cloud.sim.set_config(device.id, {"volume": 3, "input": "hdmi"}, name="Lobby")

    document = device.ok("GET", "/config")

    assert document == {
        "name": "Lobby",
        "version": 1,
        "last_updated": "2024-08-07T12:01:00.000Z",
        "config": {"volume": 3, "input": "hdmi"},
        "device_id": device.id,
    }


def test_a_device_side_config_change_bumps_the_version(cloud: Cloud, device: Device) -> None:
    cloud.sim.set_config(device.id, {"volume": 3})

    answer = device.ok("POST", "/config", {"volume": 7})

    assert answer["version"] == 2
    assert device.ok("GET", "/config")["config"] == {"volume": 7}
    assert device.telemetry()["config_version"] == 2


def test_posting_back_the_fetched_config_unchanged_does_not_bump_it(cloud: Cloud, device: Device) -> None:
    cloud.sim.set_config(device.id, {"volume": 3})

    device.ok("POST", "/config", device.ok("GET", "/config"))

    assert device.telemetry()["config_version"] == 1


# ----------------------------------------------------------------- commands


def test_get_command_with_nothing_pending_answers_an_empty_object(device: Device) -> None:
    assert device.ok("GET", "/command") == {}


def test_a_command_goes_pending_in_progress_done_and_the_next_one_follows(
    cloud: Cloud, device: Device
) -> None:
    first = cloud.sim.queue_command(device.id, "reboot")
    second = cloud.sim.queue_command(device.id, "dump", {"what": "logs"})

    pending = device.ok("GET", "/command")
    device.ok("POST", "/command", {"id": first, "status": "in_progress"})
    running = device.ok("GET", "/command")
    device.ok("POST", "/command", {"id": first, "status": "done", "message": "rebooted"})
    following = device.ok("GET", "/command")

    assert pending == {
        "id": first,
        "device_id": device.id,
        "status": "pending",
        "name": "reboot",
        "parameters": {},
    }
    assert running["status"] == "in_progress"
    assert (following["id"], following["name"], following["parameters"]) == (second, "dump", {"what": "logs"})
    history = cloud.sim.command_history(device.id)
    assert [(c["id"], c["status"]) for c in history] == [(first, "done"), (second, "pending")]
    assert history[0]["reports"][-1]["message"] == "rebooted"


def test_a_failed_command_leaves_the_queue(cloud: Cloud, device: Device) -> None:
    command = cloud.sim.queue_command(device.id, "update_firmware", {"url": "http://127.0.0.1:9/fw"})

    device.ok("POST", "/command", {"id": command, "status": "failed", "message": "checksum"})

    assert device.ok("GET", "/command") == {}
    assert device.telemetry()["command"] is False


@pytest.mark.parametrize(
    ("update", "status"),
    [
        ({"status": "done"}, 400),
        ({"id": "{id}", "status": "pending"}, 400),
        ({"id": "{id}", "status": "finished"}, 400),
        ({"id": "9b2f0c4e-0000-4000-8000-000000000000", "status": "done"}, 409),
    ],
)
def test_a_command_update_needs_the_pending_id_and_a_known_status(
    cloud: Cloud, device: Device, update: dict[str, str], status: int
) -> None:
    command = cloud.sim.queue_command(device.id, "reboot")
    body = {name: value.format(id=command) for name, value in update.items()}

    response = device.call("POST", "/command", body)

    assert response.status_code == status
    assert device.ok("GET", "/command")["status"] == "pending"


# ----------------------------------------------------------------- licenses


def test_pending_licenses_are_listed_with_their_action_flags(cloud: Cloud, device: Device) -> None:
    added = cloud.sim.queue_license(
        device.id, "feature=pro", signature="c2ln", expires_at="2030-01-01T00:00:00Z"
    )
    removed = cloud.sim.queue_license(device.id, "feature=old", action="remove")

    listed = device.ok("GET", "/licenses")

    assert listed[0] == {
        "id": added,
        "device_id": device.id,
        "data": "feature=pro",
        "signature": "c2ln",
        "expires_at": "2030-01-01T00:00:00Z",
        "add": True,
        "remove": False,
        "update": False,
    }
    assert (listed[1]["id"], listed[1]["remove"], listed[1]["add"]) == (removed, True, False)


def test_updating_a_license_takes_it_off_the_pending_list(cloud: Cloud, device: Device) -> None:
    first = cloud.sim.queue_license(device.id, "feature=pro")
    second = cloud.sim.queue_license(device.id, "feature=old", action="remove")

    device.ok("POST", "/licenses", {"id": first, "state": "inuse"})
    remaining = device.ok("GET", "/licenses")
    device.ok("POST", "/licenses", {"id": second, "state": "error", "error": "unknown feature"})

    assert [item["id"] for item in remaining] == [second]
    assert device.telemetry()["new_licenses"] is False
    assert [r["state"] for r in cloud.sim.license_reports(device.id)] == ["inuse", "error"]


@pytest.mark.parametrize(
    ("update", "status"),
    [
        ({"state": "inuse"}, 400),
        ({"id": "{id}", "state": "pending-ish"}, 400),
        ({"id": "nope", "state": "inuse"}, 409),
    ],
)
def test_a_license_update_needs_a_pending_id_and_a_known_state(
    cloud: Cloud, device: Device, update: dict[str, str], status: int
) -> None:
    license_id = cloud.sim.queue_license(device.id, "feature=pro")
    body = {name: value.format(id=license_id) for name, value in update.items()}

    response = device.call("POST", "/licenses", body)

    assert response.status_code == status
    assert [item["id"] for item in device.ok("GET", "/licenses")] == [license_id]


# ----------------------------------------------------------------- update device


@pytest.mark.parametrize("config_version", [3, "3"])
def test_update_device_takes_the_documented_params_and_either_config_version_type(
    cloud: Cloud, device: Device, config_version: Any
) -> None:
    body = {"firmware_version": "1.1.0", "name": "Lobby panel", "config_version": config_version}

    device.ok("PUT", "", body)

    info = cloud.sim.device_by_sn(SN)
    assert (info.firmware_version, info.name, info.reported_config_version) == ("1.1.0", "Lobby panel", 3)
    assert cloud.sim.update_device_calls(device.id) == [body]


@pytest.mark.parametrize(
    "body", [{"firmware_version": "1.1.0", "colour": "red"}, {"config_version": "three"}]
)
def test_update_device_refuses_undocumented_params_and_bad_values(
    cloud: Cloud, device: Device, body: dict[str, Any]
) -> None:
    response = device.call("PUT", "", body)

    assert response.status_code == 400
    assert cloud.sim.device(device.id).firmware_version == "1.0.0"


def test_update_device_is_throttled_to_ten_calls_per_rolling_hour(device: Device, clock: SimClock) -> None:
    statuses = []
    for _ in range(11):
        statuses.append(device.call("PUT", "", {"name": "n"}).status_code)
        clock.advance(60)
    clock.advance(3600 - 11 * 60 + 1)  # the first call is now more than an hour old
    after_an_hour = device.call("PUT", "", {"name": "n"}).status_code

    assert statuses == [200] * 10 + [429]
    assert after_an_hour == 200


# ----------------------------------------------------------------- files


def test_get_file_describes_the_firmware_and_its_url_serves_it(cloud: Cloud, device: Device) -> None:
    file_id = cloud.sim.set_firmware("1.3.4", content=b"\x7fELF firmware")

    described = device.ok("GET", f"/files/{file_id}")
    download = cloud.client.get(described["url"])

    assert (described["id"], described["version"], described["file_type"]) == (file_id, "1.3.4", "firmware")
    assert download.status_code == 200
    assert download.content == b"\x7fELF firmware"


def test_get_file_for_an_unknown_file_is_404(device: Device) -> None:
    assert device.call("GET", "/files/no-such-file").status_code == 404


# ----------------------------------------------------------------- demo


def test_the_demo_seed_lets_a_device_register_and_report() -> None:
    sim = xyte.create()
    credentials = xyte.seed_demo(sim)

    with serve(sim) as cloud:
        registered = cloud.register(hardware_key=credentials["hardware_key"])
        reply = registered.telemetry()

    assert reply["success"] is True
    assert reply["latest_fw_version"] is not None
