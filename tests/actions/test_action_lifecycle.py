"""What happens to an action between received and done: expiry, timeouts, order, profiles, repeats."""

from __future__ import annotations

import asyncio
from typing import Optional

from action_device import Device, drain

from edge_agent.actions import ActionRunner
from edge_agent.model import Event

TERMUX = {"TERMUX_VERSION": "0.118", "PREFIX": "/data/data/com.termux/files/usr"}


def test_an_expired_action_is_not_run_and_says_so(device: Device) -> None:
    device.program("logger")
    runner = device.runner()
    runner.submit(
        {"id": "late", "type": "MESSAGE", "message": "x", "expires_at": "2029-12-31T23:59:59Z"}, "mqtt"
    )
    runner.submit({"id": "on-time", "type": "MESSAGE", "message": "y", "expires_at": 1893499200 + 60}, "mqtt")
    drain(runner)

    assert [call[-1] for call in device.calls()] == ["y"]
    assert device.state("late") == "expired"
    event = device.last_event("late")
    assert event["type"] == "action.expired" and "2029-12-31T23:59:59" in event["reason"]


def test_an_action_past_its_timeout_is_killed_and_failed(device: Device) -> None:
    device.program("cvlc", hang=True)
    runner = device.runner(timeouts={"VIDEO": 0.3}, desktop_user="none")
    runner.submit({"id": "v-1", "type": "VIDEO", "video": "https://cdn.example.com/a.mp4"}, "mqtt")
    drain(runner)

    event = device.last_event("v-1")
    assert event["type"] == "action.failed"
    assert event["exit_code"] is None and "timeout" in event["reason"]
    assert device.state("v-1") == "failed"


def test_a_failing_program_is_reported_with_its_exit_code_and_output(device: Device) -> None:
    device.program(
        "apt-get", exit_code=100, stdout="Reading package lists...\n", stderr="E: Unable to locate package\n"
    )
    runner = device.runner(allow=["UPDATE_APP"])
    runner.submit({"id": "u-1", "type": "UPDATE_APP", "app": "dr.ramasjang.dk", "version": "19.31.3"}, "iptv")
    drain(runner)

    assert device.calls() == [["apt-get", "install", "--yes", "--only-upgrade", "dr.ramasjang.dk=19.31.3"]]
    event = device.last_event("u-1")
    assert event["type"] == "action.failed" and event["exit_code"] == 100
    assert event["stderr_tail"] == "E: Unable to locate package\n"
    assert event["stdout_tail"] == "Reading package lists...\n"


def test_output_is_kept_only_as_a_bounded_tail(device: Device) -> None:
    device.program("logger", stdout="x" * 100_000 + "THE END")
    runner = device.runner()
    runner.submit({"id": "m-1", "type": "MESSAGE", "message": "hi"}, "mqtt")
    drain(runner)

    tail = device.last_event("m-1")["stdout_tail"]
    assert tail.endswith("THE END") and len(tail) == 2048


def test_a_missing_program_fails_the_action(device: Device) -> None:
    runner = device.runner()  # no logger on this device's PATH
    runner.submit({"id": "m-1", "type": "MESSAGE", "message": "hi"}, "mqtt")
    drain(runner)

    event = device.last_event("m-1")
    assert event["type"] == "action.failed" and "program not found: logger" in event["reason"]


def test_pip_updates_when_configured(device: Device) -> None:
    device.program("python3")
    runner = device.runner(allow=["UPDATE_APP"], update_method="pip")
    runner.submit({"id": "u-1", "type": "UPDATE_APP", "app": "edge-agent", "version": "1.2.0"}, "mqtt")
    drain(runner)
    assert device.calls() == [["python3", "-m", "pip", "install", "--upgrade", "edge-agent==1.2.0"]]


