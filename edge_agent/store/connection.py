"""The store's one SQLite connection: transactions, health, and the lock every thread shares.

WAL mode with ``synchronous=FULL`` makes every committed write durable before the call
returns; SQLite's WAL checksums make a torn last write roll back instead of corrupting.

A write that fails while running (a full disk) raises :class:`StoreError` as before, and
also marks the store *degraded*: :attr:`Connection.health` says since when and how many
writes were lost, and the health listener hears ``degraded`` once, then ``recovered`` at
the first write that works again.

Thread-safe: paho's network thread, the asyncio loop and worker threads share one
connection behind a lock. The repositories (outbox, state, queues, journal) write through
:meth:`Connection.write` and read through :meth:`Connection.read`, so every write counts
toward the health and every error is translated here.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Optional

from edge_agent.errors import StoreError
from edge_agent.store.opening import open_database, reason

log = logging.getLogger("edge_agent.store")  # one logger name for the whole store

DEFAULT_OPEN_WAIT = 60.0

Database = sqlite3.Connection
"""What a repository writes to inside :meth:`Connection.write` (it never imports sqlite3)."""

HealthListener = Callable[[str, dict[str, Any]], None]
"""Hears ``("degraded", info)`` at the first failed write and ``("recovered", info)`` after it."""

Change = Optional[tuple[str, dict[str, Any]]]


class Connection:
    """One SQLite file, opened once per process and shared.

    ``open_wait`` is how long to keep retrying a store that cannot be opened now (disk full,
    I/O error, locked); ``move_corrupt_aside=False`` (read-only tools such as ``status``)
    raises StoreError for a corrupt file instead of replacing it.
    """

    def __init__(
        self,
        path: Path,
        *,
        wall_time: Callable[[], float] = time.time,
        open_wait: float = DEFAULT_OPEN_WAIT,
        busy_timeout: float = 10.0,
        move_corrupt_aside: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = Path(path)
        self.now = wall_time
        """The wall clock every row's times are written with."""
        self._lock = threading.RLock()
        self._depth = 0  # nesting of open transactions (atomic() around the store's own writes)
        self._owner: Optional[int] = None  # the thread whose transaction is open
        self._listener: Optional[HealthListener] = None
        self._degraded: Optional[dict[str, Any]] = None
        self.unpersisted_total = 0
        """Writes that failed since this store was opened (each one a thing not kept)."""
        # ``reset``: set when this open moved a corrupt file aside (when, why, the moved file's
        # name). At open, no longer than open_wait on a lock per try; once open, the usual patience.
        self._db, self.reset = open_database(
            self.path,
            timeout=min(busy_timeout, max(0.05, open_wait)),
            open_wait=open_wait,
            move_corrupt_aside=move_corrupt_aside,
            sleep=sleep,
            wall_time=wall_time,
        )
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000):d}")

    @property
    def schema_version(self) -> int:
        return int(self.read("PRAGMA user_version")[0][0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- health ---------------------------------------------------------------------------

    def set_health_listener(self, listener: Optional[HealthListener]) -> None:
        """Who hears ``degraded`` and ``recovered`` (called on the writing thread, lock released)."""
        self._listener = listener

    @property
    def health(self) -> Optional[dict[str, Any]]:
        """None while writes work; else since when they fail, why, and how many were lost."""
        return dict(self._degraded) if self._degraded is not None else None

    def _write_failed(self, exc: Exception) -> Change:
        self.unpersisted_total += 1
        if self._degraded is not None:
            self._degraded["unpersisted"] += 1
            return None
        self._degraded = {"since": self.now(), "reason": reason(exc), "unpersisted": 1}
        log.error(
            "the store %s cannot be written (%s): the agent goes on with live state only and "
            "counts what it cannot keep",
            self.path,
            reason(exc),
        )
        return "degraded", {"store": str(self.path), "reason": reason(exc)}

    def _write_worked(self) -> Change:
        if self._degraded is None:
            return None
        degraded, self._degraded = self._degraded, None
        info = {
            "store": str(self.path),
            "reason": degraded["reason"],
            "unpersisted": degraded["unpersisted"],
            "degraded_s": round(max(0.0, self.now() - degraded["since"]), 1),
        }
        log.warning(
            "the store %s can be written again; %d write(s) were lost", self.path, info["unpersisted"]
        )
        return "recovered", info

    def _tell(self, change: Change) -> None:
        if change is not None and self._listener is not None:
            try:
                self._listener(*change)
            except Exception:  # a listener's bug must not turn a write into a failure
                log.exception("the store's health listener failed")

    # -- transactions and reads -----------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """True inside :meth:`atomic` on this thread: a failed write must fail the whole unit."""
        return self._depth > 0 and self._owner == threading.get_ident()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Make every write inside one transaction: after a crash, all of them are there or none.

        For a record and what it owes, such as an action's new state and the event that tells
        of it: a SIGKILL between two separate commits would keep the one and lose the other.
        """
        with self.write():
            yield

    @contextmanager
    def write(self) -> Iterator[Database]:
        """One write transaction (or a part of the :meth:`atomic` one around it)."""
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
        change: Change = None
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

    def read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one query, its error translated."""
        with self._lock:
            try:
                return self._db.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"store {self.path}: {exc}") from exc
