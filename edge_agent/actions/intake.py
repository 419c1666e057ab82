"""The one action intake: every action enters the journal here, whoever sends it.

Two kinds of sender, one door (:class:`ActionIntake`):

* an operator's command on ``<prefix>/<id>/cmd``: the raw MQTT payload goes to
  :meth:`ActionIntake.take_command` (the envelope: :mod:`edge_agent.actions.envelope`),
  and a programmatic caller hands a decoded document to :meth:`ActionIntake.submit`;
* a vendor's decoded actions, a reply's worth at a time:
  :meth:`ActionIntake.take_vendor_actions` (the heartbeat context calls it).

Whatever the source, the same steps in the same order, with the same reasons:

1. **one validation**: the id by the one rule (:func:`schema.action_id`: 1-128 characters
   from ``A-Z a-z 0-9 _ . : @ + = -``), the type by the one spelling
   (:func:`schema.normalise_type`), and for MQTT with ``[actions] mqtt_secret`` the
   signature. A refusal here is an ``action.rejected`` event and nothing journalled (so a
   forger cannot use up the ids of real commands). A type's fields are checked when the
   action runs (:func:`schema.parse_action`), where the URL policy and the planner are;
2. **the journal**: an id seen before is refused ("duplicate", "replayed" when signed);
3. **the caps** (:class:`Admission`): at most ``[actions] max_pending_per_type`` of one
   type and ``max_pending_per_source`` of one source wait at once; one more is journalled
   ``rejected`` with the reason (a vendor that delivers it again is told "seen before",
   not re-evaluated every beat), never left to pile up: 5,000 queued VIDEOs would
   otherwise play for 28 hours;
4. **the receipt**: the boot the action arrived in (the kernel's random ``boot_id``) and
   the time on the agent's clock, in the entry's details. The runner uses them to refuse a
   REBOOT asked for before the current boot, and to expire an action that waited longer
   than ``pending_ttl``;
5. **one event**: ``action.received`` ``{action_id, action_type, source, state, signed,
   action}`` or ``action.rejected`` ``{action_id, action_type, source, state, reason}``,
   owed in the same transaction as the journal entry, the same shape for every source
   (``source`` is ``mqtt`` or ``heartbeat:<endpoint>``). An MQTT command also gets its
   ``command.received`` or ``command.rejected`` (``command_id``, ``command_type``,
   ``reason``, ``source``): the public events about the message itself;
6. **one answer** on the MQTT 5 response topic: the receipt ``{"id", "status", "reason"?}``,
   then one message per later state of the action (the ``action.<state>`` event);
7. **the runner woken**: the intake calls the runner's wake-up itself after the commit.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from edge_agent.actions import schema, signing
from edge_agent.actions.envelope import Command, RejectedCommand, parse_command, shown
from edge_agent.errors import ActionRejected
from edge_agent.model import Action, Clock, Event
from edge_agent.store import Store

log = logging.getLogger(__name__)

MQTT_SOURCE = "mqtt"
CANCEL = "CANCEL"

Reply = Callable[[dict[str, Any]], None]

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


class Admission:
    """The journal, the caps and the receipt for one batch; make one per batch (it counts as it goes)."""

    def __init__(self, store: Store, config: ActionsConfig, clock: Clock, boot_id: str) -> None:
        """Count what waits now; make one per batch, inside the batch's transaction."""
        self._store = store
        self._config = config
        self._receipt: dict[str, Any] = {"boot_id": boot_id, "received_at": clock.now().timestamp()}
        self._per_type: Counter[str] = Counter()
        self._per_source: Counter[str] = Counter()
        for source, action_type, count in store.journal.pending_counts():
            self._per_type[type_key(action_type)] += count
            self._per_source[source] += count

    def admit(self, action_id: str, source: str, action_type: str, payload: Any) -> tuple[str, Optional[str]]:
        """Journal one action (inside the caller's transaction): ("received" | "rejected" | "seen", reason).

        "seen": the id is in the journal already; nothing was written.
        """
        if not self._store.journal.record(action_id, source, action_type, payload):
            return "seen", None
        reason = self.refusal(source, action_type)
        if reason is not None:
            self._store.journal.update(action_id, "rejected", reason=reason, **self._receipt)
            return "rejected", reason
        self._store.journal.update(action_id, "received", **self._receipt)
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


