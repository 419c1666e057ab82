"""The store keeps what the agent owes across restarts, crashes and broken files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from edge_agent.store import Store


def test_owed_messages_survive_a_reopen_in_order(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    for n in range(5):
        store.outbox.add("edge/d/events", f"event {n}".encode())
    store.close()
    reopened = Store(tmp_path / "s.db")
    assert [entry.payload for entry in reopened.outbox.pending()] == [f"event {n}".encode() for n in range(5)]


def test_acknowledged_messages_are_forgotten(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    ids = [store.outbox.add("t", b"x")[0] for _ in range(3)]
    store.outbox.ack(ids[:2])
    assert [entry.id for entry in store.outbox.pending()] == ids[2:]
    assert store.outbox.depth() == 1


def test_a_full_outbox_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", outbox_max=10)
    dropped = [store.outbox.add("t", str(n).encode())[1] for n in range(13)]
    assert sum(dropped) == 3
    assert store.outbox.dropped() == 3
    assert [entry.payload for entry in store.outbox.pending()] == [str(n).encode() for n in range(3, 13)]


def test_a_killed_writer_loses_nothing_it_committed(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    script = textwrap.dedent(f"""
        import sys
        from edge_agent.store import Store
        store = Store({str(path)!r})
        for n in range(200):
            store.outbox.add("t", str(n).encode())
            print(n, flush=True)
    """)
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    last = -1
    for line in writer.stdout:
        last = int(line)
        if last == 120:
            os.kill(writer.pid, signal.SIGKILL)
            break
    writer.wait()
    payloads = [int(entry.payload) for entry in Store(path).outbox.pending(limit=1000)]
    assert payloads[: last + 1] == list(range(last + 1))


def test_a_writer_killed_inside_atomic_keeps_neither_the_state_nor_the_event(tmp_path: Path) -> None:
    # An action's new state and the event that tells of it are kept together or not at all.
    path = tmp_path / "s.db"
    script = textwrap.dedent(f"""
        import sys
        from edge_agent.store import Store
        store = Store({str(path)!r})
        store.journal.record("a-1", "mqtt", "MESSAGE", {{"message": "hi"}})
        with store.atomic():
            store.journal.update("a-1", "succeeded", exit_code=0)
            print("between", flush=True)
            sys.stdin.readline()  # killed here
            store.outbox.add("edge/d/events", b"action.succeeded")
    """)
    writer = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    assert writer.stdout.readline() == "between\n"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    store = Store(path)
    entry = store.journal.get("a-1")
    assert entry is not None and entry.state == "received"
    assert store.outbox.depth() == 0


def test_atomic_writes_commit_together(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.journal.record("a-1", "mqtt", "MESSAGE", {})
    with store.atomic():
        store.journal.update("a-1", "running")
        store.outbox.add("edge/d/events", b"action.started")
    reopened = Store(tmp_path / "s.db")
    entry = reopened.journal.get("a-1")
    assert entry is not None and entry.state == "running"
    assert [e.payload for e in reopened.outbox.pending()] == [b"action.started"]


def test_a_corrupt_file_is_moved_aside_and_a_fresh_store_starts(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store(path)
    store.state.set("xyte", "id", "abc")
    store.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    data = bytearray(path.read_bytes())
    data[0:100] = os.urandom(100)  # the header torn by a bad write
    path.write_bytes(bytes(data))
    fresh = Store(path)
    assert fresh.state.get("xyte", "id") is None
    assert list(tmp_path.glob("s.db.corrupt-*"))


def test_vendor_state_round_trips_json_values(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.state.update("hub", {"id": "d1", "access_key": "k", "config_version": 3})
    store.state.delete("hub", "access_key")
    assert Store(tmp_path / "s.db").state.items("hub") == {"id": "d1", "config_version": 3}


def test_a_queue_refuses_work_it_has_seen_even_after_it_left(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    first = store.queues.push("actions", {"type": "REBOOT"}, dedupe_key="a1")
    assert first is not None
    store.queues.remove(first)
    assert store.queues.push("actions", {"type": "REBOOT"}, dedupe_key="a1") is None
    assert store.queues.length("actions") == 0


def test_an_action_is_journaled_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    assert store.journal.record("a1", "mqtt", "MESSAGE", {"message": "hi"}) is True
    assert store.journal.record("a1", "mqtt", "MESSAGE", {"message": "hi"}) is False
    store.journal.update("a1", "running")
    store.journal.update("a1", "succeeded", exit_code=0)
    entry = Store(tmp_path / "s.db").journal.get("a1")
    assert entry is not None and entry.state == "succeeded" and entry.detail == {"exit_code": 0}
