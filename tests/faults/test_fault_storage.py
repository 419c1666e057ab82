"""Storage faults: a store is never thrown away for a transient error; a full disk never kills the agent.

* a full disk or a lock at start-up is waited out, then the agent exits 75 keeping the
  file: the journal survives, so a command already run is refused when sent again;
* a really corrupt store is moved aside, and that is told on MQTT (``store.reset``) and
  by ``edge-agent status``;
* a disk that fills while the agent runs costs what cannot be written (counted, told
  live with ``store.degraded``), never the agent or a loop; it recovers by itself;
* the schema is versioned: a store of a newer release is refused untouched (exit 65),
  an old one is migrated, and an unknown constraint is an error, never "duplicate";
* the store and its folder are owner-only whatever the umask; a config holding secrets
  inline that others may read is warned about.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Optional

import pytest
from mqtt_agent_process import AgentProcess, agent_config
from mqtt_brokers import have_mosquitto, mosquitto
from mqtt_watch import Watcher
from storage_faults import Filler, LockHolder, tiny_disk
from support.waiting import wait_until

from edge_agent.errors import StoreError
from edge_agent.store import Store

DEVICE = "dev-1"
BASE = f"edge/{DEVICE}"
needs_mosquitto = pytest.mark.skipif(not have_mosquitto(), reason="mosquitto is not installed")


def edge_agent(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True, timeout=timeout
    )


def plain_config(tmp_path: Path, store: Path, extra: str = "") -> Path:
    """An agent without a broker or vendors: only the store matters here."""
    path = tmp_path / "agent.toml"
    path.write_text(f'[device]\nid = "{DEVICE}"\n\n[storage]\npath = "{store}"\n{extra}\n')
    return path


def journal_a_run_command(path: Path) -> None:
    store = Store(path)
    store.journal.record("signed-1", "mqtt", "MESSAGE", {"message": "once"})
    store.journal.update("signed-1", "succeeded", exit_code=0)
    store.close()


class LogLines(logging.Handler):
    """The store's log lines, to wait for the moment it starts retrying."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def __enter__(self) -> LogLines:
        logging.getLogger("edge_agent.store").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("edge_agent.store").removeHandler(self)


def open_in_thread(path: Path) -> tuple[threading.Thread, dict[str, Any]]:
    """``Store(path)`` with its defaults, in a thread (it waits while the disk is full)."""
    result: dict[str, Any] = {}

    def opener() -> None:
        try:
            result["store"] = Store(path)
        except BaseException as exc:  # reported to the test thread
            result["error"] = exc

    thread = threading.Thread(target=opener, daemon=True)
    thread.start()
    return thread, result


# -- 1. never thrown away for a transient error ----------------------------------------------


def test_a_full_disk_at_start_is_waited_out_and_the_journal_is_kept(tmp_path: Path) -> None:
    with tiny_disk(tmp_path / "disk") as disk:
        path = disk / "agent.db"
        journal_a_run_command(path)
        filler = Filler(disk)
        filler.fill()
        with LogLines() as log:
            thread, result = open_in_thread(path)
            wait_until(
                "the store to say it waits for the disk",
                lambda: any("cannot open the store" in line for line in log.lines) or "error" in result,
            )
            filler.free()
            thread.join(timeout=60)
        assert "error" not in result, result.get("error")
        store = result["store"]
        entry = store.journal.get("signed-1")
        assert entry is not None and entry.state == "succeeded"
        assert store.journal.record("signed-1", "mqtt", "MESSAGE", {"message": "once"}) is False
        store.close()
        assert not list(disk.glob("*.corrupt-*")), "a healthy store was moved aside"


def test_a_full_disk_at_start_exits_75_keeping_the_file_and_a_replay_is_refused(tmp_path: Path) -> None:
    with tiny_disk(tmp_path / "disk") as disk:
        path = disk / "agent.db"
        journal_a_run_command(path)
        config = plain_config(tmp_path, path, "open_wait = 1\n")
        filler = Filler(disk)
        filler.fill()
        result = edge_agent("run", "-c", str(config))
        assert result.returncode == 75, result.stderr
        assert "cannot open the store" in result.stderr and "kept" in result.stderr
        assert not list(disk.glob("*.corrupt-*")), "a healthy store was moved aside"
        filler.free()
        store = Store(path)
        assert store.journal.record("signed-1", "mqtt", "MESSAGE", {"message": "once"}) is False
        store.close()


def test_a_store_locked_by_another_process_is_waited_for_not_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    journal_a_run_command(path)
    holder = LockHolder(path)
    try:
        with LogLines() as log:
            thread, result = open_in_thread(path)
            wait_until(
                "the store to say it waits for the lock",
                lambda: any("cannot open the store" in line for line in log.lines) or "error" in result,
                timeout=60,
            )
            holder.release()
            thread.join(timeout=60)
    finally:
        holder.release()
    assert "error" not in result, result.get("error")
    entry = result["store"].journal.get("signed-1")
    assert entry is not None and entry.state == "succeeded"
    assert not list(tmp_path.glob("*.corrupt-*")), "a locked store was moved aside"


