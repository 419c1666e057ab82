"""Xyte heartbeats over real HTTP against the simulator, and the state that must survive a restart."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import httpx
from support.clock import FakeClock
from vendor_helpers import HARDWARE_KEY, Harness, sample_snapshot, telecomx_table, xyte_table

from edge_agent.errors import StoreError
from edge_agent.heartbeat import state_namespace
from edge_agent.simulators.base import Fault, SimulatorServer
from edge_agent.vendors.xyte.simulator import XyteSimulator

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
Xyte = tuple[XyteSimulator, SimulatorServer]


def device_id(app: XyteSimulator) -> str:
    found = app.device_by_sn("SN-0001")
    assert found is not None
    return found.id


def paths(server: SimulatorServer, method: str, suffix: str) -> list[str]:
    return [r.path for r in server.requests if r.method == method and r.path.endswith(suffix)]


def state(harness: Harness) -> dict[str, Any]:
    return harness.store.state.items(state_namespace("xy"))


def test_the_first_beat_registers_once_and_later_beats_use_the_hub_with_the_access_key(
    xyte_sim: Xyte, harness_factory: Any
) -> None:
    app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url))
    assert harness.beat("xy")["ok"] is True
    harness.restart()
    assert harness.beat("xy")["ok"] is True
    registrations = [r for r in server.requests if r.path == "/v1/devices"]
    assert len(registrations) == 1
    assert registrations[0].json() == {
        "hardware_key": HARDWARE_KEY,
        "sn": "SN-0001",
        "firmware_version": "1.2.0",
        "mac": "AA:BB:CC:DD:EE:FF",
    }
    assert "authorization" not in registrations[0].headers
    device = app.device(device_id(app))
    telemetry = [r for r in server.requests if r.path.endswith("/telemetry")]
    assert [r.path for r in telemetry] == [f"/v1/devices/{device.id}/telemetry"] * 2
    assert all(r.headers["authorization"] == device.access_key for r in telemetry)
    assert state(harness)["device_id"] == device.id and state(harness)["access_key"] == device.access_key


def test_telemetry_carries_status_a_millisecond_timestamp_and_the_metrics(
    xyte_sim: Xyte, harness_factory: Any
) -> None:
    app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url))
    harness.beat("xy")
    body = app.telemetries(device_id(app))[0]
    assert body["status"] == "online"
    assert ISO_MS.match(body["timestamp"]) and body["timestamp"] == "2026-11-25T01:02:03.456Z"
    telemetries = body["telemetries"]
    assert telemetries["cpu_percent"] == 12.34 and telemetries["memory_free_percent"] == 41.6
    assert telemetries["temperature_gpu"] == 38.0 and telemetries["wifi_signal_dbm"] == -61.0
    assert all(isinstance(value, (int, float, str, bool)) for value in telemetries.values())


def test_override_is_sent_on_the_first_telemetry_after_each_start_only(
    xyte_sim: Xyte, harness_factory: Any
) -> None:
    app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url))
    harness.run(lambda rec: len(rec.outcomes_of("xy")) == 3)
    harness.restart()
    harness.run(lambda rec: len(rec.outcomes_of("xy")) == 5)
    overrides = [body.get("override") for body in app.telemetries(device_id(app))]
    assert overrides == [True, None, None, True, None]


def test_a_deleted_device_registers_again_at_once_and_overrides_its_new_state(
    xyte_sim: Xyte, harness_factory: Any
) -> None:
    app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url))
    harness.beat("xy")
    harness.beat("xy")
    old_id = device_id(app)
    app.delete_device(old_id)
    outcome = harness.beat("xy")
    assert outcome["ok"] is True
    new_id = device_id(app)
    assert new_id != old_id and state(harness)["device_id"] == new_id
    assert app.telemetries(new_id)[0].get("override") is True
    assert len([r for r in server.requests if r.path == "/v1/devices"]) == 2
    assert harness.recorder.events_of("heartbeat.forbidden") == []


def test_a_new_config_is_fetched_applied_stored_and_reported_once(
    xyte_sim: Xyte, harness_factory: Any
) -> None:
    app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url))
    harness.beat("xy")
    version = app.set_config(device_id(app), {"interval": 30, "screen": "dim"})
    pauses = harness.run(lambda rec: len(rec.outcomes_of("xy")) == 3)
    assert pauses[:2] == [30.0, 30.0]  # the config's interval replaced the configured 10 s
    applied = harness.recorder.events_of("config.applied")
    assert len(applied) == 1
    assert applied[0].data["version"] == version and applied[0].data["applied"] == {"interval": 30.0}
    assert applied[0].data["ignored"] == ["screen"]
    assert app.update_device_calls(device_id(app)) == [{"config_version": version}]
    assert app.device(device_id(app)).reported_config_version == version
    assert state(harness)["config"] == {"interval": 30, "screen": "dim"}
    harness.restart()
    pauses = harness.run(lambda rec: len(rec.outcomes_of("xy")) == 5)
    assert pauses[0] == 30.0  # the applied interval survives a restart
    assert len(paths(server, "GET", "/config")) == 1
    assert len(harness.recorder.events_of("config.applied")) == 1


def test_a_command_is_queued_once_reported_in_progress_and_done_after_a_reboot(
    xyte_sim: Xyte, harness_factory: Any
) -> None:
    app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url))
    harness.beat("xy")
    command_id = app.queue_command(device_id(app), "reboot")
    assert harness.beat("xy")["actions"] == 1
    harness.beat("xy")  # still running: nothing new queued or reported
    [entry] = harness.store.journal.in_state("received")
    assert entry.type == "REBOOT" and entry.source == "heartbeat:xy"
    assert len(harness.recorder.events_of("action.received")) == 1
    [history] = app.command_history(device_id(app))
    assert [report["status"] for report in history["reports"]] == ["in_progress"]
    harness.restart()  # the reboot
    harness.store.journal.update(entry.action_id, "succeeded", exit_code=0)
    harness.beat("xy")
    [history] = app.command_history(device_id(app))
    assert [report["status"] for report in history["reports"]] == ["in_progress", "done"]
    assert history["reports"][-1]["id"] == command_id
    assert history["status"] == "done"
    harness.beat("xy")
    assert len(app.command_history(device_id(app))[0]["reports"]) == 2


def test_a_custom_command_that_fails_is_reported_failed_with_the_runners_message(
    xyte_sim: Xyte, harness_factory: Any
) -> None:
    app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url))
    harness.beat("xy")
    app.queue_command(
        device_id(app), "update_firmware", {"url": "https://files.example/fw.bin", "version": "2.0.0"}
    )
    harness.beat("xy")
    [entry] = harness.store.journal.in_state("received")
    assert entry.type == "update_firmware"
    assert entry.payload["url"] == "https://files.example/fw.bin" and entry.payload["version"] == "2.0.0"
    harness.store.journal.update(entry.action_id, "failed", exit_code=3, message="checksum mismatch")
    harness.beat("xy")
    [history] = app.command_history(device_id(app))
    assert history["reports"][-1] == {"id": history["id"], "status": "failed", "message": "checksum mismatch"}


def test_new_licenses_are_stored_and_each_reported(xyte_sim: Xyte, harness_factory: Any) -> None:
    app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url))
    harness.beat("xy")
    first = app.queue_license(
        device_id(app), "LICENSE-A", signature="SIG-A", expires_at="2027-01-01T00:00:00Z"
    )
    second = app.queue_license(device_id(app), "LICENSE-B")
    harness.beat("xy")
    assert app.license_reports(device_id(app)) == [
        {"id": first, "state": "inuse"},
        {"id": second, "state": "inuse"},
    ]
    harness.restart()
    stored = state(harness)["licenses"]
    assert stored[first] == {"data": "LICENSE-A", "signature": "SIG-A", "expires_at": "2027-01-01T00:00:00Z"}
    removal = app.queue_license(device_id(app), "LICENSE-A", action="remove")
    harness.beat("xy")
    assert app.license_reports(device_id(app))[-1] == {"id": removal, "state": "removed"}
    harness.beat("xy")
    assert len(paths(server, "GET", "/licenses")) == 2  # not fetched when none are pending


def test_a_firmware_version_is_announced_once_across_restarts_and_only_when_newer(
    xyte_sim: Xyte, harness_factory: Any
) -> None:
    app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url))  # firmware_version = 1.2.0
    harness.beat("xy")  # no firmware published yet: latest_fw_version is null
    app.set_firmware("1.1.9")
    harness.beat("xy")  # older than what runs
    file_id = app.set_firmware("1.9.9")
    harness.beat("xy")
    harness.beat("xy")
    harness.restart()
    harness.beat("xy")
    app.set_firmware("1.10.0")  # newer by SemVer, older as a string
    harness.beat("xy")
    harness.beat("xy")
    announced = harness.recorder.events_of("firmware.available")
    assert [(e.data["version"], e.data["current_version"]) for e in announced] == [
        ("1.9.9", "1.2.0"),
        ("1.10.0", "1.2.0"),
    ]
    assert announced[0].data["file_id"] == file_id
    assert state(harness)["latest_ver"] == "1.10.0"


def test_an_upgraded_firmware_is_reported_with_update_device(
    xyte_sim: Xyte, harness_factory: Any, tmp_path: Any
) -> None:
    app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url))
    harness.beat("xy")
    assert app.update_device_calls(device_id(app)) == []
    upgraded = harness_factory(
        xyte_table(server.url).replace('firmware_version = "1.2.0"', 'firmware_version = "1.3.0"')
    )
    harness.close()
    upgraded.beat("xy")
    upgraded.beat("xy")
    assert app.update_device_calls(device_id(app)) == [{"firmware_version": "1.3.0"}]
    assert app.device(device_id(app)).firmware_version == "1.3.0"


def test_the_goodbye_telemetry_says_offline(xyte_sim: Xyte, harness_factory: Any) -> None:
    app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url))
    harness.run(lambda rec: len(rec.outcomes_of("xy")) == 1, shutdown=True)
    assert [body["status"] for body in app.telemetries(device_id(app))] == ["online", "offline"]
    assert app.telemetry_state(device_id(app))["status"] == "offline"


def test_an_unknown_hardware_key_is_refused_with_the_vendors_reason(
    xyte_sim: Xyte, harness_factory: Any
) -> None:
    _app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url).replace(HARDWARE_KEY, "not-a-model"))
    outcome = harness.beat("xy")
    assert outcome["ok"] is False and outcome["status"] == 400 and "Invalid hardware key" in outcome["error"]


def test_a_refusal_while_the_hub_still_knows_the_device_keeps_the_key_and_backs_off_for_long(
    xyte_sim: Xyte, harness_factory: Any
) -> None:
    _app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url, forbidden_backoff="900"))
    harness.beat("xy")
    registered = dict(state(harness))
    server.inject(Fault("status", status=403, body=b'{"error": "Not authorized"}'))  # a proxy, say
    pauses = harness.run(lambda rec: len(rec.outcomes_of("xy")) == 3)
    refused, *later = harness.recorder.outcomes_of("xy")[1:]
    assert refused["ok"] is False and refused["status"] == 403 and "still knows" in refused["error"]
    assert pauses[0] == 900.0
    assert len(harness.recorder.events_of("heartbeat.forbidden")) == 1
    assert [o["ok"] for o in later] == [True]
    assert state(harness)["device_id"] == registered["device_id"]
    assert state(harness)["access_key"] == registered["access_key"]
    assert len([r for r in server.requests if r.path == "/v1/devices"]) == 2  # one refused "already"


def test_a_result_the_hub_no_longer_wants_is_reported_once_then_forgotten(
    xyte_sim: Xyte, harness_factory: Any
) -> None:
    app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url))
    harness.beat("xy")
    device = app.device(device_id(app))
    command_id = app.queue_command(device.id, "dump")
    harness.beat("xy")
    # Our "done" already landed before a crash, say: the hub has moved on.
    finished = httpx.post(
        f"{server.url}/v1/devices/{device.id}/command",
        json={"id": command_id, "status": "done"},
        headers={"Authorization": device.access_key},
    )
    assert finished.status_code == 200
    [entry] = harness.store.journal.in_state("received")
    harness.store.journal.update(entry.action_id, "succeeded", exit_code=0)
    assert harness.beat("xy")["ok"] is True  # the hub answers 409; the telemetry still counts
    harness.beat("xy")
    updates = [r for r in server.requests if r.method == "POST" and r.path.endswith("/command")]
    assert [r.json()["status"] for r in updates] == ["in_progress", "done", "done"]  # ours sent once
    assert state(harness).get("commands") == {}


def test_a_firmware_notice_the_store_could_not_take_is_told_on_the_next_beat(
    xyte_sim: Xyte, harness_factory: Any
) -> None:
    """The offer is recorded as told only with its event: a full disk must not swallow it for good."""
    app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url))
    harness.beat("xy")
    app.set_firmware("1.9.9")
    record, refused = harness.recorder.on_event, []

    def disk_full_once(event: Any) -> None:
        if event.type == "firmware.available" and not refused:
            refused.append(event)
            raise StoreError("store agent.db: database or disk is full")  # as outbox.add says it
        record(event)

    harness.recorder.on_event = disk_full_once  # type: ignore[method-assign]
    harness.restart()  # the engine picks up the failing event sink
    first = harness.beat("xy")
    assert refused and not harness.recorder.events_of("firmware.available")
    assert "latest_ver" not in state(harness), first
    harness.beat("xy")
    assert [e.data["version"] for e in harness.recorder.events_of("firmware.available")] == ["1.9.9"]
    assert state(harness)["latest_ver"] == "1.9.9"


def test_a_telemetry_answered_success_false_is_not_a_delivery_it_is_retried_with_backoff(
    xyte_sim: Xyte, harness_factory: Any
) -> None:
    app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url, backoff_initial="5"))
    app.refuse_telemetry(1, "Device is over its telemetry quota")
    pauses = harness.run(lambda rec: len(rec.outcomes_of("xy")) == 2)
    refused, taken = harness.recorder.outcomes_of("xy")
    assert refused["ok"] is False and "Device is over its telemetry quota" in refused["error"]
    assert 2.5 <= pauses[0] <= 5.0  # backoff, not the regular interval
    (error,) = harness.recorder.events_of("heartbeat.error")
    assert "success: false" in error.data["error"] and "telemetry quota" in error.data["error"]
    assert taken["ok"] is True
    accepted = app.telemetries(device_id(app))
    assert len(accepted) == 1 and accepted[0].get("override") is True  # the refused one did not count


def test_a_device_deleted_with_404_registers_again_like_401(xyte_sim: Xyte, harness_factory: Any) -> None:
    app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url))
    harness.beat("xy")
    old_id = device_id(app)
    app.delete_device(old_id, status=404)
    outcome = harness.beat("xy")
    assert outcome["ok"] is True, outcome["error"]
    new_id = device_id(app)
    assert new_id != old_id and state(harness)["device_id"] == new_id
    assert app.telemetries(new_id)[0].get("override") is True
    assert len([r for r in server.requests if r.path == "/v1/devices"]) == 2
    assert harness.recorder.events_of("heartbeat.forbidden") == []


def test_a_metric_that_stops_working_makes_the_status_error_with_the_reason_until_it_is_back(
    xyte_sim: Xyte, harness_factory: Any
) -> None:
    app, server = xyte_sim
    harness = harness_factory(xyte_table(server.url))
    healthy = harness.snapshot
    assert healthy is not None
    harness.beat("xy")
    harness.snapshot = replace(
        healthy, cpu_percent=None, unavailable={"cpu_percent": "permission denied: /proc/stat"}
    )
    harness.beat("xy")
    harness.snapshot = healthy
    harness.beat("xy")
    bodies = app.telemetries(device_id(app))
    assert [(body["status"], body.get("message")) for body in bodies] == [
        ("online", None),
        ("error", "cpu_percent unavailable: permission denied: /proc/stat"),
        ("online", None),
    ]


def test_a_metric_the_device_never_had_is_not_a_fault_but_no_metrics_at_all_is(
    xyte_sim: Xyte, harness_factory: Any
) -> None:
    app, server = xyte_sim
    sample = sample_snapshot(FakeClock())
    no_battery = replace(
        sample, battery_percent=None, charging=None, unavailable={"battery_percent": "no battery"}
    )
    harness = harness_factory(xyte_table(server.url), snapshot=no_battery)
    harness.beat("xy")
    harness.snapshot = None
    harness.beat("xy")
    bodies = app.telemetries(device_id(app))
    assert [body["status"] for body in bodies] == ["online", "error"]
    assert bodies[1]["message"] == "no metrics: the collectors have produced no snapshot"


def test_another_endpoint_failing_makes_the_status_error_naming_it_until_it_beats_again(
    xyte_sim: Xyte, telecomx: Any, harness_factory: Any
) -> None:
    """A vendor endpoint failing degrades the device (issue 13, item 20), as a lost metric does."""
    app, server = xyte_sim
    tx_app, tx_server = telecomx
    harness = harness_factory(xyte_table(server.url) + telecomx_table(tx_server.url))
    harness.beat("tx")
    harness.beat("xy")
    tx_app.fail_internal(1)
    assert harness.beat("tx")["ok"] is False
    harness.beat("xy")
    harness.beat("tx")
    harness.beat("xy")
    bodies = app.telemetries(device_id(app))
    statuses = [(body["status"], body.get("message") or "") for body in bodies]
    assert statuses[0] == ("online", "") and statuses[2] == ("online", "")
    assert statuses[1][0] == "error" and statuses[1][1].startswith("heartbeat tx failing: "), statuses
