"""`edge-agent watch` as an operator runs it, against a real broker the test publishes to."""

from __future__ import annotations

import json
import queue
import time
from pathlib import Path
from typing import Any, Callable

from fleet_helpers import WAIT, CliProcess, cli, event, outcome, state
from mqtt_brokers import BrokerProcess, free_port
from mqtt_watch import Watcher


def publish_fleet(device: Watcher) -> None:
    """Three devices as agents leave them on the broker: retained status, state, heartbeat outcomes."""
    device.publish("edge/pi-1/status", b"online", retain=True)
    device.publish(
        "edge/pi-1/state",
        state(cpu_percent=21.0, memory_free_percent=70.0, temperatures={"cpu": 48.5}, wifi_signal_dbm=-55),
        retain=True,
    )
    device.publish("edge/pi-1/heartbeat/iptv", json.dumps(outcome(True)).encode(), retain=True)
    device.publish("edge/pi-2/status", b"offline", retain=True)
    device.publish("edge/pi-2/state", state(battery_percent=15.0, charging=False), retain=True)
    device.publish("edge/pi-2/heartbeat/hub", json.dumps(outcome(False, status=503)).encode(), retain=True)
    device.publish("edge/tab-3/status", b"online", retain=True)
    device.publish("other/pi-9/status", b"online", retain=True)  # another prefix: not ours


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["device_id"]: row for row in rows}


def test_once_json_lists_every_device_the_broker_holds_under_the_prefix(
    broker: BrokerProcess, client: Callable[..., Watcher]
) -> None:
    publish_fleet(client(broker.port, ["none/yet"]))
    done = cli("watch", "-H", "127.0.0.1", "-p", str(broker.port), "--once", "--timeout", "1.5", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [row["device_id"] for row in rows] == ["pi-1", "pi-2", "tab-3"]
    devices = by_id(rows)
    assert devices["pi-1"]["status"] == "online"
    assert devices["pi-1"]["since"] is None  # retained: when it came online is not known
    assert (devices["pi-1"]["cpu_percent"], devices["pi-1"]["hottest"]) == (
        21.0,
        {"zone": "cpu", "celsius": 48.5},
    )
    assert devices["pi-1"]["heartbeats"]["iptv"]["ok"] is True
    assert devices["pi-2"]["status"] == "offline"
    assert (devices["pi-2"]["battery_percent"], devices["pi-2"]["charging"]) == (15.0, False)
    assert devices["pi-2"]["heartbeats"]["hub"]["status"] == 503
    assert devices["tab-3"]["cpu_percent"] is None


def test_once_prints_a_table_sorted_by_device(broker: BrokerProcess, client: Callable[..., Watcher]) -> None:
    publish_fleet(client(broker.port, ["none/yet"]))
    done = cli("watch", "-H", "127.0.0.1", "-p", str(broker.port), "--once", "--timeout", "1.5")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("DEVICE")
    assert [line.split()[:2] for line in lines[1:]] == [
        ["pi-1", "online"],
        ["pi-2", "offline"],
        ["tab-3", "online"],
    ]
    assert "hub ERR 503" in lines[2]


def test_the_broker_and_prefix_come_from_the_config_file(
    mosquitto_broker: BrokerProcess, client: Callable[..., Watcher], tmp_path: Path
) -> None:
    device = client(mosquitto_broker.port, ["none/yet"])
    device.publish("site-a/pi-7/status", b"online", retain=True)
    config = tmp_path / "watch.toml"
    config.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto_broker.port}\ntopic_prefix = "site-a"\n'
    )
    done = cli("watch", "-c", str(config), "--once", "--timeout", "1", "--json")
    assert done.returncode == 0, done.stderr
    assert [row["device_id"] for row in json.loads(done.stdout)] == ["pi-7"]