def test_a_store_locked_for_longer_than_open_wait_exits_75_and_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    journal_a_run_command(path)
    config = plain_config(tmp_path, path, "open_wait = 0.5\n")
    holder = LockHolder(path)
    try:
        result = edge_agent("run", "-c", str(config))
    finally:
        holder.release()
    assert result.returncode == 75, result.stderr
    assert "database is locked" in result.stderr
    assert not list(tmp_path.glob("*.corrupt-*"))
    entry = Store(path).journal.get("signed-1")
    assert entry is not None and entry.state == "succeeded"


# -- 2. a store moved aside is told ----------------------------------------------------------


def corrupt(path: Path) -> None:
    store = Store(path)
    store.state.set("hub", "device_id", "abc")
    store.close()
    data = bytearray(path.read_bytes())
    data[0:100] = b"\x00not a database header" * 4 + b"\x00" * 8  # torn by a bad write
    path.write_bytes(bytes(data))


@needs_mosquitto
def test_a_corrupt_store_is_moved_aside_and_told_on_mqtt_and_in_status(tmp_path: Path) -> None:
    broker = mosquitto(tmp_path).start()
    watcher = Watcher(broker.port, [f"{BASE}/#"])
    agent: Optional[AgentProcess] = None
    try:
        config = agent_config(tmp_path, broker.port)
        store_path = tmp_path / f"{DEVICE}.db"
        corrupt(store_path)
        agent = AgentProcess(config, tmp_path / "agent.log")
        resets = watcher.wait_for(
            "a store.reset event", lambda _: watcher.events(f"{BASE}/events", "store.reset")
        )
        moved = list(tmp_path.glob(f"{DEVICE}.db.corrupt-*"))
        assert len(moved) == 1
        assert resets[0]["file"] == moved[0].name
        assert "not a database" in resets[0]["reason"]
        assert agent.terminate() == 0

        # A second start does not tell it again: it was told once.
        agent = AgentProcess(config, tmp_path / "agent.log")
        watcher.wait_for(
            "the second start",
            lambda _: len(watcher.events(f"{BASE}/events", "agent.started")) >= 2,
        )
        assert agent.terminate() == 0
        assert len(watcher.events(f"{BASE}/events", "store.reset")) == 1

        status = edge_agent("status", "-c", str(config), "--json")
        assert status.returncode == 0, status.stderr
        shown = json.loads(status.stdout)["store_reset"]
        assert shown["file"] == moved[0].name and shown["reported"] is True
        assert "not a database" in shown["reason"] and shown["time"]
        assert json.loads(status.stdout)["store_schema"] == 1
        text = edge_agent("status", "-c", str(config)).stdout
        assert f"store reset at {shown['time']}" in text and moved[0].name in text
    finally:
        if agent is not None:
            agent.kill()
        watcher.close()
        broker.kill()


