"""The action journal: every action seen, with its state, so none runs twice.

An id is recorded before its action runs and kept (pruned to a few hundred bytes once
finished), so a replay of the same id is refused across retries, restarts and power cuts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Optional

from edge_agent.errors import StoreError
from edge_agent.store.connection import Connection

_COLUMNS = "action_id, source, type, payload, state, received, updated, detail"


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


class Journal:
    """The ``journal`` table, one row per action id."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def record(self, action_id: str, source: str, action_type: str, payload: Any) -> bool:
        """Record a newly received action; False when this id was seen before (never run it twice)."""
        now = self._connection.now()
        with self._connection.write() as db:
            # Only a known id is a duplicate: any other constraint (a schema this code does not
            # know) raises, instead of turning every new action into "rejected: duplicate".
            cursor = db.execute(
                "INSERT INTO journal (action_id, source, type, payload, state, received, updated) "
                "VALUES (?, ?, ?, ?, 'received', ?, ?) ON CONFLICT(action_id) DO NOTHING",
                (action_id, source, action_type, json.dumps(payload), now, now),
            )
            return cursor.rowcount == 1

    def update(self, action_id: str, state: str, **detail: Any) -> None:
        """Move an action to ``state``, merging ``detail`` (exit code, duration, output tails...)."""
        with self._connection.write() as db:
            row = db.execute("SELECT detail FROM journal WHERE action_id = ?", (action_id,)).fetchone()
            if row is None:
                raise StoreError(f"no action {action_id!r} in the journal")
            merged = json.loads(row[0])
            merged.update(detail)
            db.execute(
                "UPDATE journal SET state = ?, updated = ?, detail = ? WHERE action_id = ?",
                (state, self._connection.now(), json.dumps(merged), action_id),
            )

    def get(self, action_id: str) -> Optional[JournalEntry]:
        rows = self._connection.read(f"SELECT {_COLUMNS} FROM journal WHERE action_id = ?", (action_id,))
        return _entry(rows[0]) if rows else None

    def in_state(self, *states: str, limit: int = 1000) -> list[JournalEntry]:
        """Actions in any of ``states``, oldest first (e.g. 'received' to run, 'running' after a crash)."""
        marks = ",".join("?" for _ in states)
        rows = self._connection.read(
            f"SELECT {_COLUMNS} FROM journal WHERE state IN ({marks}) ORDER BY received, rowid LIMIT ?",
            (*states, limit),
        )
        return [_entry(row) for row in rows]

    def recent(self, limit: int = 20) -> list[JournalEntry]:
        rows = self._connection.read(
            f"SELECT {_COLUMNS} FROM journal ORDER BY updated DESC, rowid DESC LIMIT ?", (limit,)
        )
        return [_entry(row) for row in rows]

    def pending_counts(self) -> list[tuple[str, str, int]]:
        """(source, type, how many) of the actions waiting to run: for the per-type and per-source caps."""
        rows = self._connection.read(
            "SELECT source, type, COUNT(*) FROM journal WHERE state = 'received' GROUP BY source, type"
        )
        return [(str(row[0]), str(row[1]), int(row[2])) for row in rows]

    def prune(self, older_than_s: float, states: Iterable[str], limit: int = 500) -> int:
        """Drop the payload and details of up to ``limit`` entries in ``states`` not updated for
        ``older_than_s`` seconds; how many. The row (id, source, type, state, times) stays, so
        the id still refuses a replay: a pruned entry costs a few hundred bytes, not 60 KB.
        """
        wanted = list(states)
        marks = ",".join("?" for _ in wanted)
        with self._connection.write() as db:
            cursor = db.execute(
                "UPDATE journal SET payload = '{}', detail = '{\"pruned\": true}' WHERE rowid IN ("
                f"SELECT rowid FROM journal WHERE state IN ({marks}) AND updated < ? "
                "AND NOT (payload = '{}' AND detail = '{\"pruned\": true}') LIMIT ?)",
                (*wanted, self._connection.now() - older_than_s, limit),
            )
            return int(cursor.rowcount)


def _entry(row: tuple[Any, ...]) -> JournalEntry:
    return JournalEntry(
        row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6], json.loads(row[7])
    )
