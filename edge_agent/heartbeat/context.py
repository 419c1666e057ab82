"""What an adapter may reach beyond its config: durable state, the action journal, events.

:class:`StoreContext` is the real one, over the SQLite store: each endpoint's state lives
in its own namespace (``heartbeat:<name>``), and every action goes through the one action
intake (:class:`~edge_agent.actions.intake.ActionIntake`: the same validation, journal,
caps and events as an operator's command; an id seen before is never queued twice). A
reply's actions are journalled in one transaction, at most ``[actions] max_per_reply``
of them: the rest are rejected with one event and one log line.
:class:`MemoryContext` holds everything in memory for ``--dry-run``, which must leave no
trace. An endpoint's backlog is the store's durable queue of the same name as its namespace.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from edge_agent.actions.intake import ActionIntake, current_boot_id
from edge_agent.model import Action, Clock, Event
from edge_agent.store import Store
from edge_agent.vendors.types import BacklogItem

if TYPE_CHECKING:
    from edge_agent.config import ActionsConfig

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
        actions: Optional[ActionsConfig] = None,
        host_root: Optional[Union[str, Path]] = None,
        intake: Optional[ActionIntake] = None,
        failing_peers: Optional[Callable[[], dict[str, str]]] = None,
    ) -> None:
        self.endpoint = endpoint
        self._failing_peers = failing_peers
        self.clock = clock
        self.device_id = device_id
        if actions is None:
            from edge_agent.config import ActionsConfig  # the agent always passes its own

            actions = ActionsConfig()
        self._actions = actions
        self.max_actions_per_reply = self._actions.max_per_reply
        self._boot_id = current_boot_id(host_root)
        self._store = store
        self._namespace = state_namespace(endpoint)
        self._on_event = on_event
        if intake is None:  # no runner to wake (a preview, a test): its poll finds the journal
            intake = ActionIntake(
                store,
                actions if actions is not None else ActionsConfig(),
                clock,
                on_event,
                device_id=device_id,
                boot_id=current_boot_id(host_root),
            )
        self._intake = intake
        self.max_actions_per_reply = intake.max_per_reply

    def get(self, key: str, default: Any = None) -> Any:
        return self._store.state.get(self._namespace, key, default)

    def update(self, values: dict[str, Any]) -> None:
        self._store.state.update(self._namespace, values)

    def delete(self, *keys: str) -> None:
        if keys:
            self._store.state.delete(self._namespace, *keys)

    def queue_action(self, action: Action) -> bool:
        """Journal ``action`` (state "received") for the action runner; False for a redelivery."""
        return self.queue_actions([action])[0]

    def failing_endpoints(self) -> dict[str, str]:
        return self._failing_peers() if self._failing_peers is not None else {}

    def queue_actions(self, actions: Sequence[Action], *, over_limit: int = 0) -> list[bool]:
        """Hand a reply's actions to the one action intake; which were queued.

        :meth:`ActionIntake.take_vendor_actions` validates them by the rule an operator's
        command meets, journals them in one transaction with their events (the same
        ``action.received`` / ``action.rejected`` shape as for MQTT), applies
        ``max_per_reply`` (``over_limit`` more that the adapter did not even read count
        too) and the caps, and wakes the runner.
        """
        return self._intake.take_vendor_actions(actions, endpoint=self.endpoint, over_limit=over_limit)

    def action_state(self, action_id: str) -> Optional[tuple[str, dict[str, Any]]]:
        entry = self._store.journal.get(action_id)
        return (entry.state, dict(entry.detail)) if entry is not None else None

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        self._on_event(Event.new(event_type, data, self.clock))

    def atomic(self) -> AbstractContextManager[None]:
        return self._store.atomic()  # an emitted event goes to the outbox of this same store

    def backlog_push(self, item: dict[str, Any]) -> int:
        return int(self._store.queues.push(self._namespace, item) or 0)

    def backlog_items(self, limit: int = 100) -> list[BacklogItem]:
        return [
            BacklogItem(entry.id, entry.item, entry.attempts)
            for entry in self._store.queues.peek(self._namespace, limit)
        ]

    def backlog_attempted(self, item_id: int) -> None:
        self._store.queues.attempted(item_id)

    def backlog_remove(self, item_id: int) -> None:
        self._store.queues.remove(item_id)

    def backlog_len(self) -> int:
        return self._store.queues.length(self._namespace)


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
        from edge_agent.config import ActionsConfig  # previews only (``edge-agent heartbeat --dry-run``)

        self.max_actions_per_reply = ActionsConfig().max_per_reply

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

    def failing_endpoints(self) -> dict[str, str]:
        return {}  # a preview sees no other endpoint

    def queue_actions(self, actions: Sequence[Action], *, over_limit: int = 0) -> list[bool]:
        taken = list(actions[: self.max_actions_per_reply])
        beyond = len(actions) - len(taken) + max(0, over_limit)
        if beyond:
            self.emit("action.rejected", {"count": beyond, "reason": "over [actions] max_per_reply"})
        return [self.queue_action(action) for action in taken]

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