@dataclass(frozen=True)
class Answer:
    """Who hears how one action fares: its first answer (the receipt), then every later state.

    ``receipt`` is called once, when the intake has decided (received or rejected);
    ``later`` gets the ``action.<state>`` event of each state after that (the runner's).
    """

    receipt: Optional[Callable[[Event], None]] = None
    later: Optional[Reply] = None

    @classmethod
    def events(cls, reply: Optional[Reply]) -> Answer:
        """Every state as its event JSON, the receipt included (:meth:`ActionIntake.submit`)."""
        if reply is None:
            return cls()
        return cls(lambda event: reply(event.to_json()), reply)

    @classmethod
    def mqtt(cls, reply: Optional[Reply]) -> Answer:
        """The MQTT 5 response topic: ``{"id", "status", "reason"?}`` first, then each later state."""
        if reply is None:
            return cls()
        return cls(lambda event: reply(receipt_body(event)), reply)

    def tell(self, event: Event) -> None:
        if self.receipt is not None:
            self.receipt(event)


def receipt_body(event: Event) -> dict[str, Any]:
    """The documented receipt on the response topic: the command's id, its status, the reason."""
    body: dict[str, Any] = {"id": event.data.get("action_id"), "status": event.data.get("state")}
    if event.data.get("reason") is not None:
        body["reason"] = event.data["reason"]
    return body


def action_event(
    action_id: Optional[str],
    action_type: Optional[str],
    source: str,
    state: str,
    detail: Mapping[str, Any],
    clock: Clock,
) -> Event:
    """The ``action.<state>`` event, one shape for every source; logged where it needs a look."""
    data = {"action_id": action_id, "action_type": action_type, "source": source, "state": state}
    data.update(detail)
    if state in ("rejected", "failed"):
        log.warning(
            "action %s (%s from %s) %s: %s", action_id, action_type, source, state, detail.get("reason")
        )
    return Event.new("action.started" if state == "running" else f"action.{state}", data, clock)


def command_event(parsed: Union[Command, RejectedCommand], clock: Clock) -> Event:
    """The public event about an MQTT message itself: ``command.received`` or ``command.rejected``."""
    if isinstance(parsed, RejectedCommand):
        data = {"command_id": parsed.command_id, "reason": parsed.reason, "source": MQTT_SOURCE}
        return Event.new("command.rejected", data, clock)
    data = {"command_id": parsed.id, "command_type": parsed.type, "source": MQTT_SOURCE}
    return Event.new("command.received", data, clock)


class EnvelopeIntake:
    """What takes commands while no action runner is plugged in (a bare MQTT mirror).

    The envelope's verdict only, announced as :class:`ActionIntake` announces it (the
    ``command.*`` event and the receipt on the response topic); nothing is journalled or run.
    """

    def __init__(self, on_event: Callable[[Event], None], clock: Clock) -> None:
        self._on_event = on_event
        self._clock = clock

    def __call__(self, payload: bytes, retained: bool, reply: Optional[Reply]) -> None:
        parsed = parse_command(payload, retained=retained)
        self._on_event(command_event(parsed, self._clock))
        if isinstance(parsed, RejectedCommand):
            log.warning("rejected a command: %s", parsed.reason)
        if reply is not None:
            if isinstance(parsed, RejectedCommand):
                reply({"id": parsed.command_id, "status": "rejected", "reason": parsed.reason})
            else:
                reply({"id": parsed.id, "status": "received"})


Cancel = Callable[[str, str, Mapping[str, Any], bool, Answer], Optional[str]]


