"""Exactly once: an action id runs once, whoever repeats it, across crashes and reboots."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from action_device import Device, drain, read_calls, write_program

from edge_agent.heartbeat.context import StoreContext
from edge_agent.model import Action as VendorAction
from edge_agent.store import Store

HARNESS = Path(__file__).with_name("runner_harness.py")


def run_agent(store: Path, bin_dir: Path, config: dict[str, Any], action: str = "") -> tuple[int, list[dict]]:
    """Start the harness agent once; its exit code and the events it printed."""
    done = subprocess.run(
        [sys.executable, str(HARNESS), str(store), str(bin_dir), json.dumps(config), action],
        capture_output=True,
        text=True,
        timeout=60,
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, events


def test_the_same_mqtt_command_delivered_twice_runs_once(device: Device) -> None:
    device.program("logger")
    runner = device.runner()
    command = {"id": "op-1", "type": "MESSAGE", "message": "Lunch is ready"}

    assert runner.submit(command, "mqtt") == "op-1"
    assert runner.submit(dict(command), "mqtt") is None  # a duplicated QoS 1 delivery
    drain(runner)
    assert runner.submit(command, "mqtt") is None  # a retained copy after a reconnect
    drain(runner)

    assert len(device.calls()) == 1
    assert device.state("op-1") == "succeeded"
    rejected = [e.to_json() for e in device.events if e.type == "action.rejected"]
    assert len(rejected) == 2 and all("duplicate" in e["reason"] for e in rejected)


def test_a_vendor_action_journalled_twice_runs_once(device: Device) -> None:
    device.program("systemctl")
    runner = device.runner(allow=["REBOOT"])
    # The heartbeat engine records what a Telecom X reply holds, then wakes the runner;
    # a retried heartbeat returns the same action again.
    assert device.store.journal.record("tx-77", "iptv", "REBOOT", {"type": "REBOOT", "date": 149465758})
    assert not device.store.journal.record("tx-77", "iptv", "REBOOT", {"type": "REBOOT", "date": 149465758})
    drain(runner)
    drain(runner)

    assert device.calls() == [["systemctl", "reboot"]]
    assert device.state("tx-77") == "succeeded"


def test_a_xyte_command_by_its_own_name_runs_and_its_result_is_in_the_journal(device: Device) -> None:
    device.program("systemctl")
    device.program("flash-firmware", stdout="flashed 2.0.1\n")
    runner = device.runner(
        allow=["reboot", "update_firmware"],
        commands={"UPDATE_FIRMWARE": ["flash-firmware", "--url", "{url}", "--version", "{version}"]},
    )
    device.store.journal.record("x-1", "hub", "reboot", {"id": "x-1", "name": "reboot", "parameters": {}})
    device.store.journal.record(
        "x-2",
        "hub",
        "update_firmware",
        {
            "id": "x-2",
            "name": "update_firmware",
            "parameters": {"url": "https://fw.example.com/2.0.1.bin", "version": "2.0.1"},
        },
    )
    drain(runner)

    # Actions of different types run side by side (docs/actions.md, "One at a time per
    # type"): each ran exactly once, in whichever order the two processes started.
    calls = sorted(device.calls())
    assert calls == sorted(
        [
            ["systemctl", "reboot"],
            ["flash-firmware", "--url", "https://fw.example.com/2.0.1.bin", "--version", "2.0.1"],
        ]
    )
    assert device.state("x-1") == "succeeded"
    firmware = device.store.journal.get("x-2")
    assert firmware is not None and firmware.state == "succeeded"
    assert firmware.detail["exit_code"] == 0 and firmware.detail["stdout_tail"] == "flashed 2.0.1\n"


def test_a_reboot_across_a_sigkill_restart_runs_once(tmp_path: Path) -> None:
    bin_dir, log, store = tmp_path / "bin", tmp_path / "calls.jsonl", tmp_path / "agent.db"
    # Like the real one, this systemctl reboot takes the agent down with it (SIGKILL, no goodbye).
    write_program(bin_dir, log, "systemctl", kill_parent=True)
    config = {"profile": "raspberrypi", "allow": ["REBOOT"]}
    reboot = json.dumps({"id": "op-reboot-1", "type": "REBOOT"})

    code, events = run_agent(store, bin_dir, config, reboot)
    assert code == -signal.SIGKILL
    assert [e["type"] for e in events] == ["action.received", "action.succeeded"]
    assert events[-1]["reboot_requested"] is True

    # Back up after the "reboot": the same command is delivered again (retained), and
    # the agent starts with nothing else to do.
    code, events = run_agent(store, bin_dir, config, reboot)
    assert code == 0
    assert [e["type"] for e in events] == ["action.rejected"]
    assert "duplicate" in events[0]["reason"]
    code, events = run_agent(store, bin_dir, config)
    assert code == 0 and events == []

    assert read_calls(log) == [["systemctl", "reboot"]]
    reopened = Store(store)
    entry = reopened.journal.get("op-reboot-1")
    reopened.close()
    assert entry is not None and entry.state == "succeeded" and entry.detail["reboot_requested"] is True


def test_an_action_running_when_the_agent_died_is_reported_interrupted_not_rerun(tmp_path: Path) -> None:
    bin_dir, log, store = tmp_path / "bin", tmp_path / "calls.jsonl", tmp_path / "agent.db"
    write_program(bin_dir, log, "backup-job", kill_parent=True)  # the agent dies under it
    config = {"profile": "none", "allow": ["BACKUP"], "commands": {"BACKUP": ["backup-job", "--now"]}}

    code, events = run_agent(store, bin_dir, config, json.dumps({"id": "op-backup", "type": "backup"}))
    assert code == -signal.SIGKILL
    assert [e["type"] for e in events] == ["action.received", "action.started"]

    code, events = run_agent(store, bin_dir, config)
    assert code == 0
    assert [(e["type"], e["action_id"]) for e in events] == [("action.interrupted", "op-backup")]
    assert "not run again" in events[0]["reason"]
    code, events = run_agent(store, bin_dir, config)
    assert events == []

    assert read_calls(log) == [["backup-job", "--now"]]


def test_the_reply_callback_hears_every_state_of_its_action(device: Device) -> None:
    device.program("logger")
    runner = device.runner()
    replies: list[dict] = []
    runner.submit({"id": "op-9", "type": "MESSAGE", "message": "hi"}, "mqtt", reply=replies.append)
    drain(runner)

    assert [r["state"] for r in replies] == ["received", "running", "succeeded"]
    assert [r["type"] for r in replies] == ["action.received", "action.started", "action.succeeded"]
    assert all(r["action_id"] == "op-9" for r in replies)


def test_actions_the_heartbeat_engine_queues_run_even_without_a_wake_up(device: Device) -> None:
    device.program("systemctl")
    device.program("gtk-launch")
    runner = device.runner(allow=["REBOOT", "START_APP"], poll_interval=0.05, desktop_user="none")
    context = StoreContext(device.store, "hub", device.clock, device.events.append, device_id="pi-lobby")
    queued = [
        VendorAction("hub:command:7c9e6679-7425-40de-944b-e07fc1f90ae7", "REBOOT", {}, "heartbeat:hub"),
        VendorAction("iptv:0f3c2a", "START_APP", {"app": "com.android.raider", "date": 1}, "heartbeat:iptv"),
    ]

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(runner.run(stop))
        await asyncio.sleep(0.01)  # the runner has looked at the (empty) journal and waits
        for action in queued:
            assert context.queue_action(action)
        assert not context.queue_action(queued[0])  # the hub sends it again on the next beat
        while len(device.calls()) < 2:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(asyncio.wait_for(main(), 30))
    assert sorted(device.calls()) == [["gtk-launch", "com.android.raider"], ["systemctl", "reboot"]]
    assert context.action_state(queued[0].id)[0] == "succeeded"  # what the hub's result report reads
