"""What an adapter may reach beyond its config: durable state, the action journal, events.

:class:`StoreContext` is the real one, over the SQLite store: each endpoint's state lives
in its own namespace (``heartbeat:<name>``), every action goes into the journal (which
refuses an id it has seen, so a redelivered action is never queued twice) and is
announced with an ``action.received`` event. A reply's actions are journalled in one
transaction, at most ``[actions] max_per_reply`` of them: the rest are rejected with one
event and one log line, so a 1 MiB reply of 34,000 REBOOTs costs one commit, not 34,000
(each an fsync on the event loop) and an outbox flooded past its bound.
:class:`MemoryContext` holds everything in memory for ``--dry-run``, which must leave no
trace. An endpoint's backlog is the store's durable queue of the same name as its namespace.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from edge_agent.actions.intake import Intake, current_boot_id
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
    ) -> None:
        self.endpoint = endpoint
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

    def get(self, key: str, default: Any = None) -> Any:
        return self._store.get_state(self._namespace, key, default)

    def update(self, values: dict[str, Any]) -> None:
        self._store.update_state(self._namespace, values)

    def delete(self, *keys: str) -> None:
        if keys:
            self._store.delete_state(self._namespace, *keys)

    def queue_action(self, action: Action) -> bool:
        """Journal ``action`` (state "received") for the action runner; False for a redelivery."""
        return self.queue_actions([action])[0]

    def queue_actions(self, actions: Sequence[Action], *, over_limit: int = 0) -> list[bool]:
        """Journal a reply's actions in one transaction, each with its event; which were queued.

        Only the first ``max_per_reply`` are looked at; they and ``over_limit`` more (that
        the adapter did not even read) are rejected with one ``action.rejected`` event
        carrying their ``count``, and one log line. An action the caps refuse is journalled
        ``rejected`` (see :mod:`edge_agent.actions.intake`).
        """
        cap = self.max_actions_per_reply
        taken = list(actions[:cap])
        beyond = len(actions) - len(taken) + max(0, over_limit)
        queued: list[bool] = []
        tally: dict[str, int] = {"received": 0, "rejected": 0, "seen": 0}
        first_refusal: Optional[str] = None
        with self.atomic():  # journalled and their events owed, all or none
            intake = Intake(self._store, self._actions, self.clock, self._boot_id)
            for action in taken:
                payload = action.to_json()
                outcome, reason = intake.admit(action.id, action.source, action.type, payload)
                tally[outcome] += 1
                data = {"action_id": action.id, "action_type": action.type, "source": action.source}
                if outcome == "received":
                    self.emit("action.received", {**data, "action": payload})
                elif outcome == "rejected":
                    first_refusal = first_refusal or reason
                    self.emit("action.rejected", {**data, "state": "rejected", "reason": reason})
                queued.append(outcome == "received")
            if beyond:
                reason = (
                    f"the reply carried more than [actions] max_per_reply = {cap} actions; "
                    f"{beyond} more were not queued"
                )
                self.emit(
                    "action.rejected",
                    {
                        "action_id": None,
                        "action_type": None,
                        "source": f"heartbeat:{self.endpoint}",
                        "state": "rejected",
                        "count": beyond,
                        "reason": reason,
                    },
                )
        if taken:
            log.info(
                "%s: %d action(s) queued, %d seen before, %d rejected%s",
                self.endpoint,
                tally["received"],
                tally["seen"],
                tally["rejected"],
                f" (first: {first_refusal})" if first_refusal else "",
            )
        if beyond:
            log.warning(
                "%s: %d action(s) over [actions] max_per_reply = %d rejected", self.endpoint, beyond, cap
            )
        return queued

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