def test_live_json_follows_changes_and_sigterm_ends_it_cleanly(
    broker: BrokerProcess, client: Callable[..., Watcher], tmp_path: Path
) -> None:
    device = client(broker.port, ["none/yet"])
    device.publish("edge/pi-1/status", b"online", retain=True)
    watch = CliProcess(
        tmp_path, "watch", "-H", "127.0.0.1", "-p", str(broker.port), "--json", "--refresh", "0.1"
    )
    try:
        assert json.loads(watch.next_line())["device_id"] == "pi-1"
        device.publish("edge/pi-1/status", b"offline")
        row = json.loads(watch.next_line())
        assert (row["device_id"], row["status"]) == ("pi-1", "offline")
        assert row["since"] is not None  # seen live: we know when
        device.publish(
            "edge/pi-1/events",
            event("action.succeeded", action_id="a7", action_type="MESSAGE", state="succeeded", exit_code=0),
        )
        assert json.loads(watch.next_line())["last_action"]["id"] == "a7"
        assert watch.terminate() == 0
    finally:
        watch.kill()


def test_after_a_broker_restart_the_live_view_reconnects_and_follows_again(
    mosquitto_broker: BrokerProcess, client: Callable[..., Watcher], tmp_path: Path
) -> None:
    device = client(mosquitto_broker.port, ["edge/pi-1/cmd"])
    device.publish("edge/pi-1/status", b"online", retain=True)
    watch = CliProcess(tmp_path, "watch", "-H", "127.0.0.1", "-p", str(mosquitto_broker.port), "--json")
    try:
        assert json.loads(watch.next_line())["status"] == "online"
        mosquitto_broker.restart()  # no persistence: the retained status is gone with it
        device.wait_subscribed(2)  # the device's client is back
        device.publish("edge/pi-1/status", b"offline", retain=True)
        row = json.loads(watch.next_line())
        assert (row["device_id"], row["status"]) == ("pi-1", "offline")
        assert watch.terminate() == 0
    finally:
        watch.kill()
    assert "lost the broker" in watch.stderr()


def test_watchers_sharing_a_group_split_the_live_traffic(
    mosquitto_broker: BrokerProcess, client: Callable[..., Watcher], tmp_path: Path
) -> None:
    device = client(mosquitto_broker.port, ["none/yet"])
    # Retained messages and shared subscriptions: the MQTT 5 spec says a broker does not
    # send them, mosquitto 2.0 sends them to every member. Either way no live split.
    device.publish("edge/old-1/status", b"online", retain=True)
    port = str(mosquitto_broker.port)
    args = ("watch", "-H", "127.0.0.1", "-p", port, "--share", "ops", "--json", "--refresh", "0.1")
    watchers = [CliProcess(tmp_path, *args), CliProcess(tmp_path, *args)]
    try:
        for watcher in watchers:
            watcher.wait_stderr("watching $share/ops/edge/+/status")
        ids = {f"live-{n:02d}" for n in range(40)}
        for device_id in sorted(ids):
            device.publish(f"edge/{device_id}/state", state(cpu_percent=5.0))
        seen = live_rows(watchers, ids)
        assert [watcher.terminate() for watcher in watchers] == [0, 0]
    finally:
        for watcher in watchers:
            watcher.kill()
    assert seen[0] | seen[1] == ids
    assert not seen[0] & seen[1]  # each message went to one watcher of the group
    assert seen[0] and seen[1]


def live_rows(watchers: list[CliProcess], ids: set[str]) -> list[set[str]]:
    """Which of ``ids`` each watcher printed a row for, read until every id was printed by one."""
    seen: list[set[str]] = [set() for _ in watchers]
    deadline = time.monotonic() + WAIT
    while set().union(*seen) != ids:
        assert time.monotonic() < deadline, f"rows seen: {seen}"
        for watcher, rows in zip(watchers, seen):
            try:
                row = json.loads(watcher.lines.get(timeout=0.05))
            except queue.Empty:
                continue
            if row["device_id"] in ids:
                rows.add(row["device_id"])
    return seen


def test_an_unreachable_broker_is_an_error_not_an_empty_fleet() -> None:
    done = cli("watch", "-H", "127.0.0.1", "-p", str(free_port()), "--once", "--timeout", "1", "--json")
    assert done.returncode == 1
    assert "cannot reach the broker" in done.stderr
    assert done.stdout == ""
