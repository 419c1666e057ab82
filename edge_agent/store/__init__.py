"""The agent's durable memory: one SQLite file, the only package that imports sqlite3.

It holds what must outlive a broker outage, a crash (SIGKILL) and a power cut, one
repository each, reached as attributes of the one :class:`Store` the agent passes around:

* ``store.outbox`` (``outbox.py``): MQTT messages owed to the broker, written before they are
  sent and removed only when the broker acknowledges them, bounded by ``outbox_max``;
* ``store.state`` (``state.py``): small JSON values per heartbeat endpoint (tokens, ids,
  versions, counters), in namespaces;
* ``store.queues`` (``queues.py``): ordered, de-duplicated work items that must survive a
  restart (an AI-box event awaiting its Ack);
* ``store.journal`` (``journal.py``): every action seen, with its state, so none runs twice.

The connection they share (``connection.py``) owns transactions (:meth:`Store.atomic`), the
degraded/recovered health and the lock; ``opening.py`` opens the file without ever throwing
away a healthy store (a corrupt one is moved aside, a busy or full one waited for);
``schema.py`` holds the tables, their version and the migrations.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from edge_agent.errors import StoreError, StoreSchemaError, StoreUnavailable
from edge_agent.store.connection import DEFAULT_OPEN_WAIT, Connection, HealthListener
from edge_agent.store.journal import Journal, JournalEntry
from edge_agent.store.opening import RESET_KEY, STATUS_NAMESPACE
from edge_agent.store.outbox import Outbox, OutboxEntry
from edge_agent.store.queues import QueueItem, Queues
from edge_agent.store.schema import MIGRATIONS, SCHEMA_VERSION
from edge_agent.store.state import State

__all__ = [
    "DEFAULT_OPEN_WAIT",
    "MIGRATIONS",
    "RESET_KEY",
    "SCHEMA_VERSION",
    "STATUS_NAMESPACE",
    "HealthListener",
    "JournalEntry",
    "OutboxEntry",
    "QueueItem",
    "Store",
    "StoreError",
    "StoreSchemaError",
    "StoreUnavailable",
]


class Store(Connection):
    """The store the agent opens once per process and shares: the connection and its repositories.

    ``outbox_max`` bounds the outbox; the other arguments are the connection's (see
    :class:`~edge_agent.store.connection.Connection`).
    """

    def __init__(
        self,
        path: Path,
        *,
        outbox_max: int = 10000,
        wall_time: Callable[[], float] = time.time,
        open_wait: float = DEFAULT_OPEN_WAIT,
        busy_timeout: float = 10.0,
        move_corrupt_aside: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            path,
            wall_time=wall_time,
            open_wait=open_wait,
            busy_timeout=busy_timeout,
            move_corrupt_aside=move_corrupt_aside,
            sleep=sleep,
        )
        self.outbox = Outbox(self, outbox_max)
        self.state = State(self)
        self.queues = Queues(self)
        self.journal = Journal(self)
