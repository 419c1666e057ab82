"""Signed MQTT commands: a signed one runs once; unsigned, forged, undated and replayed ones do not."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import pytest
from action_device import Device, drain
from support.clock import FakeClock

from edge_agent.actions import ActionRunner, sign
from edge_agent.actions.signing import signature_for

REPO = Path(__file__).resolve().parents[2]
SECRET = "correct horse battery staple"


def signed_runner(device: Device) -> ActionRunner:
    device.program("logger")
    return device.runner(mqtt_secret=SECRET)


def command(**fields: object) -> dict:
    return {"id": "op-1", "type": "MESSAGE", "message": "Lunch is ready", **fields}


def signed(device: str = "pi-lobby", **fields: object) -> bytes:
    """The command signed for ``device`` (by hand, as the docs describe it, not with ``sign``)."""
    body = {"expires_at": "2030-01-01T12:05:00Z", **command(**fields), "device": device}
    return json.dumps({**body, "signature": signature_for(body, SECRET)}).encode()


def test_a_signed_command_runs_and_its_replay_is_rejected(device: Device) -> None:
    runner = signed_runner(device)
    assert runner.intake.take_command(signed()) == "op-1"
    drain(runner)
    assert runner.intake.take_command(signed()) is None
    drain(runner)

    assert device.calls() == [
        ["logger", "--tag", "edge-agent", "--priority", "user.notice", "--", "Lunch is ready"]
    ]
    assert device.state("op-1") == "succeeded"
    assert device.events[0].data["signed"] is True
    replay = device.last_event("op-1")
    assert replay["type"] == "action.rejected" and replay["reason"].startswith("replayed")


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda body: {k: v for k, v in body.items() if k != "signature"}, "unsigned"),
        (lambda body: {**body, "message": "Lunch is ready; reboot"}, "bad signature"),
        (lambda body: {**body, "signature": "0" * 64}, "bad signature"),
        (lambda body: {**body, "signature": 12345}, "bad signature"),
        (lambda body: {**body, "expires_at": "2031-01-01T00:00:00Z"}, "bad signature"),
        (lambda body: {k: v for k, v in body.items() if k != "expires_at"}, "missing expires_at"),
    ],
)
def test_unsigned_forged_or_undated_commands_are_rejected_unrecorded(
    device: Device, tamper: Callable[[dict], dict], reason: str
) -> None:
    runner = signed_runner(device)
    assert runner.intake.take_command(json.dumps(tamper(json.loads(signed()))).encode()) is None
    drain(runner)

    assert device.calls() == []
    event = device.last_event("op-1")
    assert event["type"] == "action.rejected" and event["reason"].startswith(reason)
    # Not journalled: the forger did not use up the id, so the real command still runs.
    assert runner.intake.take_command(signed()) == "op-1"
    drain(runner)
    assert len(device.calls()) == 1


def test_a_missing_expiry_cannot_be_signed_around(device: Device) -> None:
    runner = signed_runner(device)
    body = command()
    body["signature"] = signature_for(body, SECRET)
    assert runner.intake.take_command(json.dumps(body).encode()) is None
    assert device.last_event("op-1")["reason"].startswith("missing expires_at")


def test_a_signed_command_that_arrives_too_late_is_expired(device: Device) -> None:
    runner = signed_runner(device)
    late = sign(command(), SECRET, expires_at=device.clock.now() - timedelta(seconds=1), device="pi-lobby")
    assert runner.intake.take_command(json.dumps(late).encode()) == "op-1"
    drain(runner)

    assert device.calls() == []
    assert device.state("op-1") == "expired"
    assert device.last_event("op-1")["type"] == "action.expired"


def test_without_a_secret_unsigned_commands_run_but_still_need_an_id(device: Device) -> None:
    device.program("logger")
    runner = device.runner()
    assert runner.intake.take_command(json.dumps(command()).encode()) == "op-1"
    assert runner.intake.take_command(b'{"type": "MESSAGE", "message": "who am I"}') is None
    assert runner.intake.take_command(b"not json at all") is None
    assert runner.intake.take_command(b'["MESSAGE"]') is None
    drain(runner)

    assert len(device.calls()) == 1
    reasons = [e.data["reason"] for e in device.events if e.type == "action.rejected"]
    assert "id" in reasons[0] and "JSON" in reasons[1] and "object" in reasons[2]


def test_requiring_a_signature_without_a_secret_refuses_everything(device: Device) -> None:
    device.program("logger")
    runner = device.runner()
    assert runner.submit(command(), "mqtt", signed_required=True) is None
    assert "mqtt_secret" in device.last_event("op-1")["reason"]


def now_device(device: Device) -> Device:
    """The CLI and the shell sign with the real time; give the device a clock that agrees."""
    device.clock = FakeClock(datetime.now(timezone.utc), monotonic=0.0)
    return device


def test_edge_agent_sign_output_is_accepted(device: Device, tmp_path: Path) -> None:
    secret_file = tmp_path / "command-secret"
    secret_file.write_text(SECRET + "\n")
    argv = ["sign", "--secret-file", str(secret_file), "--ttl", "120", "--device", "pi-lobby"]
    done = subprocess.run(
        [sys.executable, "-m", "edge_agent", *argv],
        input=json.dumps({"type": "MESSAGE", "message": "Grüße aus dem Keller"}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    runner = signed_runner(now_device(device))
    action_id = runner.intake.take_command(done.stdout.strip().encode())
    drain(runner)

    assert action_id is not None and device.state(action_id) == "succeeded"
    assert device.calls()[0][-1] == "Grüße aus dem Keller"


def test_edge_agent_sign_refuses_what_is_not_an_action(tmp_path: Path) -> None:
    secret_file = tmp_path / "command-secret"
    secret_file.write_text(SECRET)
    done = subprocess.run(
        [sys.executable, "-m", "edge_agent", "sign", "--secret-file", str(secret_file), "[1, 2]"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "JSON object" in done.stderr


def shell_recipe() -> str:
    text = (REPO / "docs" / "actions.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- signing-recipe[^>]*-->\s*```sh\n(.*?)```", text, re.S)
    assert match, "docs/actions.md lost its signing recipe"
    return match.group(1)


@pytest.mark.skipif(
    not (shutil.which("jq") and shutil.which("openssl") and shutil.which("bash")),
    reason="the shell recipe needs jq, openssl and bash",
)
def test_the_documented_shell_recipe_signs_commands_the_agent_accepts(device: Device, tmp_path: Path) -> None:
    secret_file = tmp_path / "command-secret"
    secret_file.write_text(SECRET + "\n")
    script = "\n".join(
        line
        for line in shell_recipe().splitlines()
        if not line.startswith(("SECRET_FILE=", "ACTION=", "DEVICE="))
    )
    action = json.dumps({"id": "sh-1", "type": "MESSAGE", "message": "Lunch is ready é", "notify": 0})
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "SECRET_FILE": str(secret_file),
            "ACTION": action,
            "DEVICE": "pi-lobby",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    runner = signed_runner(now_device(device))
    assert runner.intake.take_command(done.stdout.strip().encode()) == "sh-1"
    drain(runner)

    assert device.state("sh-1") == "succeeded"
    assert device.calls()[0][-1] == "Lunch is ready é"


# -- per-device signatures and a capped lifetime (issue 13, item 16) ----------------------------


def test_a_command_signed_for_another_device_does_not_run_here(device: Device) -> None:
    runner = signed_runner(device)  # this device is pi-lobby
    body = {**command(), "device": "pi-kitchen", "expires_at": "2030-01-01T12:05:00Z"}
    body["signature"] = signature_for(body, SECRET)
    assert runner.intake.take_command(json.dumps(body).encode()) is None
    drain(runner)

    assert device.calls() == []
    assert device.last_event("op-1")["reason"].startswith("wrong device")
    assert runner.intake.take_command(signed(device="pi-lobby")) == "op-1"  # not journalled: it still runs


def test_a_command_signed_the_old_way_is_rejected_with_a_reason_that_says_to_re_sign(device: Device) -> None:
    runner = signed_runner(device)
    old_way = {**command(), "expires_at": "2030-01-01T12:05:00Z"}  # a valid MAC, but no device in it
    old_way["signature"] = signature_for(old_way, SECRET)
    assert runner.intake.take_command(json.dumps(old_way).encode()) is None
    drain(runner)

    assert device.calls() == []
    reason = device.last_event("op-1")["reason"]
    assert reason.startswith("signature does not cover the device id: re-sign")
    assert "--device pi-lobby" in reason


@pytest.mark.parametrize(
    ("expires_at", "runs"),
    [
        ("2030-01-02T11:59:00Z", True),  # just under a day after the device's now (2030-01-01 12:00)
        ("2030-01-02T12:01:00Z", False),  # just over a day
        ("2099-01-01T00:00:00Z", False),  # "for ever"
    ],
)
def test_a_signed_commands_lifetime_is_capped(device: Device, expires_at: str, runs: bool) -> None:
    runner = signed_runner(device)
    accepted = runner.intake.take_command(signed(expires_at=expires_at))
    drain(runner)

    assert (accepted == "op-1") is runs
    if not runs:
        assert device.last_event("op-1")["reason"].startswith("expires_at too far ahead")
        assert device.calls() == []


def test_the_lifetime_cap_is_configurable(device: Device) -> None:
    device.program("logger")
    runner = device.runner(mqtt_secret=SECRET, max_command_lifetime=600)
    assert runner.intake.take_command(signed(expires_at="2030-01-01T12:11:00Z")) is None
    assert "max_command_lifetime (600 s)" in device.last_event("op-1")["reason"]
    assert runner.intake.take_command(signed(expires_at="2030-01-01T12:09:00Z")) == "op-1"


def test_edge_agent_sign_needs_the_device_and_signs_for_it_only(device: Device, tmp_path: Path) -> None:
    secret_file = tmp_path / "command-secret"
    secret_file.write_text(SECRET)
    action = json.dumps({"id": "cli-1", "type": "MESSAGE", "message": "hi"})
    base = [sys.executable, "-m", "edge_agent", "sign", "--secret-file", str(secret_file)]
    unaddressed = subprocess.run([*base, action], capture_output=True, text=True, timeout=60)
    assert unaddressed.returncode == 2 and "--device" in unaddressed.stderr

    elsewhere = subprocess.run(
        [*base, "--device", "pi-kitchen", action], capture_output=True, text=True, timeout=60
    )
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert json.loads(elsewhere.stdout)["device"] == "pi-kitchen"
    runner = signed_runner(now_device(device))
    assert runner.intake.take_command(elsewhere.stdout.strip().encode()) is None
    assert device.last_event("cli-1")["reason"].startswith("wrong device")
