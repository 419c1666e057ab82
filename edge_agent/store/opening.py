"""Opening the store's file: never throw away a healthy store.

A file that is really corrupt (not a database, or ``PRAGMA quick_check`` not ok: a broken
SD card) is moved aside, a fresh store started and the reset recorded in it
(``agent``/``store_reset``) so the agent can tell MQTT and ``status`` can show it. A store
that cannot be opened *now* (disk full, I/O error, locked by another process) is kept:
opening retries with capped backoff for ``open_wait`` seconds, then raises
:class:`StoreUnavailable`. A store written by a newer version (its ``PRAGMA user_version``
above ``SCHEMA_VERSION``) is refused with :class:`StoreSchemaError`, untouched; an older one
is migrated (``store/schema.py``).

The file and the folders created for it are owner-only (0600 / 0700) whatever the umask:
they hold vendor session tokens and access keys.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from edge_agent.errors import StoreError, StoreUnavailable
from edge_agent.store.schema import migrate

log = logging.getLogger("edge_agent.store")  # one logger name for the whole store

STATUS_NAMESPACE = "agent"
"""Where the store records its own resets (``store_reset``), read by ``edge-agent status``."""
RESET_KEY = "store_reset"
OPEN_BACKOFF_MAX = 5.0
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_CORRUPT_WORDS = ("file is not a database", "database disk image is malformed")

Reset = dict[str, Any]
"""When a corrupt file was moved aside, why, and the moved file's name."""


class _Corrupt(Exception):
    """The file is not a usable database: the one reason to move it aside."""


def open_database(
    path: Path,
    *,
    timeout: float,
    open_wait: float,
    move_corrupt_aside: bool,
    sleep: Callable[[float], None],
    wall_time: Callable[[], float],
) -> tuple[sqlite3.Connection, Optional[Reset]]:
    """The open connection, and the reset when a corrupt file had to be moved aside.

    ``timeout`` is how long one try waits on a lock; ``move_corrupt_aside=False`` (read-only
    tools such as ``status``) raises StoreError for a corrupt file instead of replacing it.
    """
    _make_folder(path)
    deadline = time.monotonic() + max(0.0, open_wait)
    delay = 0.1
    warned = False
    while True:
        try:
            return _connect(path, timeout), None
        except _Corrupt as exc:
            if not move_corrupt_aside:
                raise StoreError(f"the store {path} is corrupt: {exc}") from exc
            return _start_afresh(path, timeout, str(exc), wall_time)
        except (sqlite3.Error, OSError) as exc:
            # Disk full, I/O error, locked, cannot create -wal/-shm: the file may be
            # perfectly healthy. Keep it; wait for the condition to pass.
            left = deadline - time.monotonic()
            if left <= 0:
                raise StoreUnavailable(
                    f"cannot open the store {path}: {reason(exc)}; gave up after "
                    f"{open_wait:g} s. The file is kept as it is: free disk space or stop the "
                    "process that holds it, then start again"
                ) from exc
            if not warned:
                log.warning(
                    "cannot open the store %s now (%s); retrying for up to %.0f s, the file is kept",
                    path,
                    reason(exc),
                    left,
                )
                warned = True
            sleep(min(delay, left))
            delay = min(delay * 2, OPEN_BACKOFF_MAX)


def _make_folder(path: Path) -> None:
    """Create the missing folders owner-only (0700), whatever the umask; never chmod the user's."""
    missing = []
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    try:
        for created in reversed(missing):
            created.mkdir(mode=0o700, exist_ok=True)
            os.chmod(created, 0o700)
    except OSError as exc:
        raise StoreError(f"cannot create the folder of the store {path}: {exc.strerror}") from exc


def _start_afresh(
    path: Path, timeout: float, why: str, wall_time: Callable[[], float]
) -> tuple[sqlite3.Connection, Reset]:
    """Move the corrupt file (and its -wal, -shm) aside, start empty, and record why."""
    aside = path.with_name(f"{path.name}.corrupt-{int(wall_time())}")
    log.error("the store %s is corrupt (%s); moved it to %s and started a fresh one", path, why, aside)
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            source.rename(Path(f"{aside}{suffix}"))
    try:
        db = _connect(path, timeout)
    except (sqlite3.Error, OSError, _Corrupt) as again:
        raise StoreError(f"cannot open the store {path}: {reason(again)}") from again
    when = datetime.fromtimestamp(wall_time(), timezone.utc).isoformat(timespec="seconds")
    reset = {"time": when.replace("+00:00", "Z"), "reason": why, "file": aside.name}
    try:
        db.execute(
            "INSERT INTO vendor_state (namespace, key, value, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(namespace, key) DO UPDATE SET value = excluded.value, "
            "updated = excluded.updated",
            (STATUS_NAMESPACE, RESET_KEY, json.dumps({**reset, "reported": False}), wall_time()),
        )
    except sqlite3.Error as exc:
        db.close()
        raise StoreError(f"cannot write the fresh store {path}: {exc}") from exc
    return db, reset


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    _create_owner_only(path)
    db = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
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
        migrate(path, db)
        _tighten_modes(path)
    except BaseException:
        db.close()
        raise
    return db


def _create_owner_only(path: Path) -> None:
    """Create the file 0600 before SQLite does (SQLite gives -wal and -shm the file's mode)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _tighten_modes(path: Path) -> None:
    """-wal and -shm of an older, looser store: owner-only too."""
    for suffix in ("-wal", "-shm"):
        other = Path(f"{path}{suffix}")
        try:
            if stat.S_IMODE(other.stat().st_mode) & 0o077:
                os.chmod(other, 0o600)
        except OSError:
            continue  # absent, or not ours: SQLite reports what matters


def _is_corrupt(exc: BaseException) -> bool:
    """SQLITE_CORRUPT or SQLITE_NOTADB: the file itself is broken (not the disk, not a lock)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    return any(words in str(exc) for words in _CORRUPT_WORDS)  # Python < 3.11


def reason(exc: BaseException) -> str:
    """What went wrong, in words: an OSError's strerror, else the message."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
