"""No payload reaches a shell, adds an argument, or picks the program; refused values say why."""

from __future__ import annotations

from pathlib import Path

import pytest
from action_device import Device, drain
from pydantic import ValidationError

from edge_agent.config import ActionsConfig

HOSTILE_TEXT = [
    "; rm -rf /",
    "$(touch {root}/pwned)",
    "`touch {root}/pwned`",
    "first line\nsecond line; reboot",
    "--flag",
    "-rf",
    "' \" \\ && || | > /etc/passwd",
    "{app} {__class__}",
]


@pytest.mark.parametrize("text", HOSTILE_TEXT)
@pytest.mark.parametrize(
    ("profile_env", "program", "fixed"),
    [
        ({}, "logger", ["logger", "--tag", "edge-agent", "--priority", "user.notice", "--"]),
        ({"DISPLAY": ":0"}, "notify-send", ["notify-send", "--app-name=edge-agent", "--", "edge-agent"]),
        ({"TERMUX_VERSION": "0.118"}, "termux-toast", ["termux-toast", "--"]),
    ],
)
def test_hostile_message_text_is_one_inert_argument(
    device: Device, text: str, profile_env: dict, program: str, fixed: list
) -> None:
    message = text.format(root=device.root) if "{root}" in text else text
    device.program(program)
    runner = device.runner(profile="auto", env=profile_env)
    runner.submit({"id": "op-1", "type": "MESSAGE", "message": message}, "mqtt")
    drain(runner)

    assert device.calls() == [[*fixed, message]]
    assert not (device.root / "pwned").exists()
    assert device.state("op-1") == "succeeded"


@pytest.mark.parametrize("message", ["nul\x00byte", "escape \x1b[2J", "bell\x07"])
def test_text_with_nul_or_control_characters_is_rejected(device: Device, message: str) -> None:
    device.program("logger")
    runner = device.runner()
    runner.submit({"id": "op-1", "type": "MESSAGE", "message": message}, "mqtt")
    drain(runner)

    assert device.calls() == []
    assert device.state("op-1") == "rejected"
    assert device.last_event("op-1")["type"] == "action.rejected"
    assert "message" in device.last_event("op-1")["reason"]


@pytest.mark.parametrize(
    ("action", "field"),
    [
        ({"type": "START_APP", "app": "--user=0"}, "app"),
        ({"type": "START_APP", "app": "com.foo; rm -rf /"}, "app"),
        ({"type": "START_APP", "app": "com.foo bar"}, "app"),
        ({"type": "START_APP", "app": "../../system/bin/sh"}, "app"),
        ({"type": "START_APP", "app": "$(id)"}, "app"),
        ({"type": "START_APP", "app": ["com.a", "com.b"]}, "app"),
        ({"type": "UPDATE_APP", "app": "vlc", "version": "1.0 --allow-unauthenticated"}, "version"),
        ({"type": "UPDATE_APP", "app": "vlc", "version": "-1"}, "version"),
        ({"type": "UPDATE_APP", "app": "vlc=9.9", "version": "1.0"}, "app"),
        ({"type": "UPDATE_APP", "app": "vlc", "version": "1.0\n"}, "version"),
        ({"type": "VIDEO", "video": "file:///etc/shadow"}, "scheme"),
        ({"type": "VIDEO", "video": "javascript:alert(1)"}, "scheme"),
        ({"type": "VIDEO", "video": "--playlist-autostart"}, "scheme"),
        ({"type": "VIDEO", "video": "https://example.com/a b.mp4"}, "spaces"),
        ({"type": "VIDEO", "video": "https://"}, "host"),
    ],
)
def test_invalid_structured_values_are_rejected_before_anything_runs(
    device: Device, action: dict, field: str
) -> None:
    for name in ("gtk-launch", "apt-get", "cvlc"):
        device.program(name)
    runner = device.runner(allow=["START_APP", "UPDATE_APP", "VIDEO"])
    runner.submit({"id": "op-1", **action}, "mqtt")
    drain(runner)

    assert device.calls() == []
    assert device.state("op-1") == "rejected"
    assert field in device.last_event("op-1")["reason"]


def test_video_hosts_are_limited_to_the_allowed_ones(device: Device) -> None:
    device.program("cvlc")
    runner = device.runner(allowed_hosts=["*.example.com", "media.local"], desktop_user="none")
    runner.submit({"id": "v-1", "type": "VIDEO", "video": "https://cdn.example.com/a.mp4"}, "mqtt")
    runner.submit({"id": "v-2", "type": "VIDEO", "video": "rtsp://media.local:8554/cam"}, "mqtt")
    runner.submit({"id": "v-3", "type": "VIDEO", "video": "https://evil.example.org/a.mp4"}, "mqtt")
    runner.submit({"id": "v-4", "type": "VIDEO", "video": "https://cdn.example.com@evil.test/a.mp4"}, "mqtt")
    drain(runner)

    assert [call[-1] for call in device.calls()] == [
        "https://cdn.example.com/a.mp4",
        "rtsp://media.local:8554/cam",
    ]
    assert device.state("v-3") == "rejected" and "evil.example.org" in device.last_event("v-3")["reason"]
    assert device.state("v-4") == "rejected" and "evil.test" in device.last_event("v-4")["reason"]


