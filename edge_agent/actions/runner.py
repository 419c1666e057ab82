"""The action runner: every action recorded before it runs, run at most once, reported always.

Life of an action, as journalled in the store and published as ``action.<state>`` events::

    received ──> running ──> succeeded | failed        (event action.started for running)
        ├──> rejected      not allowed, invalid value, no argv for its type
        └──> expired       its expires_at passed before it could run
    running ──> interrupted  found running at start-up: the agent died under it; not rerun

An id already in the journal is never run again, whoever sends it again (a vendor that
re-delivers, a retained or duplicated MQTT message, a restart). A REBOOT is journalled
``succeeded`` (``reboot_requested``) *before* its command starts, so the device cannot
reboot in a loop. Actions of one type run one at a time, in the order received; actions
of different types run side by side. Vendors' actions arrive through the journal (the
heartbeat engine records them and calls :meth:`ActionRunner.notify`); operators' through
:meth:`ActionRunner.submit` / :meth:`ActionRunner.handle_mqtt_command`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Mapping
from typing import Any, Callable, Optional

from edge_agent.actions import schema, signing
from edge_agent.actions.desktop import DesktopFinder, NoDesktopSession
from edge_agent.actions.planner import Plan, Planner
from edge_agent.actions.process import ProcessOutcome, run_program
from edge_agent.actions.profiles import CommandTable
from edge_agent.actions.validate import UrlPolicy
from edge_agent.commands import MAX_NESTING, nesting_depth
from edge_agent.config import ActionsConfig
from edge_agent.errors import ActionError, ActionRejected, ConfigError
from edge_agent.model import Action, Clock, Event, format_utc
from edge_agent.store import JournalEntry, Store

log = logging.getLogger(__name__)

REPEAT_INTERVAL_S = 90.0
# Telecom X gives MESSAGE `duration` without a unit; its platform is JavaScript, so: ms [INFERRED].
DURATION_UNIT_S = 0.001
MQTT_SOURCE = "mqtt"

Reply = Callable[[dict[str, Any]], None]
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
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._on_event = on_event
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
            )
            self._timeouts = {schema.normalise_type(name): s for name, s in config.timeouts.items()}
        except ActionRejected as exc:
            raise ConfigError([f"[actions]: {exc}"]) from exc
        self._replies: dict[str, Reply] = {}
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._wake: Optional[asyncio.Event] = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._inflight: dict[str, asyncio.Future[None]] = {}
        self._repeats: set[asyncio.Future[None]] = set()

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
        """Check and journal one action, and wake the runner; its id, or None if refused.

        Refused here (an ``action.rejected`` event, nothing journalled): no id, a bad type
        name, and with ``signed_required`` a missing or wrong signature or no expires_at;
        not journalling them keeps a forger from using up the ids of real commands. An id
        seen before is refused as a duplicate ("replayed" for signed commands). ``reply``
        gets every state change of this action (the MQTT 5 response topic). ``on_event``
        and ``reply`` are called on the caller's thread: call this where they may run.
        """
        if not isinstance(action_json, Mapping):
            self._emit(None, None, source, "rejected", {"reason": "a command must be a JSON object"}, reply)
            return None
        raw_id, raw_type = action_json.get("id"), action_json.get("type")
        try:
            action_id = schema.action_id(raw_id)
            if signed_required:
                signing.verify(action_json, self._secret())
            action_type = schema.normalise_type(raw_type)
        except ActionRejected as exc:
            self._emit(_shown(raw_id), _shown(raw_type), source, "rejected", {"reason": str(exc)}, reply)
            return None
        payload = {key: value for key, value in action_json.items() if key != signing.SIGNATURE_KEY}
        with self._store.atomic():  # journalled and its action.received owed, or neither
            recorded = self._store.journal_record(action_id, source, action_type, payload)
            if recorded:
                received = self._owe(action_id, action_type, source, "received", {"signed": signed_required})
        if not recorded:
            seen = self._store.journal_get(action_id)
            word = "replayed" if signed_required else "duplicate"
            state = seen.state if seen else "known"
            reason = f"{word}: action {action_id} was seen before ({state}); it does not run again"
            self._emit(action_id, action_type, source, "rejected", {"reason": reason}, reply)
            return None
        if reply is not None:
            self._replies[action_id] = reply
            reply(received.to_json())
        self.notify()
        return action_id

    def handle_mqtt_command(self, payload: bytes, reply: Optional[Reply] = None) -> Optional[str]:
        """An operator's command from ``<prefix>/<id>/cmd``: signed when ``mqtt_secret`` is set."""
        try:
            document = json.loads(payload.decode("utf-8"))
            too_deep = nesting_depth(document) > MAX_NESTING
        except (UnicodeDecodeError, ValueError) as exc:
            self._emit(None, None, MQTT_SOURCE, "rejected", {"reason": f"not a JSON command: {exc}"}, reply)
            return None
        except RecursionError:
            too_deep = True
        if too_deep:
            reason = f"not a command: JSON nested deeper than {MAX_NESTING} levels"
            self._emit(None, None, MQTT_SOURCE, "rejected", {"reason": reason}, reply)
            return None
        signed = self._config.mqtt_secret is not None
        return self.submit(document, MQTT_SOURCE, signed_required=signed, reply=reply)

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
        for entry in self._store.journal_in_state("running", limit=1_000_000):
            if entry.action_id not in self._inflight:
                self._settle(entry, "interrupted", reason=reason)
                recovered.append(entry.action_id)
        return recovered

    async def drain(self) -> None:
        """Run every action now waiting in the journal; return when they and their repeats are done."""
        self._attach()
        while True:
            self._dispatch()
            pending = [*self._inflight.values(), *self._repeats]
            if not pending:
                return
            await asyncio.wait(pending)

    def _attach(self) -> asyncio.Event:
        """The wake-up event of the running loop (asyncio primitives belong to one loop)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._wake is None:
            self._loop, self._wake, self._locks = loop, asyncio.Event(), {}
        return self._wake

    def _dispatch(self) -> None:
        for entry in self._store.journal_in_state("received", limit=1_000_000):
            if entry.action_id not in self._inflight:
                task = asyncio.ensure_future(self._run_entry(entry))
                self._inflight[entry.action_id] = task
                task.add_done_callback(lambda done, action_id=entry.action_id: self._ended(action_id, done))

    def _ended(self, action_id: str, task: asyncio.Future[None]) -> None:
        self._inflight.pop(action_id, None)
        self._replies.pop(action_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("action %s could not be handled", action_id, exc_info=task.exception())

    async def _shutdown(self) -> None:
        tasks = [*self._inflight.values(), *self._repeats]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _lock(self, action_type: str) -> asyncio.Lock:
        return self._locks.setdefault(action_type, asyncio.Lock())

    # -- carrying one action out ----------------------------------------------------------

    async def _run_entry(self, entry: JournalEntry) -> None:
        async with self._lock(_lock_key(entry.type)):
            current = self._store.journal_get(entry.action_id)
            if current is not None and current.state == "received":
                await self._carry_out(current)

    async def _carry_out(self, entry: JournalEntry) -> None:
        try:
            action = schema.parse_action(_document(entry), self._urls, source=entry.source)
            if action.expires_at is not None and action.expires_at <= self._clock.now():
                expired_at = format_utc(action.expires_at)
                self._settle(entry, "expired", reason=f"expired at {expired_at} before it could run")
                return
            desktop = None
            if self._planner.needs_desktop(action):
                desktop = await self._desktop.look()  # or why there is none: the planner decides
            plan = self._planner.plan(action, desktop)
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
            self._settle(entry, "succeeded", argv=plan.shown, reboot_requested=True)
        else:
            self._settle(entry, "running", argv=plan.shown)
        try:
            outcome = await run_program(plan.argv, timeout=timeout, env=self._env, clock=self._clock)
        except ActionError as exc:
            self._settle(entry, "failed", reason=str(exc))
            return
        except asyncio.CancelledError:
            if action.type != "REBOOT":
                self._settle(entry, "interrupted", reason="the agent stopped while this action ran")
            raise
        if not outcome.ok:
            self._settle(entry, "failed", **_outcome_detail(outcome, timeout))
        elif action.type != "REBOOT":
            self._settle(entry, "succeeded", **_outcome_detail(outcome, timeout))
            self._schedule_repeats(action, plan, timeout)

    def _schedule_repeats(self, action: Action, plan: Plan, timeout: float) -> None:
        """Telecom X MESSAGE ``repeat``: show it again every 90 s until ``duration`` is over."""
        if action.type != "MESSAGE" or not action.fields.get("repeat"):
            return
        duration_s = float(action.fields.get("duration", 0)) * DURATION_UNIT_S
        if duration_s >= REPEAT_INTERVAL_S:
            until = self._clock.monotonic() + duration_s
            task = asyncio.ensure_future(self._repeat(action, plan.argv, timeout, until))
            self._repeats.add(task)
            task.add_done_callback(self._repeats.discard)

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
            self._store.journal_update(
                action.id, "succeeded", repeats=repeats, repeat_exit_code=outcome.exit_code
            )

    # -- recording and reporting ----------------------------------------------------------

    def _settle(self, entry: JournalEntry, state: str, **detail: Any) -> None:
        """Journal ``state`` and owe its event in one transaction, then answer the reply topic.

        Two commits would leave a window where a crash keeps the new state and loses its
        event: subscribers would never hear how the action ended.
        """
        with self._store.atomic():
            self._store.journal_update(entry.action_id, state, **detail)
            event = self._owe(entry.action_id, _lock_key(entry.type), entry.source, state, detail)
        reply = self._replies.get(entry.action_id)
        if reply is not None:
            reply(event.to_json())

    def _emit(
        self,
        action_id: Optional[str],
        action_type: Optional[str],
        source: str,
        state: str,
        detail: Mapping[str, Any],
        reply: Optional[Reply] = None,
    ) -> None:
        """Owe the event of an action that is not journalled (a rejection) and answer ``reply``."""
        event = self._owe(action_id, action_type, source, state, detail)
        if reply is not None:
            reply(event.to_json())

    def _owe(
        self,
        action_id: Optional[str],
        action_type: Optional[str],
        source: str,
        state: str,
        detail: Mapping[str, Any],
    ) -> Event:
        """The ``action.<state>`` event, logged where it needs a look and owed to the events topic."""
        data = {"action_id": action_id, "action_type": action_type, "source": source, "state": state}
        data.update(detail)
        event = Event.new("action.started" if state == "running" else f"action.{state}", data, self._clock)
        if state == "rejected" or state == "failed":
            log.warning(
                "action %s (%s from %s) %s: %s", action_id, action_type, source, state, detail.get("reason")
            )
        self._on_event(event)
        return event

    def _secret(self) -> str:
        if self._config.mqtt_secret is None:
            raise ActionRejected("signed commands are required, but [actions] mqtt_secret is not set")
        return self._config.mqtt_secret.get_secret_value()


def _document(entry: JournalEntry) -> dict[str, Any]:
    """The journalled payload as an action document; the journal's id and type are the truth."""
    document = dict(entry.payload) if isinstance(entry.payload, Mapping) else {}
    document.update(id=entry.action_id, type=entry.type)
    return document


def _lock_key(action_type: str) -> str:
    try:
        return schema.normalise_type(action_type)
    except ActionRejected:
        return action_type


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


def _shown(value: Any) -> Optional[str]:
    """A refused id or type, as text short enough for an event."""
    return None if value is None else str(value)[:128]
