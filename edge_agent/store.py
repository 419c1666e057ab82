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

Opening never throws away a healthy store. A file that is really corrupt (not a database,
or ``PRAGMA quick_check`` not ok: a broken SD card) is moved aside, a fresh store started
and the reset recorded in it (``agent``/``store_reset``) so the agent can tell MQTT and
``status`` can show it. A store that cannot be opened *now* (disk full, I/O error, locked
by another process) is kept: opening retries with capped backoff for ``open_wait`` seconds,
then raises :class:`StoreUnavailable`. A store written by a newer version (its
``PRAGMA user_version`` above :data:`SCHEMA_VERSION`) is refused with
:class:`StoreSchemaError`, untouched; an older one is migrated by :data:`MIGRATIONS`.

A write that fails while running (a full disk) raises :class:`StoreError` as before, and
also marks the store *degraded*: :attr:`Store.health` says since when and how many writes
were lost, and the health listener hears ``degraded`` once, then ``recovered`` at the
first write that works again.

The file and the folder the store creates are owner-only (0600 / 0700) whatever the
umask: they hold vendor session tokens and access keys.

All methods are thread-safe: paho's network thread, the asyncio loop and worker threads
share one connection behind a lock.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from edge_agent.errors import StoreError, StoreSchemaError, StoreUnavailable

log = logging.getLogger(__name__)

STATUS_NAMESPACE = "agent"
"""Where the store records its own resets (``store_reset``), read by ``edge-agent status``."""
RESET_KEY = "store_reset"
DEFAULT_OPEN_WAIT = 60.0
OPEN_BACKOFF_MAX = 5.0
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_CORRUPT_WORDS = ("file is not a database", "database disk image is malformed")

HealthListener = Callable[[str, dict[str, Any]], None]
"""Hears ``("degraded", info)`` at the first failed write and ``("recovered", info)`` after it."""

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

SCHEMA_VERSION = 1
"""The schema this code reads and writes, kept in the file as ``PRAGMA user_version``."""

MIGRATIONS: list[tuple[str, ...]] = [
    # 0 -> 1: the tables of the first release. A version-0 file is either new (empty) or made
    # by a release before schema versions, which had exactly these tables: CREATE ... IF NOT
    # EXISTS builds the one and leaves the other's data as it is.
    tuple(statement.strip() for statement in SCHEMA.split(";") if statement.strip()),
]
"""``MIGRATIONS[n]`` takes a store from version n to n + 1: SQL statements run in one
transaction with the new ``user_version``, so a crash leaves the old version or the new one.
To change the schema, append a step and raise :data:`SCHEMA_VERSION` (``len(MIGRATIONS)``)."""
assert len(MIGRATIONS) == SCHEMA_VERSION


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


class _Corrupt(Exception):
    """The file is not a usable database: the one reason to move it aside."""


