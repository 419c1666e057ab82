"""What an adapter may reach beyond its config: durable state, the action journal, events.

:class:`StoreContext` is the real one, over the SQLite store: each endpoint's state lives
in its own namespace (``heartbeat:<name>``), every action goes into the journal (which
refuses an id it has seen, so a redelivered action is never queued twice) and is
announced with an ``action.received`` event. :class:`MemoryContext` holds everything in
memory for ``--dry-run``, which must leave no trace. An endpoint's backlog is the store's
durable queue of the same name as its namespace.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Callable, Optional

from edge_agent.model import Action, Clock, Event
from edge_agent.store import Store
from edge_agent.vendors.types import BacklogItem

log = logging.getLogger(__name__)


def state_namespace(endpoint: str) -> str:
    """The store namespace of one endpoint's vendor state."""
    return f"heartbeat:{endpoint}"


class StoreContext:
    """An endpoint's view of the store, and its way to publish events."""

    def __init__(
        self,
        store: Store,
        endpoint: str,
        clock: Clock,
        on_event: Callable[[Event], None],
        *,
        device_id: str = "",
    ) -> None:
        self.endpoint = endpoint
        self.clock = clock
        self.device_id = device_id
        self._store = store
        self._namespace = state_namespace(endpoint)
        self._on_event = on_event

    def get(self, key: str, default: Any = None) -> Any:
        return self._store.get_state(self._namespace, key, default)

    def update(self, values: dict[str, Any]) -> None:
        self._store.update_state(self._namespace, values)

    def delete(self, *keys: str) -> None:
        if keys:
            self._store.delete_state(self._namespace, *keys)

    def queue_action(self, action: Action) -> bool:
        """Journal ``action`` (state "received") for the action runner; False for a redelivery."""
        payload = action.to_json()
        with self.atomic():  # journalled and its action.received owed, or neither
            if not self._store.journal_record(action.id, action.source, action.type, payload):
                log.info(
                    "%s: action %s (%s) seen before, not queued again", self.endpoint, action.id, action.type
                )
                return False
            data = {"action_id": action.id, "action_type": action.type, "source": action.source}
            self.emit("action.received", {**data, "action": payload})
        log.info("%s: queued action %s (%s)", self.endpoint, action.id, action.type)
        return True

    def action_state(self, action_id: str) -> Optional[tuple[str, dict[str, Any]]]:
        entry = self._store.journal_get(action_id)
        return (entry.state, dict(entry.detail)) if entry is not None else None

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        self._on_event(Event.new(event_type, data, self.clock))

    def atomic(self) -> AbstractContextManager[None]:
        return self._store.atomic()  # an emitted event goes to the outbox of this same store

    def backlog_push(self, item: dict[str, Any]) -> int:
        return int(self._store.queue_push(self._namespace, item) or 0)

    def backlog_items(self, limit: int = 100) -> list[BacklogItem]:
        return [
            BacklogItem(entry.id, entry.item, entry.attempts)
            for entry in self._store.queue_peek(self._namespace, limit)
        ]

    def backlog_attempted(self, item_id: int) -> None:
        self._store.queue_attempted(item_id)

    def backlog_remove(self, item_id: int) -> None:
        self._store.queue_remove(item_id)

    def backlog_len(self) -> int:
        return self._store.queue_len(self._namespace)


class MemoryContext:
    """The same interface over plain dicts: for previews that must not write anything."""

    def __init__(
        self, endpoint: str, clock: Clock, state: Optional[dict[str, Any]] = None, *, device_id: str = ""
    ) -> None:
        self.endpoint = endpoint
        self.clock = clock
        self.device_id = device_id
        self.state: dict[str, Any] = dict(state or {})
        self.actions: dict[str, Action] = {}
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.backlog: dict[int, BacklogItem] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.state.get(key, default)

    def update(self, values: dict[str, Any]) -> None:
        self.state.update(values)

    def delete(self, *keys: str) -> None:
        for key in keys:
            self.state.pop(key, None)

    def queue_action(self, action: Action) -> bool:
        if action.id in self.actions:
            return False
        self.actions[action.id] = action
        return True

    def action_state(self, action_id: str) -> Optional[tuple[str, dict[str, Any]]]:
        return ("received", {}) if action_id in self.actions else None

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        self.events.append((event_type, dict(data)))

    def atomic(self) -> AbstractContextManager[None]:
        return nullcontext()  # nothing here outlives the process anyway

    def backlog_push(self, item: dict[str, Any]) -> int:
        item_id = max(self.backlog, default=0) + 1
        self.backlog[item_id] = BacklogItem(item_id, item, 0)
        return item_id

    def backlog_items(self, limit: int = 100) -> list[BacklogItem]:
        return [self.backlog[item_id] for item_id in sorted(self.backlog)[:limit]]

    def backlog_attempted(self, item_id: int) -> None:
        entry = self.backlog.get(item_id)
        if entry is not None:
            self.backlog[item_id] = BacklogItem(item_id, entry.item, entry.attempts + 1)

    def backlog_remove(self, item_id: int) -> None:
        self.backlog.pop(item_id, None)

    def backlog_len(self) -> int:
        return len(self.backlog)
