"""The action runner: every action recorded before it runs, run at most once, reported always.

Life of an action, as journalled in the store and published as ``action.<state>`` events::

    received ──> running ──> succeeded | failed        (event action.started for running)
        ├──> rejected      not allowed, invalid value, no argv for its type
        └──> expired       its expires_at passed before it could run
    received ──> cancelled   an operator's CANCEL (also a running one: its program is killed)
    running ──> interrupted  found running at start-up: the agent died under it; not rerun

An id already in the journal is never run again, whoever sends it again (a vendor that
re-delivers, a retained or duplicated MQTT message, a restart). A REBOOT is journalled
``succeeded`` (``reboot_requested``) *before* its command starts, so the device cannot
reboot in a loop; with it, every other pending REBOOT is settled (merged into it), a
REBOOT received in an earlier boot is rejected, and two reboots are at least
``[actions] reboot_min_interval`` apart. An action that waited longer than
``pending_ttl`` expires; finished entries lose their payload after ``journal_retention``
(the id stays, to refuse a replay); an operator's CANCEL stops one that waits or runs.
Actions of one type run one at a time, in the order received; actions
of different types run side by side. Every action, a vendor's or an operator's, enters
through the one intake (:class:`~edge_agent.actions.intake.ActionIntake`, this runner's
:attr:`ActionRunner.intake`), which journals it and wakes the runner.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Awaitable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from edge_agent.actions import schema
from edge_agent.actions.desktop import DesktopFinder, NoDesktopSession
from edge_agent.actions.intake import (
    CANCEL,
    ActionIntake,
    Answer,
    Reply,
    current_boot_id,
    type_key,
)
from edge_agent.actions.planner import Plan, Planner
from edge_agent.actions.process import ProcessOutcome, run_program
from edge_agent.actions.profiles import CommandTable
from edge_agent.actions.validate import UrlPolicy
from edge_agent.errors import ActionError, ActionRejected, ConfigError
from edge_agent.model import Action, Clock, Event, format_utc
from edge_agent.store import JournalEntry, Store

if TYPE_CHECKING:
    from edge_agent.config import ActionsConfig

log = logging.getLogger(__name__)

REPEAT_INTERVAL_S = 90.0
# Telecom X gives MESSAGE `duration` without a unit; its platform is JavaScript, so: ms [INFERRED].
DURATION_UNIT_S = 0.001
# Where the runner keeps its own durable facts (the last reboot) in the store's vendor_state.
STATE_NAMESPACE = "actions"
FINISHED_STATES = ("succeeded", "failed", "rejected", "expired", "interrupted", "cancelled")
PRUNE_EVERY_S = 3600.0
PRUNE_BATCH = 500

Sleep = Callable[[float], Awaitable[None]]


class ActionRunner:
    """Runs what vendors and operators ask, safely and exactly once; see the module docstring.

    ``on_event`` receives every state change as an :class:`Event` (for ``<prefix>/<id>/events``);
    ``token_for(source)`` gives the vendor token START_APP's ``includeToken`` passes on;
    ``env`` is the environment programs run in (and whose PATH finds them); ``sleep`` paces
    MESSAGE repeats (tests pass one that moves their clock); ``poll_interval`` is how often
    :meth:`run` looks at the journal when nobody called :meth:`notify`.
    """

    def __init__(
        self,
        config: ActionsConfig,
        store: Store,
        clock: Clock,
        on_event: Callable[[Event], None],
        *,
        device_id: str,
        platform: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        token_for: Optional[Callable[[str], Optional[str]]] = None,
        sleep: Optional[Sleep] = None,
        poll_interval: float = 5.0,
        host_root: Optional[Union[str, Path]] = None,
    ) -> None:
        self._config = config
        self._boot_id = current_boot_id(host_root)
        self._device_id = device_id  # signed commands must name it (signing.verify)
        self._store = store
        self._clock = clock
        self._env = dict(os.environ if env is None else env)
        self._sleep: Sleep = sleep or asyncio.sleep
        self._poll_interval = poll_interval
        self._urls = UrlPolicy(config.allowed_url_schemes, config.allowed_hosts)
        self._desktop = DesktopFinder(
            config.desktop_user, env=self._env, clock=clock, switch=config.desktop_switch
        )
        try:
            self._commands = CommandTable.from_config(config, platform=platform, env=self._env)
            self._planner = Planner(
                self._commands,
                config.allow,
                device_id=device_id,
                technical_room_number=config.technical_room_number,
                token_for=token_for,
                update_method=config.update_method,
            )
            self._timeouts = {schema.normalise_type(name): s for name, s in config.timeouts.items()}
        except ActionRejected as exc:
            raise ConfigError([f"[actions]: {exc}"]) from exc
        self._replies: dict[str, Reply] = {}
        self.intake = ActionIntake(
            store,
            config,
            clock,
            on_event,
            device_id=device_id,
            boot_id=self._boot_id,
            wake=self.notify,
            follow=self._replies.__setitem__,
            cancel=self._cancel,
        )
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._wake: Optional[asyncio.Event] = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._inflight: dict[str, asyncio.Future[None]] = {}
        self._repeats: dict[str, asyncio.Future[None]] = {}  # MESSAGE id -> its repeats
        self._cancelling: dict[str, str] = {}  # running action id -> the CANCEL that stops it
        self._pruned_at: Optional[float] = None

    @property
    def profile(self) -> str:
        """The argv profile in use ("raspberrypi", "termux" or "none")."""
        return self._commands.profile

    # -- taking actions in ----------------------------------------------------------------

    def submit(
        self,
        action_json: Any,
        source: str,
        *,
        signed_required: bool = False,
        reply: Optional[Reply] = None,
    ) -> Optional[str]:
        """Hand one action document to the intake (:meth:`ActionIntake.submit`); its id, or None."""
        return self.intake.submit(action_json, source, signed_required=signed_required, reply=reply)

    def _cancel(
        self, cancel_id: str, source: str, payload: Mapping[str, Any], signed: bool, answer: Answer
    ) -> Optional[str]:
        """``{"type": "CANCEL", "action_id": ...}``: an operator stops an action that waits or runs.

        The CANCEL is journalled like any command (its id refuses a replay) and settled at
        once: ``succeeded`` with ``cancelled`` naming the action, or ``rejected`` when there
        is nothing to cancel. A waiting action becomes ``cancelled``; a running one has its
        program killed and becomes ``cancelled`` when it has stopped; a MESSAGE that repeats
        stays ``succeeded`` (it was shown) and is not shown again. Only operators (MQTT)
        can cancel: a vendor's CANCEL goes through the journal and ``[actions] allow``. The
        intake has checked the CANCEL itself (id, type, signature) and calls this.
        """
        try:
            target = schema.action_id(payload.get("action_id"))
        except ActionRejected as exc:
            reason = f"a CANCEL needs the action_id to cancel: {exc}"
            answer.tell(self.intake.owe(cancel_id, CANCEL, source, "rejected", {"reason": reason}))
            return None
        with self._store.atomic():
            recorded = self._store.journal.record(cancel_id, source, CANCEL, dict(payload))
            if recorded:
                detail = {"signed": signed, "action": dict(payload)}
                received = self.intake.owe(cancel_id, CANCEL, source, "received", detail)
                entry = self._store.journal.get(target)
                state = entry.state if entry is not None else None
                if entry is not None and state == "received":
                    reason = f"cancelled by {source} (command {cancel_id})"
                    self._store.journal.update(target, "cancelled", reason=reason, cancelled_by=cancel_id)
                    self.intake.owe(
                        target, type_key(entry.type), entry.source, "cancelled", {"reason": reason}
                    )
                if state == "running" and target not in self._inflight:
                    state = "running elsewhere"  # not this process's to stop (recover() settles it)
                if state == "succeeded" and target in self._repeats:
                    state = "repeating"  # a MESSAGE shown again every 90 s: the repeats stop
                    self._store.journal.update(target, "succeeded", repeats_cancelled_by=cancel_id)
                if state in ("received", "running", "repeating"):
                    self._store.journal.update(cancel_id, "succeeded", cancelled=target, was=state)
                    ended = self.intake.owe(
                        cancel_id, CANCEL, source, "succeeded", {"cancelled": target, "was": state}
                    )
                else:
                    if entry is None:
                        why = f"action {target} is not in the journal"
                    else:
                        why = f"action {target} has already ended ({state})"
                    self._store.journal.update(cancel_id, "rejected", reason=f"nothing to cancel: {why}")
                    ended = self.intake.owe(
                        cancel_id, CANCEL, source, "rejected", {"reason": f"nothing to cancel: {why}"}
                    )
        if not recorded:
            word = "replayed" if signed else "duplicate"
            reason = f"{word}: action {cancel_id} was seen before; it does not run again"
            answer.tell(self.intake.owe(cancel_id, CANCEL, source, "rejected", {"reason": reason}))
            return None
        if state == "running":
            self._cancelling[target] = cancel_id
            self._inflight[target].cancel()
        elif state == "repeating":
            self._repeats[target].cancel()
        answer.tell(received)
        if answer.later is not None:
            answer.later(ended.to_json())
        return cancel_id

    def notify(self) -> None:
        """Something new is in the journal: look now (callable from any thread)."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return  # not running yet: run() looks at the journal when it starts
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is loop:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    # -- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Report interrupted actions, then run whatever is received until ``stop`` is set.

        At stop, running programs are killed (their actions journalled ``interrupted``),
        MESSAGE repeats end, and actions still waiting stay ``received`` for the next start.
        """
        wake = self._attach()
        self.recover()
        try:
            while not stop.is_set():
                wake.clear()
                await self._prune_when_due()
                self._dispatch()
                waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
                try:
                    # notify() wakes us at once; the poll is the safety net for a writer that forgot to.
                    await asyncio.wait(
                        waiters, timeout=self._poll_interval, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    for waiter in waiters:
                        waiter.cancel()
        finally:
            await self._shutdown()

    async def shutdown(self) -> None:
        """Stop what :meth:`run` started (it does so itself when ``stop`` is set); idempotent."""
        await self._shutdown()

    def recover(self) -> list[str]:
        """Mark actions left ``running`` by a dead agent as ``interrupted``; their ids."""
        reason = "the agent stopped while this action ran; it is not run again"
        recovered = []
        for entry in self._store.journal.in_state("running", limit=1_000_000):
            if entry.action_id not in self._inflight:
                self._settle(entry, "interrupted", reason=reason)
                recovered.append(entry.action_id)
        return recovered

    async def drain(self) -> None:
        """Run every action now waiting in the journal; return when they and their repeats are done."""
        self._attach()
        while True:
            self._dispatch()
            pending = [*self._inflight.values(), *self._repeats.values()]
            if not pending:
                return
            await asyncio.wait(pending)

    def _attach(self) -> asyncio.Event:
        """The wake-up event of the running loop (asyncio primitives belong to one loop)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._wake is None:
            self._loop, self._wake, self._locks = loop, asyncio.Event(), {}
        return self._wake

    def prune(self, limit: int = PRUNE_BATCH) -> int:
        """Drop the payloads of up to ``limit`` entries finished longer than ``journal_retention`` ago."""
        return self._store.journal.prune(self._config.journal_retention, FINISHED_STATES, limit)

    async def _prune_when_due(self) -> None:
        """Prune the journal at start and hourly, a batch at a time so the loop never stalls on it."""
        now = self._clock.monotonic()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = now
        while self.prune() >= PRUNE_BATCH:
            await asyncio.sleep(0)

    def _dispatch(self) -> None:
        for entry in self._store.journal.in_state("received", limit=1_000_000):
            if self._expire_if_stale(entry):
                continue
            if entry.action_id not in self._inflight:
                task = asyncio.ensure_future(self._run_entry(entry))
                self._inflight[entry.action_id] = task
                task.add_done_callback(functools.partial(self._ended, entry.action_id))

    def _ended(self, action_id: str, task: asyncio.Future[None]) -> None:
        self._inflight.pop(action_id, None)
        self._replies.pop(action_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("action %s could not be handled", action_id, exc_info=task.exception())

    async def _shutdown(self) -> None:
        tasks = [*self._inflight.values(), *self._repeats.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _lock(self, action_type: str) -> asyncio.Lock:
        return self._locks.setdefault(action_type, asyncio.Lock())

    # -- carrying one action out ----------------------------------------------------------

    async def _run_entry(self, entry: JournalEntry) -> None:
        async with self._lock(type_key(entry.type)):
            current = self._store.journal.get(entry.action_id)
            if current is not None and current.state == "received":
                await self._carry_out(current)

    def _expire_if_stale(self, entry: JournalEntry) -> bool:
        """Settle ``entry`` expired if it waited past ``pending_ttl``; True if it did."""
        received_at = entry.detail.get("received_at")
        if not isinstance(received_at, (int, float)) or isinstance(received_at, bool):
            return False  # journalled before receipts were kept: no age to judge by
        waited = self._clock.now().timestamp() - float(received_at)
        if waited <= self._config.pending_ttl:
            return False
        ttl = self._config.pending_ttl
        self._settle(
            entry, "expired", reason=f"waited {waited:.0f} s, longer than [actions] pending_ttl = {ttl:g} s"
        )
        return True

    async def _carry_out(self, entry: JournalEntry) -> None:
        try:
            action = schema.parse_action(_document(entry), self._urls, source=entry.source)
            if action.expires_at is not None and action.expires_at <= self._clock.now():
                expired_at = format_utc(action.expires_at)
                self._settle(entry, "expired", reason=f"expired at {expired_at} before it could run")
                return
            if self._expire_if_stale(entry):
                return
            desktop = None
            if self._planner.needs_desktop(action):
                desktop = await self._desktop.look()  # or why there is none: the planner decides
            plan = self._planner.plan(action, desktop)
            if action.type == "REBOOT":
                self._check_reboot(entry)
        except ActionRejected as exc:
            self._settle(entry, "rejected", reason=str(exc))
            return
        except NoDesktopSession as exc:
            self._settle(entry, "failed", reason=str(exc))
            return
        timeout = self._timeouts.get(action.type, self._config.timeout)
        if self._config.dry_run:
            log.info("dry run: action %s would run %s", action.id, plan.shown)
            self._settle(entry, "succeeded", dry_run=True, argv=plan.shown)
            return
        if action.type == "REBOOT":
            # Done before it is done: the reboot kills us, and must not be run again after it.
            # One reboot serves every REBOOT waiting, and starts the rate limit's clock.
            with self._store.atomic():
                self._merge_pending_reboots(entry)
                self._store.state.set(
                    STATE_NAMESPACE,
                    "last_reboot",
                    {
                        "at": self._clock.now().timestamp(),
                        "action_id": entry.action_id,
                        "boot_id": self._boot_id,
                    },
                )
                self._settle(entry, "succeeded", argv=plan.shown, reboot_requested=True)
        else:
            self._settle(entry, "running", argv=plan.shown)
        try:
            outcome = await run_program(plan.argv, timeout=timeout, env=self._env, clock=self._clock)
        except ActionError as exc:
            self._settle(entry, "failed", reason=str(exc))
            return
        except asyncio.CancelledError:
            if entry.action_id in self._cancelling:
                by = self._cancelling.pop(entry.action_id)
                reason = f"cancelled by an operator (command {by}) while it ran; its program was killed"
                self._settle(entry, "cancelled", reason=reason, cancelled_by=by)
            elif action.type != "REBOOT":
                self._settle(entry, "interrupted", reason="the agent stopped while this action ran")
            raise
        if not outcome.ok:
            self._settle(entry, "failed", **_outcome_detail(outcome, timeout))
        elif action.type != "REBOOT":
            self._settle(entry, "succeeded", **_outcome_detail(outcome, timeout))
            self._schedule_repeats(action, plan, timeout)

    def _check_reboot(self, entry: JournalEntry) -> None:
        """ActionRejected unless this REBOOT may run now: asked for in this boot, and not too soon.

        A REBOOT journalled in an earlier boot has been served by that boot's end (or was
        meant for a device state that is gone); running it would reboot a device that has
        just rebooted. The rate limit holds even across boots, and a clock that went back
        (a Pi without a real-time clock) counts as "too soon".
        """
        received_in = entry.detail.get("boot_id")
        if received_in and self._boot_id and received_in != self._boot_id:
            raise ActionRejected(
                "received before the current boot: the device has rebooted since, so it does not reboot again"
            )
        last = self._store.state.get(STATE_NAMESPACE, "last_reboot")
        interval = self._config.reboot_min_interval
        if not isinstance(last, Mapping) or not isinstance(last.get("at"), (int, float)) or interval <= 0:
            return
        since = self._clock.now().timestamp() - float(last["at"])
        if since < interval:
            when = format_utc(datetime.fromtimestamp(float(last["at"]), timezone.utc))
            raise ActionRejected(
                f"rate limited: the last reboot was asked for at {when} (action {last.get('action_id')}); "
                f"[actions] reboot_min_interval = {interval:g} s"
            )

    def _merge_pending_reboots(self, running: JournalEntry) -> None:
        """Settle every other waiting REBOOT: the reboot about to happen serves them too."""
        for other in self._store.journal.in_state("received", limit=1_000_000):
            if other.action_id != running.action_id and type_key(other.type) == "REBOOT":
                reason = f"merged: REBOOT {running.action_id} reboots the device for it too"
                self._settle(other, "rejected", reason=reason, merged_into=running.action_id)

    def _schedule_repeats(self, action: Action, plan: Plan, timeout: float) -> None:
        """Telecom X MESSAGE ``repeat``: show it again every 90 s until ``duration`` is over."""
        if action.type != "MESSAGE" or not action.fields.get("repeat"):
            return
        duration_s = float(action.fields.get("duration", 0)) * DURATION_UNIT_S
        if duration_s >= REPEAT_INTERVAL_S:
            until = self._clock.monotonic() + duration_s
            task = asyncio.ensure_future(self._repeat(action, plan.argv, timeout, until))
            action_id = action.id
            self._repeats[action_id] = task
            task.add_done_callback(lambda _done: self._repeats.pop(action_id, None))

    async def _repeat(self, action: Action, argv: list[str], timeout: float, until: float) -> None:
        repeats = 0
        while self._clock.monotonic() + REPEAT_INTERVAL_S <= until:
            await self._sleep(REPEAT_INTERVAL_S)
            async with self._lock(action.type):
                try:
                    outcome = await run_program(argv, timeout=timeout, env=self._env, clock=self._clock)
                except ActionError as exc:
                    log.warning("action %s: a repeat could not run: %s", action.id, exc)
                    continue
            repeats += 1
            self._store.journal.update(
                action.id, "succeeded", repeats=repeats, repeat_exit_code=outcome.exit_code
            )

    # -- recording and reporting ----------------------------------------------------------

    def _settle(self, entry: JournalEntry, state: str, **detail: Any) -> None:
        """Journal ``state`` and owe its event in one transaction, then answer the reply topic.

        Two commits would leave a window where a crash keeps the new state and loses its
        event: subscribers would never hear how the action ended.
        """
        with self._store.atomic():
            self._store.journal.update(entry.action_id, state, **detail)
            event = self.intake.owe(entry.action_id, type_key(entry.type), entry.source, state, detail)
        reply = self._replies.get(entry.action_id)
        if reply is not None:
            reply(event.to_json())


def _document(entry: JournalEntry) -> dict[str, Any]:
    """The journalled payload as an action document; the journal's id and type are the truth."""
    document = dict(entry.payload) if isinstance(entry.payload, Mapping) else {}
    document.update(id=entry.action_id, type=entry.type)
    return document


def _outcome_detail(outcome: ProcessOutcome, timeout: float) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "exit_code": outcome.exit_code,
        "duration_s": outcome.duration_s,
        "stdout_tail": outcome.stdout_tail,
        "stderr_tail": outcome.stderr_tail,
    }
    if outcome.timed_out:
        detail["reason"] = f"killed after the {timeout:g} s timeout"
    elif outcome.exit_code != 0:
        detail["reason"] = f"exited with code {outcome.exit_code}"
    return detail