class Store:
    """One SQLite file; open it once per process and share it.

    ``open_wait`` is how long to keep retrying a store that cannot be opened now (disk full,
    I/O error, locked); ``move_corrupt_aside=False`` (read-only tools such as ``status``)
    raises StoreError for a corrupt file instead of replacing it.
    """

    def __init__(
        self,
        path: Path,
        *,
        outbox_max: int = 10000,
        wall_time: Any = time.time,
        open_wait: float = DEFAULT_OPEN_WAIT,
        busy_timeout: float = 10.0,
        move_corrupt_aside: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = Path(path)
        self.outbox_max = outbox_max
        self._time = wall_time
        self._lock = threading.RLock()
        self._depth = 0  # nesting of open transactions (atomic() around the store's own writes)
        self._owner: Optional[int] = None  # the thread whose transaction is open
        self._listener: Optional[HealthListener] = None
        self._degraded: Optional[dict[str, Any]] = None
        self.unpersisted_total = 0
        """Writes that failed since this store was opened (each one a thing not kept)."""
        self.reset: Optional[dict[str, Any]] = None
        """Set when this open moved a corrupt file aside: when, why, and the moved file's name."""
        # At open, no longer than open_wait on a lock per try; once open, the usual patience.
        self._connect_timeout = min(busy_timeout, max(0.05, open_wait))
        self._db = self._open(open_wait, move_corrupt_aside, sleep)
        self._connect_timeout = busy_timeout
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000):d}")

    # -- opening and closing -------------------------------------------------------------

    def _open(
        self, open_wait: float, move_corrupt_aside: bool, sleep: Callable[[float], None]
    ) -> sqlite3.Connection:
        self._make_folder()
        deadline = time.monotonic() + max(0.0, open_wait)
        delay = 0.1
        warned = False
        while True:
            try:
                return self._connect()
            except _Corrupt as exc:
                if not move_corrupt_aside:
                    raise StoreError(f"the store {self.path} is corrupt: {exc}") from exc
                return self._start_afresh(str(exc))
            except (sqlite3.Error, OSError) as exc:
                # Disk full, I/O error, locked, cannot create -wal/-shm: the file may be
                # perfectly healthy. Keep it; wait for the condition to pass.
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreUnavailable(
                        f"cannot open the store {self.path}: {_reason(exc)}; gave up after "
                        f"{open_wait:g} s. The file is kept as it is: free disk space or stop the "
                        "process that holds it, then start again"
                    ) from exc
                if not warned:
                    log.warning(
                        "cannot open the store %s now (%s); retrying for up to %.0f s, the file is kept",
                        self.path,
                        _reason(exc),
                        left,
                    )
                    warned = True
                sleep(min(delay, left))
                delay = min(delay * 2, OPEN_BACKOFF_MAX)

    def _make_folder(self) -> None:
        """Create the missing folders owner-only (0700), whatever the umask; never chmod the user's."""
        missing = []
        folder = self.path.parent
        while not folder.exists() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        try:
            for created in reversed(missing):
                created.mkdir(mode=0o700, exist_ok=True)
                os.chmod(created, 0o700)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of the store {self.path}: {exc.strerror}") from exc

    def _start_afresh(self, reason: str) -> sqlite3.Connection:
        """Move the corrupt file (and its -wal, -shm) aside, start empty, and record why."""
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(self._time())}")
        log.error(
            "the store %s is corrupt (%s); moved it to %s and started a fresh one", self.path, reason, aside
        )
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                source.rename(Path(f"{aside}{suffix}"))
        try:
            db = self._connect()
        except (sqlite3.Error, OSError, _Corrupt) as again:
            raise StoreError(f"cannot open the store {self.path}: {_reason(again)}") from again
        when = datetime.fromtimestamp(self._time(), timezone.utc).isoformat(timespec="seconds")
        self.reset = {"time": when.replace("+00:00", "Z"), "reason": reason, "file": aside.name}
        try:
            db.execute(
                "INSERT INTO vendor_state (namespace, key, value, updated) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(namespace, key) DO UPDATE SET value = excluded.value, "
                "updated = excluded.updated",
                (STATUS_NAMESPACE, RESET_KEY, json.dumps({**self.reset, "reported": False}), self._time()),
            )
        except sqlite3.Error as exc:
            db.close()
            raise StoreError(f"cannot write the fresh store {self.path}: {exc}") from exc
        return db

    def _connect(self) -> sqlite3.Connection:
        self._create_owner_only()
        db = sqlite3.connect(
            str(self.path), timeout=self._connect_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                check = db.execute("PRAGMA quick_check").fetchone()
            except sqlite3.DatabaseError as exc:
                if _is_corrupt(exc):
                    raise _Corrupt(str(exc)) from exc
                raise
            if check is None or check[0] != "ok":
                raise _Corrupt(f"integrity check failed: {check[0] if check else 'no answer'}")
            self._migrate(db)
            self._tighten_modes()
        except BaseException:
            db.close()
            raise
        return db

    def _create_owner_only(self) -> None:
        """Create the file 0600 before SQLite does (SQLite gives -wal and -shm the file's mode)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
                os.fchmod(fd, 0o600)
        finally:
            os.close(fd)

    def _tighten_modes(self) -> None:
        """-wal and -shm of an older, looser store: owner-only too."""
        for suffix in ("-wal", "-shm"):
            other = Path(f"{self.path}{suffix}")
            try:
                if stat.S_IMODE(other.stat().st_mode) & 0o077:
                    os.chmod(other, 0o600)
            except OSError:
                continue  # absent, or not ours: SQLite reports what matters

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Bring a store of an older schema to :data:`SCHEMA_VERSION`; refuse a newer one."""
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise StoreSchemaError(
                f"the store {self.path} has schema version {version}, newer than this edge-agent "
                f"understands ({SCHEMA_VERSION}): it was written by a newer release. Run that release, "
                "or move the file away to start afresh (its journal is then forgotten)"
            )
        if version == SCHEMA_VERSION:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            for step in MIGRATIONS[version:]:
                for statement in step:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        log.info("the store %s was migrated from schema version %d to %d", self.path, version, SCHEMA_VERSION)

    @property
    def schema_version(self) -> int:
        return int(self._query("PRAGMA user_version")[0][0])

    # -- health: a full disk while running ----------------------------------------------------

    def set_health_listener(self, listener: Optional[HealthListener]) -> None:
        """Who hears ``degraded`` and ``recovered`` (called on the writing thread, lock released)."""
        self._listener = listener

    @property
    def health(self) -> Optional[dict[str, Any]]:
        """None while writes work; else since when they fail, why, and how many were lost."""
        return dict(self._degraded) if self._degraded is not None else None

    @property
    def in_transaction(self) -> bool:
        """True inside :meth:`atomic` on this thread: a failed write must fail the whole unit."""
        return self._depth > 0 and self._owner == threading.get_ident()

    def _write_failed(self, exc: Exception) -> Optional[tuple[str, dict[str, Any]]]:
        self.unpersisted_total += 1
        if self._degraded is not None:
            self._degraded["unpersisted"] += 1
            return None
        self._degraded = {"since": self._time(), "reason": _reason(exc), "unpersisted": 1}
        log.error(
            "the store %s cannot be written (%s): the agent goes on with live state only and "
            "counts what it cannot keep",
            self.path,
            _reason(exc),
        )
        return "degraded", {"store": str(self.path), "reason": _reason(exc)}

    def _write_worked(self) -> Optional[tuple[str, dict[str, Any]]]:
        if self._degraded is None:
            return None
        degraded, self._degraded = self._degraded, None
        info = {
            "store": str(self.path),
            "reason": degraded["reason"],
            "unpersisted": degraded["unpersisted"],
            "degraded_s": round(max(0.0, self._time() - degraded["since"]), 1),
        }
        log.warning(
            "the store %s can be written again; %d write(s) were lost", self.path, info["unpersisted"]
        )
        return "recovered", info

    def _tell(self, change: Optional[tuple[str, dict[str, Any]]]) -> None:
        if change is not None and self._listener is not None:
            try:
                self._listener(*change)
            except Exception:  # a listener's bug must not turn a write into a failure
                log.exception("the store's health listener failed")

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
                except sqlite3.Error as exc:
                    raise StoreError(f"store {self.path}: {exc}") from exc
                finally:
                    self._depth -= 1
                return
        change: Optional[tuple[str, dict[str, Any]]] = None
        try:
            with self._lock:
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    self._depth, self._owner = 1, threading.get_ident()
                    try:
                        yield self._db
                        self._db.execute("COMMIT")
                    finally:
                        self._depth, self._owner = 0, None
                        if self._db.in_transaction:  # an error, or a COMMIT that failed (disk full)
                            self._rollback()
                except sqlite3.IntegrityError as exc:
                    raise StoreError(f"store {self.path}: {exc}") from exc
                except sqlite3.Error as exc:
                    change = self._write_failed(exc)
                    raise StoreError(f"store {self.path}: {exc}") from exc
                except StoreError as exc:
                    cause = exc.__cause__
                    if isinstance(cause, sqlite3.Error) and not isinstance(cause, sqlite3.IntegrityError):
                        change = self._write_failed(cause)
                    raise
                else:
                    change = self._write_worked()
        finally:
            self._tell(change)  # outside the lock: the listener may write, on any thread

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error as exc:  # SQLite may have rolled back already (SQLITE_FULL)
            log.debug("rollback of %s: %s", self.path, exc)

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
            # Only a known id is a duplicate: any other constraint (a schema this code does not
            # know) raises, instead of turning every new action into "rejected: duplicate".
            cursor = db.execute(
                "INSERT INTO journal (action_id, source, type, payload, state, received, updated) "
                "VALUES (?, ?, ?, ?, 'received', ?, ?) ON CONFLICT(action_id) DO NOTHING",
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


def _is_corrupt(exc: BaseException) -> bool:
    """SQLITE_CORRUPT or SQLITE_NOTADB: the file itself is broken (not the disk, not a lock)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    return any(words in str(exc) for words in _CORRUPT_WORDS)  # Python < 3.11


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _journal_entry(row: tuple[Any, ...]) -> JournalEntry:
    return JournalEntry(
        row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6], json.loads(row[7])
    )