def test_dry_run_runs_nothing_and_records_what_it_would_have_run(device: Device) -> None:
    device.program("systemctl")
    runner = device.runner(allow=["REBOOT", "MESSAGE"], dry_run=True)
    runner.submit({"id": "r-1", "type": "REBOOT"}, "mqtt")
    runner.submit({"id": "m-1", "type": "MESSAGE", "message": "hello"}, "mqtt")
    drain(runner)

    assert device.calls() == []
    for action_id, argv in (("r-1", ["systemctl", "reboot"]), ("m-1", ["logger", "--tag", "edge-agent"])):
        event = device.last_event(action_id)
        assert event["type"] == "action.succeeded" and event["dry_run"] is True
        assert event["argv"][: len(argv)] == argv


def test_actions_of_one_type_run_one_at_a_time_in_order(device: Device) -> None:
    gate = device.root / "gate"
    device.program("logger", gate=gate)
    device.program("cvlc")
    stopping: list[asyncio.Event] = []  # made inside the loop (Python 3.9 binds an Event to one)

    def watch(event: Event) -> None:
        if event.data.get("action_id") == "v-1" and event.type == "action.succeeded":
            # The VIDEO ran beside the blocked MESSAGE; the second MESSAGE must still wait.
            assert device.event_types("m-2") == ["action.received"]
            assert [call[-1] for call in device.calls()] == ["first", "https://cdn.example.com/a.mp4"]
            gate.touch()
        if event.data.get("action_id") == "m-2" and event.type == "action.succeeded":
            stopping[0].set()

    runner = device.runner(on_event=watch, desktop_user="none")
    runner.submit({"id": "m-1", "type": "MESSAGE", "message": "first"}, "mqtt")
    runner.submit({"id": "m-2", "type": "MESSAGE", "message": "second"}, "mqtt")

    async def main() -> None:
        stopping.append(asyncio.Event())
        task = asyncio.ensure_future(runner.run(stopping[0]))
        # Queue the video once the first message's program is running (blocked on the gate).
        while not device.calls():
            await asyncio.sleep(0.01)
        runner.submit({"id": "v-1", "type": "VIDEO", "video": "https://cdn.example.com/a.mp4"}, "mqtt")
        await asyncio.wait_for(task, 30)

    asyncio.run(main())
    assert [call[-1] for call in device.calls()] == ["first", "https://cdn.example.com/a.mp4", "second"]
    assert device.state("m-2") == "succeeded"


def test_stopping_kills_a_running_action_and_leaves_waiting_ones_for_the_next_start(device: Device) -> None:
    device.program("logger", hang=True)
    runner = device.runner()
    runner.submit({"id": "m-1", "type": "MESSAGE", "message": "first"}, "mqtt")
    runner.submit({"id": "m-2", "type": "MESSAGE", "message": "second"}, "mqtt")

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(runner.run(stop))
        while not device.calls():  # the first message's program is up (and hangs)
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(main())
    assert device.state("m-1") == "interrupted"
    assert device.last_event("m-1")["type"] == "action.interrupted"
    assert device.state("m-2") == "received"
    device.program("logger")  # the next start, with a logger that returns
    drain(device.runner())
    assert device.state("m-2") == "succeeded"
    assert [call[-1] for call in device.calls()] == ["first", "second"]


def start_app(device: Device, action: dict, *, room: Optional[str] = None) -> ActionRunner:
    device.program("am")
    runner = device.runner(profile="auto", env=TERMUX, technical_room_number=room)
    runner.submit({"id": "s-1", "type": "START_APP", **action}, action.pop("source", "iptv"))
    drain(runner)
    return runner


LAUNCH = ["am", "start", "-a", "android.intent.action.MAIN", "-c", "android.intent.category.LAUNCHER", "-p"]


def test_start_app_adds_no_extras_unless_asked(device: Device) -> None:
    start_app(device, {"app": "com.android.raider", "includeToken": False})
    assert device.calls() == [[*LAUNCH, "com.android.raider"]]


