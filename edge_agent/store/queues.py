"""Durable queues: ordered, de-duplicated work items that must survive a restart.

For example an AI-box event awaiting its Ack: stored before it is sent, removed when the
vendor confirms it, and never queued twice for the same key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

from edge_agent.store.connection import Connection


@dataclass(frozen=True)
class QueueItem:
    """One durable work item; ``attempts`` counts how often it was tried."""

    id: int
    queue: str
    item: Any
    created: float
    attempts: int


class Queues:
    """The ``queue`` table, by queue name, and the ``seen_keys`` that de-duplicate it."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def push(self, queue: str, item: Any, dedupe_key: Optional[str] = None) -> Optional[int]:
        """Append ``item``; with a ``dedupe_key`` already seen on this queue, do nothing and return None.

        Keys are remembered after the item leaves the queue, so a vendor that delivers
        the same work again later is still recognised.
        """
        with self._connection.write() as db:
            if dedupe_key is not None:
                seen = db.execute(
                    "SELECT 1 FROM seen_keys WHERE queue = ? AND dedupe_key = ?", (queue, dedupe_key)
                ).fetchone()
                if seen:
                    return None
                db.execute(
                    "INSERT INTO seen_keys (queue, dedupe_key, created) VALUES (?, ?, ?)",
                    (queue, dedupe_key, self._connection.now()),
                )
            cursor = db.execute(
                "INSERT INTO queue (queue, dedupe_key, item, created) VALUES (?, ?, ?, ?)",
                (queue, dedupe_key, json.dumps(item), self._connection.now()),
            )
            return int(cursor.lastrowid or 0)

    def peek(self, queue: str, limit: int = 100) -> list[QueueItem]:
        rows = self._connection.read(
            "SELECT id, queue, item, created, attempts FROM queue WHERE queue = ? ORDER BY id LIMIT ?",
            (queue, limit),
        )
        return [QueueItem(row[0], row[1], json.loads(row[2]), row[3], row[4]) for row in rows]

    def attempted(self, item_id: int) -> None:
        with self._connection.write() as db:
            db.execute("UPDATE queue SET attempts = attempts + 1 WHERE id = ?", (item_id,))

    def remove(self, item_id: int) -> None:
        with self._connection.write() as db:
            db.execute("DELETE FROM queue WHERE id = ?", (item_id,))

    def length(self, queue: str) -> int:
        return int(self._connection.read("SELECT COUNT(*) FROM queue WHERE queue = ?", (queue,))[0][0])
