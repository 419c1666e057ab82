"""On every broker engine: the operator's `edge-agent watch` and `edge-agent send` against a real agent.

A fleet that moves to a clustered broker keeps its operators' view and their way of
sending actions. `watch --share` needs MQTT 5 shared subscriptions; where the engine
speaks only MQTT 3.1.1 the test asserts what docs/brokers.md promises instead: exit 1
and an error that names the protocol.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from compat_agents import DEVICE, device_config, fake_program
from compat_record import UNSUPPORTED
from fleet_helpers import WAIT, CliProcess, cli


def rows_until(watcher: CliProcess, wanted: str) -> list[dict]:
    """The watcher's JSON rows, read until one of DEVICE has status ``wanted``."""
    rows: list[dict] = []
    deadline = time.monotonic() + WAIT
    while not any(r["device_id"] == DEVICE and r["status"] == wanted for r in rows):
        assert time.monotonic() < deadline, f"no {wanted} row for {DEVICE}: {rows}\n{watcher.stderr()}"
        rows.append(json.loads(watcher.next_line(timeout=max(0.1, deadline - time.monotonic()))))
    return rows


@pytest.mark.compat("watch")
def test_watch_shows_a_device_come_online_with_its_metrics_and_go_offline(
    engine, compat, prefix: str, tmp_path: Path, start_agent
) -> None:
    port = str(engine.port)
    watcher = CliProcess(tmp_path, "watch", "-H", "127.0.0.1", "-p", port, "--prefix", prefix, "--json")
    try:
        watcher.wait_stderr(f"watching {prefix}/+/status")
        agent = start_agent(device_config(tmp_path, engine.port, prefix))
        online = rows_until(watcher, "online")
        # the live view fills from the agent's state as it is published
        deadline = time.monotonic() + WAIT
        while not any(r["device_id"] == DEVICE and r["memory_free_percent"] is not None for r in online):
            assert time.monotonic() < deadline, f"no metrics in the rows: {online}"
            online.append(json.loads(watcher.next_line()))
        assert agent.terminate() == 0
        offline = rows_until(watcher, "offline")
        assert offline[-1]["since"] is not None  # a change seen live has a start time
        assert watcher.terminate() == 0
    finally:
        watcher.kill()


@pytest.mark.compat("send")
def test_send_runs_an_action_on_the_device_and_prints_its_result(
    engine, compat, prefix: str, tmp_path: Path, start_agent, watch
) -> None:
    status = f"{prefix}/{DEVICE}/status"
    program, ran = fake_program(tmp_path)
    config = device_config(tmp_path, engine.port, prefix, program=program)
    watcher = watch(engine.port, [status])
    start_agent(config)
    watcher.wait_last(status, b"online")  # subscribed to its commands by then

    done = cli("send", "-c", str(config), DEVICE, '{"type":"MESSAGE","message":"hi"}', "--timeout", "30")

    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert [line.split()[0] for line in done.stdout.splitlines()][-1] == "succeeded"
    assert [json.loads(line) for line in ran.read_text().splitlines()] == [["hi"]]
    if "(MQTT 3.1.1)" in done.stderr:
        compat.note("send", "no MQTT 5 here, so `send` spoke 3.1.1 and read the result from the events topic")


@pytest.mark.compat("share")
def test_watchers_sharing_a_group_split_the_fleet_or_the_error_names_the_protocol(
    engine, compat, prefix: str, tmp_path: Path, watch
) -> None:
    port = str(engine.port)
    args = ("watch", "-H", "127.0.0.1", "-p", port, "--prefix", prefix, "--share", "ops", "--json")
    first = CliProcess(tmp_path, *args, "--refresh", "0.1")
    try:
        deadline = time.monotonic() + WAIT
        while f"watching $share/ops/{prefix}/+/status" not in first.stderr():
            if first.process.poll() is not None:
                break
            assert time.monotonic() < deadline, first.stderr()
            time.sleep(0.05)
        if first.process.poll() is not None:
            compat.limited("share", UNSUPPORTED)
            # Documented: exit 1 and an error that says MQTT 5 was asked for; no traceback.
            assert first.process.returncode == 1
            assert "MQTT 5 was asked for" in first.stderr() and "Traceback" not in first.stderr()
            return
        second = CliProcess(tmp_path, *args, "--refresh", "0.1")
        try:
            second.wait_stderr(f"watching $share/ops/{prefix}/+/status")
            device = watch(engine.port, ["none/yet"])
            ids = {f"dev-{n:02d}" for n in range(30)}
            for device_id in sorted(ids):
                device.publish(f"{prefix}/{device_id}/status", b"online")
            seen: list[set[str]] = [set(), set()]
            while seen[0] | seen[1] != ids:
                assert time.monotonic() < deadline + WAIT, f"rows seen: {seen}"
                for watcher, rows in zip((first, second), seen):
                    if not watcher.lines.empty():
                        rows.add(json.loads(watcher.lines.get_nowait())["device_id"])
                time.sleep(0.01)
            assert not seen[0] & seen[1]  # each message went to one member of the group
            assert seen[0] and seen[1]
            assert second.terminate() == 0
        finally:
            second.kill()
        assert first.terminate() == 0
    finally:
        first.kill()
