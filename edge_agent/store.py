"""The agent's durable memory: one SQLite file, the only module that imports sqlite3.

It holds what must outlive a broker outage, a crash (SIGKILL) and a power cut:

* the **outbox**: MQTT messages owed to the broker, written before they are sent and
  removed only when the broker acknowledges them, bounded by ``outbox_max`` (oldest
  dropped first, and counted);
* **vendor state**: small JSON values per heartbeat endpoint (tokens, ids, versions,
  counters), in namespaces;
* **queues**: ordered, de-duplicated work items that must survive a restart (an AI-box
  event awaiting its Ack, an action awaiting the runner);
* the **action journal**: every action seen, with its state, so none runs twice.

WAL mode with ``synchronous=FULL`` makes every committed write durable before the call
returns; SQLite's WAL checksums make a torn last write roll back instead of corrupting.
A file that is corrupt anyway (a broken SD card) is moved aside and a fresh store started,
so the agent keeps running and says so in the log.

All methods are thread-safe: paho's network thread, the asyncio loop and worker threads
share one connection behind a lock.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from edge_agent.errors import StoreError

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS vendor_state (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    dedupe_key TEXT,
    item TEXT NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_by_name ON queue (queue, id);
CREATE TABLE IF NOT EXISTS seen_keys (
    queue TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (queue, dedupe_key)
);
CREATE TABLE IF NOT EXISTS journal (
    action_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    received REAL NOT NULL,
    updated REAL NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS journal_by_state ON journal (state, received);
"""


@dataclass(frozen=True)
class OutboxEntry:
    """One MQTT message owed to the broker."""

    id: int
    topic: str
    payload: bytes
    qos: int
    created: float


@dataclass(frozen=True)
class QueueItem:
    """One durable work item; ``attempts`` counts how often it was tried."""

    id: int
    queue: str
    item: Any
    created: float
    attempts: int


@dataclass(frozen=True)
class JournalEntry:
    """What the agent knows of one action: its state and the details of its run."""

    action_id: str
    source: str
    type: str
    payload: Any
    state: str
    received: float
    updated: float
    detail: dict[str, Any]