def test_start_app_passes_token_device_id_and_room_when_asked_and_masks_the_token(device: Device) -> None:
    start_app(
        device,
        {
            "app": "com.android.raider",
            "includeToken": True,
            "includeDeviceId": True,
            "includeTechnicalRoomNumber": True,
        },
        room="101",
    )
    extras = [
        "--es",
        "token",
        "t0k3n-secret",
        "--es",
        "deviceId",
        "pi-lobby",
        "--es",
        "technicalRoomNumber",
        "101",
    ]
    assert device.calls() == [[*LAUNCH, "com.android.raider", *extras]]
    shown = device.last_event("s-1")
    assert "t0k3n-secret" not in str(shown) and "t0k3n-secret" not in str(device.store.journal.get("s-1"))
    assert "***" in device.events[1].data["argv"]


def test_start_app_asking_for_what_the_device_lacks_is_rejected(device: Device) -> None:
    start_app(device, {"app": "com.android.raider", "includeTechnicalRoomNumber": True})
    assert device.calls() == []
    assert "technical_room_number" in device.last_event("s-1")["reason"]


def test_termux_messages_follow_notify(device: Device) -> None:
    for name in ("termux-toast", "termux-notification"):
        device.program(name)
    runner = device.runner(profile="auto", env=TERMUX)
    runner.submit({"id": "n-0", "type": "MESSAGE", "message": "quiet", "notify": 0}, "iptv")
    runner.submit({"id": "n-r", "type": "MESSAGE", "message": "read me", "notify": "READ"}, "iptv")
    runner.submit({"id": "n-s", "type": "MESSAGE", "message": "ring", "notify": "SOUND"}, "iptv")
    runner.submit({"id": "n-x", "type": "MESSAGE", "message": "?", "notify": "LOUD"}, "iptv")
    drain(runner)

    assert device.calls() == [
        ["termux-toast", "--", "quiet"],
        ["termux-notification", "--id", "n-r", "--title", "edge-agent", "--content", "read me"],
        [
            "termux-notification",
            "--id",
            "n-s",
            "--sound",
            "--priority",
            "high",
            "--title",
            "edge-agent",
            "--content",
            "ring",
        ],
    ]
    assert device.state("n-x") == "rejected"


def test_termux_reboot_and_video_use_su_and_termux_open_url(device: Device) -> None:
    device.program("su")
    device.program("termux-open-url")
    runner = device.runner(profile="termux", allow=["REBOOT", "VIDEO"])
    runner.submit({"id": "v-1", "type": "VIDEO", "video": "https://cdn.example.com/a.mp4"}, "iptv")
    runner.submit({"id": "r-1", "type": "REBOOT"}, "iptv")
    drain(runner)
    assert sorted(device.calls()) == [
        ["su", "-c", "reboot"],
        ["termux-open-url", "https://cdn.example.com/a.mp4"],
    ]


def test_an_operator_override_replaces_the_profile_for_that_type(device: Device) -> None:
    device.program("termux-toast")
    device.program("termux-notification")
    runner = device.runner(
        profile="termux", commands={"MESSAGE": ["termux-toast", "-g", "top", "--", "{message}"]}
    )
    runner.submit({"id": "m-1", "type": "MESSAGE", "message": "ring", "notify": "SOUND"}, "iptv")
    drain(runner)
    assert device.calls() == [["termux-toast", "-g", "top", "--", "ring"]]


def test_a_repeated_message_is_shown_every_90_seconds_until_its_duration_ends(device: Device) -> None:
    device.program("logger")
    runner = device.runner()
    runner.submit(
        {
            "id": "m-1",
            "type": "MESSAGE",
            "message": "App is now updated",
            "repeat": True,
            "notify": "SOUND",
            "duration": 200_000,
        },
        "iptv",
    )
    drain(runner)  # the runner's sleep is the test clock's: 90 s pass instantly

    assert len(device.calls()) == 3  # at 0 s, 90 s and 180 s of the 200 s
    entry = device.store.journal.get("m-1")
    assert entry is not None and entry.state == "succeeded" and entry.detail["repeats"] == 2
    assert device.clock.monotonic() == 180


def test_a_message_without_repeat_is_shown_once(device: Device) -> None:
    device.program("logger")
    runner = device.runner()
    runner.submit(
        {"id": "m-1", "type": "MESSAGE", "message": "Lunch", "repeat": False, "duration": 999_999}, "iptv"
    )
    drain(runner)
    assert len(device.calls()) == 1