def test_status_never_moves_a_corrupt_store_aside(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    corrupt(path)
    result = edge_agent("status", "-c", str(plain_config(tmp_path, path)))
    assert result.returncode != 0 and "corrupt" in result.stderr
    assert not list(tmp_path.glob("*.corrupt-*"))


# -- 3. a full disk while running --------------------------------------------------------------


def fast_runner_config(tmp_path: Path, port: int, store: Path) -> Path:
    program = tmp_path / "act"
    log = tmp_path / "actions.log"
    program.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    program.chmod(0o755)
    config = agent_config(tmp_path, port)
    text = config.read_text().replace(f'path = "{tmp_path / (DEVICE + ".db")}"', f'path = "{store}"')
    text += '\n[actions]\nprofile = "none"\nallow = ["MESSAGE"]\n\n[actions.commands]\n'
    text += f'MESSAGE = ["{program}", "{{message}}"]\n'
    config.write_text(text)
    return config


def command(watcher: Watcher, command_id: str) -> None:
    body = {"id": command_id, "type": "MESSAGE", "message": command_id}
    watcher.publish(f"{BASE}/cmd", json.dumps(body).encode())


@needs_mosquitto
def test_a_disk_filling_up_while_running_degrades_the_agent_then_it_recovers_by_itself(
    tmp_path: Path,
) -> None:
    broker = mosquitto(tmp_path).start()
    watcher = Watcher(broker.port, [f"{BASE}/#"])
    agent: Optional[AgentProcess] = None
    with tiny_disk(tmp_path / "disk", size="1m") as disk:
        try:
            config = fast_runner_config(tmp_path, broker.port, disk / "agent.db")
            agent = AgentProcess(config, tmp_path / "agent.log")
            events = f"{BASE}/events"
            watcher.wait_for("agent.started", lambda _: watcher.events(events, "agent.started"))
            command(watcher, "before")
            watcher.wait_for("the first command to run", lambda _: watcher.events(events, "action.succeeded"))

            filler = Filler(disk)
            filler.fill()
            command(watcher, "while-full")  # its command.received cannot be owed durably
            degraded = watcher.wait_for("store.degraded", lambda _: watcher.events(events, "store.degraded"))
            assert "full" in degraded[0]["reason"] or "I/O" in degraded[0]["reason"]
            # Live state goes on: fresh metrics after the degradation, and the agent is alive.
            mark = len(watcher.seen)
            watcher.wait_for(
                "fresh state while degraded",
                lambda seen: sum(m.topic == f"{BASE}/state" for m in seen[mark:]) >= 3,
            )
            assert agent.process.poll() is None, agent.text()

            filler.free()
            recovered = watcher.wait_for(
                "store.recovered", lambda _: watcher.events(events, "store.recovered"), timeout=60
            )
            assert recovered[0]["unpersisted"] >= 1
            command(watcher, "after")
            watcher.wait_for(
                "the command after recovery to run",
                lambda _: any(e["action_id"] == "after" for e in watcher.events(events, "action.succeeded")),
            )
            assert agent.process.poll() is None, agent.text()
            assert agent.terminate() == 0
        finally:
            if agent is not None:
                agent.kill()
            watcher.close()
            broker.kill()


# -- 4. the schema has a version ----------------------------------------------------------------


def set_user_version(path: Path, version: int) -> None:
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()


def user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def test_a_store_of_a_newer_release_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    journal_a_run_command(path)
    set_user_version(path, 7)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer"):
        Store(path)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.corrupt-*"))

    result = edge_agent("run", "-c", str(plain_config(tmp_path, path)))
    assert result.returncode == 65, result.stderr
    assert "schema version 7" in result.stderr and "newer" in result.stderr
    assert path.read_bytes() == before


def test_a_store_made_before_schema_versions_is_migrated_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    journal_a_run_command(path)
    set_user_version(path, 0)  # what every release before schema versions left
    store = Store(path)
    entry = store.journal.get("signed-1")
    assert entry is not None and entry.state == "succeeded"
    store.close()
    assert user_version(path) == 1


def test_an_unknown_constraint_is_an_error_never_a_duplicate(tmp_path: Path) -> None:
    # A journal of an unknown shape (a column this code does not fill): every insert breaks a
    # constraint. That is an error to see, not "this action was seen before".
    path = tmp_path / "agent.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE journal (action_id TEXT PRIMARY KEY, source TEXT NOT NULL, type TEXT NOT NULL, "
        "payload TEXT NOT NULL, state TEXT NOT NULL, received REAL NOT NULL, updated REAL NOT NULL, "
        "detail TEXT NOT NULL DEFAULT '{}', device TEXT NOT NULL);"
    )
    db.close()
    store = Store(path)
    with pytest.raises(StoreError, match="NOT NULL"):
        store.journal.record("new-1", "mqtt", "MESSAGE", {"message": "hi"})


# -- 5. owner-only files; exposed inline secrets are warned about -------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_store_and_its_folders_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o002)
    users_folder = mode(tmp_path)
    try:
        path = tmp_path / "state" / "edge-agent" / "agent.db"
        store = Store(path)
        store.outbox.add("t", b"x")  # the -wal and -shm exist while the store is open
        for created in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert mode(created) == 0o600, f"{created.name} is {mode(created):04o}"
        for folder in (path.parent, path.parent.parent):
            assert mode(folder) == 0o700, f"{folder} is {mode(folder):04o}"
        store.close()
        assert mode(tmp_path) == users_folder  # a folder the store did not create is left as it was
    finally:
        os.umask(old)


def test_a_looser_store_from_before_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    Store(path).close()
    path.chmod(0o644)
    Store(path).close()
    assert mode(path) == 0o600


SECRET = "s3cr3t-value-never-printed"


def secret_config(tmp_path: Path, file_mode: int) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(
        f'[device]\nid = "{DEVICE}"\n\n[storage]\npath = "{tmp_path / "agent.db"}"\nopen_wait = 0\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = 1\nusername = "edge"\npassword = "{SECRET}"\n\n'
        f'[heartbeats.iptv]\nvendor = "telecomx"\ntoken = "{SECRET}"\n'
    )
    path.chmod(file_mode)
    return path


def test_check_warns_of_inline_secrets_others_can_read(tmp_path: Path) -> None:
    exposed = secret_config(tmp_path, 0o644)
    result = edge_agent("check", "-c", str(exposed))
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if "secrets inline" in line]
    assert len(warning) == 1, result.stderr
    assert str(exposed) in warning[0]
    assert "mqtt.password" in warning[0] and "heartbeats.iptv.token" in warning[0]
    assert SECRET not in result.stderr + result.stdout

    exposed.chmod(0o600)
    assert "secrets inline" not in edge_agent("check", "-c", str(exposed)).stderr


def test_run_warns_of_inline_secrets_others_can_read(tmp_path: Path) -> None:
    exposed = secret_config(tmp_path, 0o640)
    set_user_version_store = tmp_path / "agent.db"
    journal_a_run_command(set_user_version_store)
    set_user_version(set_user_version_store, 9)  # so that run stops at once (exit 65), after warning
    result = edge_agent("run", "-c", str(exposed))
    assert "secrets inline" in result.stderr and "its group" in result.stderr
    assert SECRET not in result.stderr + result.stdout
