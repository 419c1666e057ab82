"""The outbox: MQTT messages owed to the broker, kept until the broker acknowledges them.

Written before a message is sent and removed only at its acknowledgement, so a broker
outage, a crash or a power cut loses nothing owed; bounded by ``max`` entries, the oldest
dropped first and counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from edge_agent.store.connection import Connection


@dataclass(frozen=True)
class OutboxEntry:
    """One MQTT message owed to the broker."""

    id: int
    topic: str
    payload: bytes
    qos: int
    created: float


class Outbox:
    """The ``outbox`` table (and its ``outbox_dropped`` counter)."""

    def __init__(self, connection: Connection, max_entries: int) -> None:
        self._connection = connection
        self.max = max_entries
        """How many owed messages are kept at most; beyond it the oldest are dropped."""

    def add(self, topic: str, payload: bytes, qos: int = 1) -> tuple[int, int]:
        """Owe ``payload`` on ``topic``; returns (its id, how many oldest entries were dropped)."""
        with self._connection.write() as db:
            cursor = db.execute(
                "INSERT INTO outbox (topic, payload, qos, created) VALUES (?, ?, ?, ?)",
                (topic, payload, qos, self._connection.now()),
            )
            entry_id = int(cursor.lastrowid or 0)
            (depth,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
            dropped = max(0, depth - self.max)
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

    def pending(self, limit: int = 100, after_id: int = 0) -> list[OutboxEntry]:
        """The oldest owed messages with an id above ``after_id``, in the order they were owed."""
        rows = self._connection.read(
            "SELECT id, topic, payload, qos, created FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [OutboxEntry(row[0], row[1], bytes(row[2]), row[3], row[4]) for row in rows]

    def ack(self, entry_ids: Iterable[int]) -> None:
        """The broker has these: forget them (one transaction for a whole batch)."""
        ids = [(entry_id,) for entry_id in entry_ids]
        if ids:
            with self._connection.write() as db:
                db.executemany("DELETE FROM outbox WHERE id = ?", ids)

    def depth(self) -> int:
        return int(self._connection.read("SELECT COUNT(*) FROM outbox")[0][0])

    def dropped(self) -> int:
        """How many owed messages were dropped, oldest first, to keep within ``max``."""
        rows = self._connection.read("SELECT value FROM counters WHERE name = 'outbox_dropped'")
        return int(rows[0][0]) if rows else 0
