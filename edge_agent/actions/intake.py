"""Where an action enters the journal: the caps on what may wait, and the receipt it carries.

Both doors into the journal use this: vendor replies (through the heartbeat context) and
operators' MQTT commands (through the runner). What it adds to a plain journal insert:

* **caps**: at most ``[actions] max_pending_per_type`` actions of one type and
  ``max_pending_per_source`` actions of one source wait to run at once. One more is
  journalled ``rejected`` with the reason (so a vendor that delivers it again is told
  "seen before", not re-evaluated every beat), never left to pile up: 5,000 queued
  VIDEOs would otherwise play for 28 hours;
* **the receipt**: the boot the action arrived in (the kernel's random ``boot_id``) and
  the time on the agent's clock, in the entry's details. The runner uses them to refuse
  a REBOOT that was asked for before the current boot, and to expire an action that
  waited longer than ``pending_ttl``.

Callers hold one store transaction around a whole batch (:meth:`Store.atomic`), so a
reply's actions and their events are journalled together or not at all.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from edge_agent.actions import schema
from edge_agent.errors import ActionRejected
from edge_agent.model import Clock
from edge_agent.store import Store

if TYPE_CHECKING:
    from edge_agent.config import ActionsConfig

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
STAT_PATH = "/proc/stat"


def current_boot_id(host_root: Optional[Union[str, Path]] = None) -> str:
    """This boot's id: the kernel's random ``boot_id``, else ``btime:<boot time>``, else "".

    Read under ``host_root`` (``[metrics] host_root``; a fixture tree in tests). "" means
    the boot cannot be told apart, and the boot check is skipped (the rate limit stays).
    """
    if host_root is None:
        from edge_agent.config.sections import default_host_root  # the agent always passes one

        host_root = default_host_root()
    root = str(host_root).rstrip("/")
    try:
        with open(root + BOOT_ID_PATH, encoding="ascii", errors="replace") as handle:
            found = handle.read(128).strip()
        if found:
            return found
    except OSError:
        pass
    try:
        with open(root + STAT_PATH, encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("btime "):
                    return "btime:" + line.split()[1]
    except (OSError, IndexError):
        pass
    return ""


def type_key(action_type: str) -> str:
    """The one spelling of a journalled type, for counting (a vendor's own spelling included)."""
    try:
        return schema.normalise_type(action_type)
    except ActionRejected:
        return action_type


class Intake:
    """The caps and the receipt for one batch of actions; make one per batch (it counts as it goes)."""

    def __init__(self, store: Store, config: ActionsConfig, clock: Clock, boot_id: str) -> None:
        self._store = store
        self._config = config
        self._receipt: dict[str, Any] = {"boot_id": boot_id, "received_at": clock.now().timestamp()}
        self._per_type: Counter[str] = Counter()
        self._per_source: Counter[str] = Counter()
        for source, action_type, count in store.journal_pending_counts():
            self._per_type[type_key(action_type)] += count
            self._per_source[source] += count

    def admit(self, action_id: str, source: str, action_type: str, payload: Any) -> tuple[str, Optional[str]]:
        """Journal one action (inside the caller's transaction): ("received" | "rejected" | "seen", reason).

        "seen": the id is in the journal already; nothing was written.
        """
        if not self._store.journal_record(action_id, source, action_type, payload):
            return "seen", None
        reason = self.refusal(source, action_type)
        if reason is not None:
            self._store.journal_update(action_id, "rejected", reason=reason, **self._receipt)
            return "rejected", reason
        self._store.journal_update(action_id, "received", **self._receipt)
        self._per_type[type_key(action_type)] += 1
        self._per_source[source] += 1
        return "received", None

    def refusal(self, source: str, action_type: str) -> Optional[str]:
        """Why one more action of this type from this source may not wait, or None."""
        key = type_key(action_type)
        if self._per_type[key] >= self._config.max_pending_per_type:
            return (
                f"too many {key} actions waiting ({self._per_type[key]}; "
                f"[actions] max_pending_per_type = {self._config.max_pending_per_type})"
            )
        if self._per_source[source] >= self._config.max_pending_per_source:
            return (
                f"too many actions from {source} waiting ({self._per_source[source]}; "
                f"[actions] max_pending_per_source = {self._config.max_pending_per_source})"
            )
        return None