def test_extra_fields_cannot_add_arguments(device: Device) -> None:
    device.program("cvlc")
    runner = device.runner(desktop_user="none")
    runner.submit(
        {
            "id": "v-1",
            "type": "VIDEO",
            "video": "https://cdn.example.com/a.mp4",
            "argv": ["--extraintf", "http"],
            "args": "--extraintf http",
            "parameters": {"video_args": "--loop"},
        },
        "mqtt",
    )
    drain(runner)

    assert device.calls() == [["cvlc", "--play-and-exit", "--fullscreen", "https://cdn.example.com/a.mp4"]]


def test_a_leading_dash_where_a_program_reads_options_is_refused(device: Device) -> None:
    device.program("notify-send")
    # An operator's template with the message as a bare argument: "-x" there would be an option.
    runner = device.runner(commands={"MESSAGE": ["notify-send", "{message}"]})
    runner.submit({"id": "m-1", "type": "MESSAGE", "message": "--icon=/etc/shadow"}, "mqtt")
    runner.submit({"id": "m-2", "type": "MESSAGE", "message": "plain words"}, "mqtt")
    drain(runner)

    assert device.calls() == [["notify-send", "plain words"]]
    assert device.state("m-1") == "rejected"
    assert "option" in device.last_event("m-1")["reason"]


def test_a_type_not_allowed_is_rejected_with_an_event(device: Device) -> None:
    device.program("systemctl")
    runner = device.runner()  # default allow: MESSAGE, START_APP, VIDEO
    runner.submit({"id": "r-1", "type": "REBOOT"}, "mqtt")
    runner.submit({"id": "u-1", "type": "UPDATE_APP", "app": "vlc", "version": "3.0.20"}, "mqtt")
    drain(runner)

    assert device.calls() == []
    for action_id, action_type in (("r-1", "REBOOT"), ("u-1", "UPDATE_APP")):
        event = device.last_event(action_id)
        assert event["type"] == "action.rejected" and event["action_type"] == action_type
        assert "allow" in event["reason"]


def test_a_custom_command_runs_only_when_allowed_and_templated(device: Device) -> None:
    device.program("restart-player")
    # A custom type allowed without a template is a config error now (see tests/test_config.py);
    # a listed built-in without one on this profile is still refused when it arrives.
    with pytest.raises(ValidationError, match="custom command defined in"):
        ActionsConfig(allow=["RESTART_PLAYER"])
    untemplated = device.runner(allow=["UPDATE_FIRMWARE"])
    untemplated.submit({"id": "c-1", "type": "UPDATE_FIRMWARE", "url": "https://fw.example/1.bin"}, "xyte")
    drain(untemplated)
    assert device.state("c-1") == "rejected" and "no argv" in device.last_event("c-1")["reason"]

    runner = device.runner(
        allow=["restart_player"], commands={"restart-player": ["restart-player", "--screen", "{screen}"]}
    )
    runner.submit({"id": "c-2", "type": "restart-player", "screen": "2"}, "xyte")
    runner.submit({"id": "c-3", "type": "restart-player"}, "xyte")
    drain(runner)

    assert device.calls() == [["restart-player", "--screen", "2"]]
    assert "screen" in device.last_event("c-3")["reason"]


def test_a_template_cannot_let_the_payload_choose_the_program(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="must be fixed"):
        ActionsConfig(allow=["RUN"], commands={"RUN": ["{program}", "--now"]})


@pytest.mark.parametrize(
    "command",
    [
        {"type": "MESSAGE", "message": "no id"},
        {"id": "", "type": "MESSAGE", "message": "empty id"},
        {"id": "has space", "type": "MESSAGE", "message": "bad id"},
        {"id": "op-1", "type": "MESSAGE; reboot", "message": "bad type"},
        {"id": "op-1", "message": "no type"},
    ],
)
def test_a_command_without_a_valid_id_or_type_is_rejected_unrecorded(device: Device, command: dict) -> None:
    device.program("logger")
    runner = device.runner()
    assert runner.submit(command, "mqtt") is None
    drain(runner)

    assert device.calls() == []
    assert device.events[-1].type == "action.rejected"
    assert device.store.journal.recent() == []
