"""Vendor state: small JSON values per heartbeat endpoint (tokens, ids, versions, counters).

Kept by namespace (one per endpoint, and ``agent`` for the agent's own records) so a
vendor's registration, session token or config version outlives a restart.
"""

from __future__ import annotations

import json
from typing import Any

from edge_agent.store.connection import Connection


class State:
    """The ``vendor_state`` table: JSON values by (namespace, key)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def get(self, namespace: str, key: str, default: Any = None) -> Any:
        rows = self._connection.read(
            "SELECT value FROM vendor_state WHERE namespace = ? AND key = ?", (namespace, key)
        )
        return json.loads(rows[0][0]) if rows else default

    def set(self, namespace: str, key: str, value: Any) -> None:
        self.update(namespace, {key: value})

    def update(self, namespace: str, values: dict[str, Any]) -> None:
        """Set several keys in one transaction (so a crash never leaves half of them)."""
        with self._connection.write() as db:
            for key, value in values.items():
                db.execute(
                    "INSERT INTO vendor_state (namespace, key, value, updated) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(namespace, key) DO UPDATE SET value = excluded.value, "
                    "updated = excluded.updated",
                    (namespace, key, json.dumps(value), self._connection.now()),
                )

    def delete(self, namespace: str, *keys: str) -> None:
        """Forget ``keys`` of ``namespace``, or the whole namespace when no key is named."""
        with self._connection.write() as db:
            if keys:
                db.executemany(
                    "DELETE FROM vendor_state WHERE namespace = ? AND key = ?",
                    [(namespace, key) for key in keys],
                )
            else:
                db.execute("DELETE FROM vendor_state WHERE namespace = ?", (namespace,))

    def items(self, namespace: str) -> dict[str, Any]:
        rows = self._connection.read("SELECT key, value FROM vendor_state WHERE namespace = ?", (namespace,))
        return {key: json.loads(value) for key, value in rows}