class Store:
    """One SQLite file; open it once per process and share it."""

    def __init__(self, path: Path, *, outbox_max: int = 10000, wall_time: Any = time.time) -> None:
        self.path = Path(path)
        self.outbox_max = outbox_max
        self._time = wall_time
        self._lock = threading.RLock()
        self._depth = 0  # nesting of open transactions (atomic() around the store's own writes)
        self._db = self._open()

    # -- opening and closing -------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of the store {self.path}: {exc.strerror}") from exc
        try:
            db = self._connect()
        except sqlite3.DatabaseError as exc:
            if not self.path.exists():
                raise StoreError(f"cannot open the store {self.path}: {exc}") from exc
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(self._time())}")
            log.error(
                "the store %s is corrupt (%s); moved it to %s and started a fresh one", self.path, exc, aside
            )
            for suffix in ("", "-wal", "-shm"):
                source = Path(f"{self.path}{suffix}")
                if source.exists():
                    source.rename(Path(f"{aside}{suffix}"))
            try:
                db = self._connect()
            except sqlite3.Error as again:
                raise StoreError(f"cannot open the store {self.path}: {again}") from again
        return db

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            db.executescript(SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Make every write inside one transaction: after a crash, all of them are there or none.

        For a record and what it owes, such as an action's new state and the event that tells
        of it: a SIGKILL between two separate commits would keep the one and lose the other.
        """
        with self._transaction():
            yield

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._depth:  # inside atomic(): the outermost transaction commits
                self._depth += 1
                try:
                    yield self._db
                finally:
                    self._depth -= 1
                return
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._depth = 1
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                finally:
                    self._depth = 0
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"store {self.path}: {exc}") from exc

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"store {self.path}: {exc}") from exc

    # -- outbox ---------------------------------------------------------------------------

    def outbox_add(self, topic: str, payload: bytes, qos: int = 1) -> tuple[int, int]:
        """Owe ``payload`` on ``topic``; returns (its id, how many oldest entries were dropped)."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO outbox (topic, payload, qos, created) VALUES (?, ?, ?, ?)",
                (topic, payload, qos, self._time()),
            )
            entry_id = int(cursor.lastrowid or 0)
            (depth,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
            dropped = max(0, depth - self.outbox_max)
            if dropped:
                db.execute(
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (dropped,)
                )
                db.execute(
                    "INSERT INTO counters (name, value) VALUES ('outbox_dropped', ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                    (dropped,),
                )
        return entry_id, dropped

    def outbox_pending(self, limit: int = 100, after_id: int = 0) -> list[OutboxEntry]:
        """The oldest owed messages with an id above ``after_id``, in the order they were owed."""
        rows = self._query(
            "SELECT id, topic, payload, qos, created FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [OutboxEntry(row[0], row[1], bytes(row[2]), row[3], row[4]) for row in rows]

    def outbox_ack(self, entry_ids: Iterable[int]) -> None:
        """The broker has these: forget them (one transaction for a whole batch)."""
        ids = [(entry_id,) for entry_id in entry_ids]
        if ids:
            with self._transaction() as db:
                db.executemany("DELETE FROM outbox WHERE id = ?", ids)

    def outbox_depth(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM outbox")[0][0])

    def outbox_dropped(self) -> int:
        """How many owed messages were dropped, oldest first, to keep within ``outbox_max``."""
        rows = self._query("SELECT value FROM counters WHERE name = 'outbox_dropped'")
        return int(rows[0][0]) if rows else 0

    # -- vendor state ---------------------------------------------------------------------

    def get_state(self, namespace: str, key: str, default: Any = None) -> Any:
        rows = self._query("SELECT value FROM vendor_state WHERE namespace = ? AND key = ?", (namespace, key))
        return json.loads(rows[0][0]) if rows else default

    def set_state(self, namespace: str, key: str, value: Any) -> None:
        self.update_state(namespace, {key: value})

    def update_state(self, namespace: str, values: dict[str, Any]) -> None:
        """Set several keys in one transaction (so a crash never leaves half of them)."""
        with self._transaction() as db:
            for key, value in values.items():
                db.execute(
                    "INSERT INTO vendor_state (namespace, key, value, updated) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(namespace, key) DO UPDATE SET value = excluded.value, "
                    "updated = excluded.updated",
                    (namespace, key, json.dumps(value), self._time()),
                )

    def delete_state(self, namespace: str, *keys: str) -> None:
        """Forget ``keys`` of ``namespace``, or the whole namespace when no key is named."""
        with self._transaction() as db:
            if keys:
                db.executemany(
                    "DELETE FROM vendor_state WHERE namespace = ? AND key = ?",
                    [(namespace, key) for key in keys],
                )
            else:
                db.execute("DELETE FROM vendor_state WHERE namespace = ?", (namespace,))

    def state_items(self, namespace: str) -> dict[str, Any]:
        rows = self._query("SELECT key, value FROM vendor_state WHERE namespace = ?", (namespace,))
        return {key: json.loads(value) for key, value in rows}

    def next_counter(self, name: str, start: int = 1) -> int:
        """A durable, strictly increasing counter (AI-box eventIds survive restarts)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + 1",
                (name, start),
            )
            (value,) = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(value)

    # -- durable queues -------------------------------------------------------------------

    def queue_push(self, queue: str, item: Any, dedupe_key: Optional[str] = None) -> Optional[int]:
        """Append ``item``; with a ``dedupe_key`` already seen on this queue, do nothing and return None.

        Keys are remembered after the item leaves the queue, so a vendor that delivers
        the same work again later is still recognised.
        """
        with self._transaction() as db:
            if dedupe_key is not None:
                seen = db.execute(
                    "SELECT 1 FROM seen_keys WHERE queue = ? AND dedupe_key = ?", (queue, dedupe_key)
                ).fetchone()
                if seen:
                    return None
                db.execute(
                    "INSERT INTO seen_keys (queue, dedupe_key, created) VALUES (?, ?, ?)",
                    (queue, dedupe_key, self._time()),
                )
            cursor = db.execute(
                "INSERT INTO queue (queue, dedupe_key, item, created) VALUES (?, ?, ?, ?)",
                (queue, dedupe_key, json.dumps(item), self._time()),
            )
            return int(cursor.lastrowid or 0)

    def queue_peek(self, queue: str, limit: int = 100) -> list[QueueItem]:
        rows = self._query(
            "SELECT id, queue, item, created, attempts FROM queue WHERE queue = ? ORDER BY id LIMIT ?",
            (queue, limit),
        )
        return [QueueItem(row[0], row[1], json.loads(row[2]), row[3], row[4]) for row in rows]

    def queue_attempted(self, item_id: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE queue SET attempts = attempts + 1 WHERE id = ?", (item_id,))

    def queue_remove(self, item_id: int) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM queue WHERE id = ?", (item_id,))

    def queue_len(self, queue: str) -> int:
        return int(self._query("SELECT COUNT(*) FROM queue WHERE queue = ?", (queue,))[0][0])

    # -- action journal -------------------------------------------------------------------

    def journal_record(self, action_id: str, source: str, action_type: str, payload: Any) -> bool:
        """Record a newly received action; False when this id was seen before (never run it twice)."""
        now = self._time()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO journal (action_id, source, type, payload, state, received, updated) "
                "VALUES (?, ?, ?, ?, 'received', ?, ?)",
                (action_id, source, action_type, json.dumps(payload), now, now),
            )
            return cursor.rowcount == 1

    def journal_update(self, action_id: str, state: str, **detail: Any) -> None:
        """Move an action to ``state``, merging ``detail`` (exit code, duration, output tails...)."""
        with self._transaction() as db:
            row = db.execute("SELECT detail FROM journal WHERE action_id = ?", (action_id,)).fetchone()
            if row is None:
                raise StoreError(f"no action {action_id!r} in the journal")
            merged = json.loads(row[0])
            merged.update(detail)
            db.execute(
                "UPDATE journal SET state = ?, updated = ?, detail = ? WHERE action_id = ?",
                (state, self._time(), json.dumps(merged), action_id),
            )

    def journal_get(self, action_id: str) -> Optional[JournalEntry]:
        rows = self._query(
            "SELECT action_id, source, type, payload, state, received, updated, detail "
            "FROM journal WHERE action_id = ?",
            (action_id,),
        )
        return _journal_entry(rows[0]) if rows else None

    def journal_in_state(self, *states: str, limit: int = 1000) -> list[JournalEntry]:
        """Actions in any of ``states``, oldest first (e.g. 'received' to run, 'running' after a crash)."""
        marks = ",".join("?" for _ in states)
        rows = self._query(
            "SELECT action_id, source, type, payload, state, received, updated, detail FROM journal "
            f"WHERE state IN ({marks}) ORDER BY received, rowid LIMIT ?",
            (*states, limit),
        )
        return [_journal_entry(row) for row in rows]

    def journal_recent(self, limit: int = 20) -> list[JournalEntry]:
        rows = self._query(
            "SELECT action_id, source, type, payload, state, received, updated, detail FROM journal "
            "ORDER BY updated DESC, rowid DESC LIMIT ?",
            (limit,),
        )
        return [_journal_entry(row) for row in rows]

    def journal_pending_counts(self) -> list[tuple[str, str, int]]:
        """(source, type, how many) of the actions waiting to run: for the per-type and per-source caps."""
        rows = self._query(
            "SELECT source, type, COUNT(*) FROM journal WHERE state = 'received' GROUP BY source, type"
        )
        return [(str(row[0]), str(row[1]), int(row[2])) for row in rows]

    def journal_prune(self, older_than_s: float, states: Iterable[str], limit: int = 500) -> int:
        """Drop the payload and details of up to ``limit`` entries in ``states`` not updated for
        ``older_than_s`` seconds; how many. The row (id, source, type, state, times) stays, so
        the id still refuses a replay: a pruned entry costs a few hundred bytes, not 60 KB.
        """
        wanted = list(states)
        marks = ",".join("?" for _ in wanted)
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE journal SET payload = '{}', detail = '{\"pruned\": true}' WHERE rowid IN ("
                f"SELECT rowid FROM journal WHERE state IN ({marks}) AND updated < ? "
                "AND NOT (payload = '{}' AND detail = '{\"pruned\": true}') LIMIT ?)",
                (*wanted, self._time() - older_than_s, limit),
            )
            return int(cursor.rowcount)


def _journal_entry(row: tuple[Any, ...]) -> JournalEntry:
    return JournalEntry(
        row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6], json.loads(row[7])
    )