class ActionIntake:
    """The one door into the journal (see the module docstring); the runner plugs in its hooks.

    ``wake`` is called after a commit that left something to run; ``follow(action_id,
    reply)`` hands the runner the reply that hears the action's later states; ``cancel``
    settles an operator's CANCEL (it needs what the runner runs). Without them (a heartbeat
    context with no runner, in tests) the runner's poll finds the journal entries instead.
    """

    def __init__(
        self,
        store: Store,
        config: ActionsConfig,
        clock: Clock,
        on_event: Callable[[Event], None],
        *,
        device_id: str,
        boot_id: str,
        wake: Optional[Callable[[], None]] = None,
        follow: Optional[Callable[[str, Reply], None]] = None,
        cancel: Optional[Cancel] = None,
    ) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self._on_event = on_event
        self._device_id = device_id
        self._boot_id = boot_id
        self._wake = wake
        self._follow = follow
        self._cancel = cancel

    @property
    def max_per_reply(self) -> int:
        return self._config.max_per_reply

    # -- operators ------------------------------------------------------------------------

    def take_command(
        self, payload: bytes, *, retained: bool = False, reply: Optional[Reply] = None
    ) -> Optional[str]:
        """A raw message from ``<prefix>/<id>/cmd``: its action id when journalled ``received``, else None.

        Signed when ``[actions] mqtt_secret`` is set. ``reply`` is the MQTT 5 response
        topic: it gets one receipt, then the action's later states.
        """
        answer = Answer.mqtt(reply)
        parsed = parse_command(payload, retained=retained)
        if isinstance(parsed, RejectedCommand):
            self._refuse(parsed.command_id, parsed.command_type, MQTT_SOURCE, parsed.reason, answer)
            self._on_event(command_event(parsed, self._clock))
            return None
        signed = self._config.mqtt_secret is not None
        return self._take(parsed.body, MQTT_SOURCE, signed, answer, parsed)

    def submit(
        self,
        document: Any,
        source: str,
        *,
        signed_required: bool = False,
        reply: Optional[Reply] = None,
    ) -> Optional[str]:
        """One decoded action document: its id when journalled ``received``, else None.

        ``reply`` gets every state of this action as its event JSON, ``action.received``
        first. Call it where ``on_event`` and ``reply`` may run (the loop's thread).
        """
        return self._take(document, source, signed_required, Answer.events(reply))

    # -- vendors --------------------------------------------------------------------------

    def take_vendor_actions(
        self, actions: Sequence[Action], *, endpoint: str, over_limit: int = 0
    ) -> list[bool]:
        """Journal a reply's actions in one transaction, each with its event; which were queued.

        Only the first ``[actions] max_per_reply`` are looked at; they and ``over_limit``
        more (that the adapter did not even read) are rejected with one
        ``action.rejected`` event carrying their ``count``, and one log line. So a 1 MiB
        reply of 34,000 REBOOTs costs one commit, not 34,000 (each an fsync on the loop).
        """
        cap = self._config.max_per_reply
        taken = list(actions[:cap])
        beyond = len(actions) - len(taken) + max(0, over_limit)
        queued: list[bool] = []
        tally: dict[str, int] = {"received": 0, "rejected": 0, "seen": 0}
        first_refusal: Optional[str] = None
        with self._store.atomic():  # journalled and their events owed, all or none
            admission = Admission(self._store, self._config, self._clock, self._boot_id)
            for action in taken:
                outcome, reason = self._admit(admission, action.to_json(), action.source, False)
                tally["rejected" if outcome == "invalid" else outcome] += 1
                if outcome in ("rejected", "invalid"):
                    first_refusal = first_refusal or reason
                queued.append(outcome == "received")
            if beyond:
                reason = (
                    f"the reply carried more than [actions] max_per_reply = {cap} actions; "
                    f"{beyond} more were not queued"
                )
                detail = {"count": beyond, "reason": reason}
                self.owe(None, None, f"heartbeat:{endpoint}", "rejected", detail)
        if taken:
            log.info(
                "%s: %d action(s) queued, %d seen before, %d rejected%s",
                endpoint,
                tally["received"],
                tally["seen"],
                tally["rejected"],
                f" (first: {first_refusal})" if first_refusal else "",
            )
        if beyond:
            log.warning("%s: %d action(s) over [actions] max_per_reply = %d rejected", endpoint, beyond, cap)
        if tally["received"]:
            self._wake_runner()
        return queued

    # -- the one path ---------------------------------------------------------------------

    def _take(
        self, document: Any, source: str, signed: bool, answer: Answer, command: Optional[Command] = None
    ) -> Optional[str]:
        """Validate, journal, owe the events, answer, wake: one action from an operator.

        ``command`` (an MQTT command): its ``command.received`` is owed right after the
        action's own event, and made then, so the events' times keep the outbox's order.
        """
        try:
            checked = self._check(document, source, signed)
        except ActionRejected as exc:
            raw = document if isinstance(document, Mapping) else {}
            self._refuse(shown(raw.get("id")), shown(raw.get("type")), source, str(exc), answer)
            self._also(command)
            return None
        action_id, action_type, payload = checked
        if action_type == CANCEL and self._cancel is not None:
            cancelled = self._cancel(action_id, source, payload, signed, answer)
            self._also(command)
            return cancelled
        with self._store.atomic():  # journalled and its events owed, or neither
            admission = Admission(self._store, self._config, self._clock, self._boot_id)
            outcome, event = self._journal(admission, action_id, action_type, source, payload, signed)
            self._also(command)
        if event is not None:
            answer.tell(event)
        if outcome != "received":
            return None
        if answer.later is not None and self._follow is not None:
            self._follow(action_id, answer.later)
        self._wake_runner()
        return action_id

    def _admit(
        self, admission: Admission, document: Any, source: str, signed: bool
    ) -> tuple[str, Optional[str]]:
        """One vendor action, in the batch's transaction: ("received"|"rejected"|"seen"|"invalid", why)."""
        try:
            action_id, _normalised, payload = self._check(document, source, signed)
        except ActionRejected as exc:
            raw = document if isinstance(document, Mapping) else {}
            self._refuse(shown(raw.get("id")), shown(raw.get("type")), source, str(exc), Answer())
            return "invalid", str(exc)
        action_type = str(payload["type"])  # the vendor's own spelling stays in the journal, as sent
        outcome, event = self._journal(
            admission, action_id, action_type, source, payload, signed, quiet_seen=True
        )
        return outcome, event.data.get("reason") if event is not None else None

    def _check(self, document: Any, source: str, signed: bool) -> tuple[str, str, dict[str, Any]]:
        """The one validation: (id, normalised type, payload without its signature), or ActionRejected."""
        if not isinstance(document, Mapping):
            raise ActionRejected("a command must be a JSON object")
        action_id = schema.action_id(document.get("id"))
        if signed:
            signing.verify(
                document,
                self._secret(),
                device_id=self._device_id,
                now=self._clock.now(),
                max_lifetime=self._config.max_command_lifetime,
            )
        action_type = schema.normalise_type(document.get("type"))
        payload = {key: value for key, value in document.items() if key != signing.SIGNATURE_KEY}
        return action_id, action_type, payload

    def _journal(
        self,
        admission: Admission,
        action_id: str,
        action_type: str,
        source: str,
        payload: dict[str, Any],
        signed: bool,
        *,
        quiet_seen: bool = False,
    ) -> tuple[str, Optional[Event]]:
        """Record one checked action and owe its event; the outcome and that event.

        An id seen before is refused with an event ("duplicate", "replayed" when signed),
        except for a vendor's redelivery (``quiet_seen``): hubs re-send what they queued
        on every beat, and that is no news.
        """
        outcome, refusal = admission.admit(action_id, source, action_type, payload)
        if outcome == "received":
            detail = {"signed": signed, "action": payload}
            return outcome, self.owe(action_id, action_type, source, "received", detail)
        if outcome == "rejected":
            return outcome, self.owe(action_id, action_type, source, "rejected", {"reason": refusal})
        if quiet_seen:
            return outcome, None
        seen = self._store.journal.get(action_id)
        word = "replayed" if signed else "duplicate"
        state = seen.state if seen else "known"
        reason = f"{word}: action {action_id} was seen before ({state}); it does not run again"
        return outcome, self.owe(action_id, action_type, source, "rejected", {"reason": reason})

    def _refuse(
        self, action_id: Optional[str], action_type: Optional[str], source: str, reason: str, answer: Answer
    ) -> None:
        """An action refused before the journal: its ``action.rejected`` event, and the answer."""
        answer.tell(self.owe(action_id, action_type, source, "rejected", {"reason": reason}))

    def owe(
        self,
        action_id: Optional[str],
        action_type: Optional[str],
        source: str,
        state: str,
        detail: Mapping[str, Any],
    ) -> Event:
        """The ``action.<state>`` event (one shape: :func:`action_event`), owed to the events topic."""
        event = action_event(action_id, action_type, source, state, detail, self._clock)
        self._on_event(event)
        return event

    def _also(self, command: Optional[Command]) -> None:
        if command is not None:
            self._on_event(command_event(command, self._clock))

    def _wake_runner(self) -> None:
        if self._wake is not None:
            self._wake()

    def _secret(self) -> str:
        if self._config.mqtt_secret is None:
            raise ActionRejected("signed commands are required, but [actions] mqtt_secret is not set")
        return self._config.mqtt_secret.get_secret_value()
