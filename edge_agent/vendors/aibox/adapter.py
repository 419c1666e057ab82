"""One AI-box beat: a new heartbeat event, the unacknowledged backlog, and what the Acks say.

Power-outage retransmission (seed 002; the rules below beyond "same event, same id" are
[INFERRED], protocols.md 3.5):

* every event gets the next ``eventId`` and its ``time`` when it is made, and is written
  to the durable backlog (the store) *before* it is sent; the counter is advanced before
  the event is written, so a crash in between costs an unused id, never a reused one;
* an event leaves the backlog only when its Ack arrives within ``response_timeout``
  (echoing its eventId, ``errorNo`` 0). Otherwise it stays, and is sent again on later
  beats, after a restart too, with the same body: same eventId, same time;
* the first eventId of a fresh store is the current Unix time in seconds, not 1, so a
  store lost to a broken SD card never makes the platform take new events for
  retransmissions of old ones (ids then still fit a signed 32-bit integer until 2038);
* ``eventSendMode`` (from the last Ack; ``realTime`` until one says otherwise) orders a
  beat. ``realTime``: the live event first, then up to :data:`RESENDS_PER_BEAT` of the
  oldest backlog. ``Retransmission``: the oldest backlog first; the live event follows in
  the same beat only when the backlog fits in :data:`RESENDS_PER_BEAT`, otherwise it
  waits its turn in the backlog. Either way the backlog drains by up to that many events
  per beat, and the first failure ends the beat (the platform is not answering: no
  point in hammering it);
* the backlog holds at most :data:`BACKLOG_LIMIT` events (about four hours at the default
  30 s interval); past it, the oldest are dropped, counted in the state and announced
  with an ``aibox.backlog_dropped`` event.

A beat fails (a VendorError, so the engine backs off) when the live event was not made
(no IP or MAC: said in the error, never invented) or not delivered; a failed resend after
a delivered live event is only noted in the reply. Each successful Ack may change the
interval, the send mode and the strategy; a strategy that differs from the stored one is
stored and announced with an ``aibox.strategy`` event, which the agent publishes retained.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, ClassVar, Optional

from edge_agent.errors import VendorError, VendorTransportError
from edge_agent.model import Snapshot, format_utc
from edge_agent.vendors.aibox import format as aibox
from edge_agent.vendors.aibox.vendor_time import format_event_time
from edge_agent.vendors.types import BacklogItem, HttpRequest, Reply, Send, VendorContext

if TYPE_CHECKING:
    from edge_agent.vendors.aibox.config import AiBoxConfig

log = logging.getLogger(__name__)

BACKLOG_LIMIT = 500
RESENDS_PER_BEAT = 10


class AiBoxAdapter:
    """One AI-box endpoint: heartbeat events delivered at least once, in the platform's order."""

    vendor: ClassVar[str] = aibox.VENDOR
    sends_final: ClassVar[bool] = False  # the protocol has no goodbye message

    def __init__(self, endpoint: str, config: AiBoxConfig, context: VendorContext) -> None:
        self.endpoint = endpoint
        self.config = config
        self.context = context
        self._clock_skew_s: Optional[float] = None  # platform clock minus ours, from the last Ack

    # -- what the engine and the CLI call ------------------------------------------------

    def preview(self, snapshot: Optional[Snapshot], *, final: bool = False) -> tuple[HttpRequest, str]:
        """The next live event (nothing is stored), and what a person should know about it."""
        event_id = self._next_event_id()
        when = format_event_time(self.context.clock.now())
        problem = aibox.missing_identity(snapshot)
        if problem is not None or snapshot is None:
            device = {"serialNumber": self.config.serial_number}
            note = f"{problem}: a beat now would send no live event, only resend the backlog"
        else:
            device = aibox.device_info(self.config, snapshot)
            note = (
                f"live event {event_id}; events still awaiting their Ack are resent first or after it, "
                f"as the platform's eventSendMode ({self.send_mode()}) says, with their original eventId "
                "and time"
            )
        return aibox.event_request(self.config, aibox.event_body(self.config, device, event_id, when)), note

    async def beat(self, snapshot: Optional[Snapshot], send: Send, *, final: bool = False) -> Reply:
        notes: list[str] = []
        problem = aibox.missing_identity(snapshot)
        live = self._new_event(snapshot, notes) if problem is None and snapshot is not None else None
        mode = self.send_mode()
        delivered: list[int] = []
        failure: Optional[tuple[BacklogItem, VendorError]] = None
        changed_strategy = False
        for entry in self._send_order(live, mode):
            try:
                ack = await self._deliver(entry, send)
            except VendorError as exc:
                failure = (entry, exc)
                break
            delivered.append(ack.event_id)
            changed_strategy |= self._apply(ack, notes)
        waiting = self.context.backlog_len()
        summary: dict[str, Any] = {
            "live_event_id": _event_id(live) if live is not None else None,
            "delivered": delivered,
            "backlog": waiting,
            "event_send_mode": self.send_mode(),
            "interval": self.context.get("interval"),
            "strategy_changed": changed_strategy,
            "clock_skew_s": self._clock_skew_s,
        }
        if live is None:
            raise VendorTransportError(
                f"no live heartbeat: {problem}; {len(delivered)} backlog event(s) resent, {waiting} waiting"
            )
        if failure is not None:
            entry, error = failure
            message = (
                f"eventId {_event_id(entry)} not delivered: {error}; it stays in the backlog ({waiting} "
                "waiting) and is sent again with the same eventId and time"
            )
            if _event_id(live) not in delivered:
                raise type(error)(message, status=error.status) from error
            notes.append(message)
        log.debug("%s: delivered %s, %d waiting", self.endpoint, delivered, waiting)
        interval = self.context.get("interval")
        return Reply(
            status=200,
            next_interval=float(interval) if isinstance(interval, (int, float)) else None,
            summary=summary,
            skipped=tuple(notes),
        )

    def send_mode(self) -> str:
        mode = self.context.get("event_send_mode")
        return mode if mode in aibox.SEND_MODES else aibox.DEFAULT_SEND_MODE

    # -- the backlog ---------------------------------------------------------------------

    def _next_event_id(self) -> int:
        last = self.context.get("last_event_id")
        if isinstance(last, int) and not isinstance(last, bool):
            return last + 1
        return max(1, int(self.context.clock.now().timestamp()))

    def _new_event(self, snapshot: Snapshot, notes: list[str]) -> BacklogItem:
        """Make the live event and make it durable before anything is sent."""
        event_id = self._next_event_id()
        event_time = format_event_time(self.context.clock.now())
        body = aibox.event_body(self.config, aibox.device_info(self.config, snapshot), event_id, event_time)
        item = {"eventId": event_id, "time": event_time, "body": body}
        with self.context.atomic():  # one commit (one fsync on the SD card) for the id and the event
            self.context.update({"last_event_id": event_id})
            self._make_room(notes)
            item_id = self.context.backlog_push(item)
        return BacklogItem(item_id, item, 0)

    def _make_room(self, notes: list[str]) -> None:
        excess = self.context.backlog_len() - BACKLOG_LIMIT + 1
        if excess <= 0:
            return
        dropped = self.context.backlog_items(excess)
        ids = [_event_id(entry) for entry in dropped]
        total = int(self.context.get("dropped_events") or 0) + len(dropped)
        with self.context.atomic():  # a drop nobody is told of would be a silent loss
            for entry in dropped:
                self.context.backlog_remove(entry.id)
            self.context.update({"dropped_events": total})
            self.context.emit(
                "aibox.backlog_dropped",
                {"endpoint": self.endpoint, "event_ids": ids, "dropped_total": total, "limit": BACKLOG_LIMIT},
            )
        notes.append(f"backlog full ({BACKLOG_LIMIT}): dropped the oldest event(s) {ids}")
        log.warning("%s: AI-box backlog full, dropped the oldest event(s) %s", self.endpoint, ids)

    def _send_order(self, live: Optional[BacklogItem], mode: str) -> list[BacklogItem]:
        live_id = live.id if live is not None else None
        older = [entry for entry in self._readable_backlog() if entry.id != live_id]
        if live is None:
            return older[:RESENDS_PER_BEAT]
        if mode == "Retransmission":
            if len(older) > RESENDS_PER_BEAT:
                return older[:RESENDS_PER_BEAT]  # the live event waits its turn in the backlog
            return [*older, live]
        return [live, *older[:RESENDS_PER_BEAT]]

    def _readable_backlog(self) -> list[BacklogItem]:
        """The oldest backlog entries; one that is not an event we wrote is dropped, not sent."""
        entries = []
        for entry in self.context.backlog_items(RESENDS_PER_BEAT + 1):
            item = entry.item
            if (
                isinstance(item, dict)
                and isinstance(item.get("eventId"), int)
                and isinstance(item.get("body"), dict)
            ):
                entries.append(entry)
            else:
                log.error("%s: backlog entry %d is not an AI-box event; dropped", self.endpoint, entry.id)
                self.context.backlog_remove(entry.id)
        return entries

    async def _deliver(self, entry: BacklogItem, send: Send) -> aibox.Ack:
        """Send one event and read its Ack; it leaves the backlog only when the Ack confirms it."""
        event_id = _event_id(entry)
        request = aibox.event_request(self.config, entry.item["body"])
        clock = self.context.clock
        started = clock.monotonic()
        try:
            try:
                response = await asyncio.wait_for(send(request), self.config.response_timeout)
            except asyncio.TimeoutError as exc:
                raise VendorTransportError(
                    f"no Ack within response_timeout {self.config.response_timeout:g} s"
                ) from exc
            elapsed = clock.monotonic() - started
            if elapsed > self.config.response_timeout:
                raise VendorTransportError(
                    f"the Ack came after {elapsed:g} s, later than response_timeout "
                    f"{self.config.response_timeout:g} s, so it does not count"
                )
            ack = aibox.decode_ack(response, event_id)
        except Exception:
            # the attempt counts only for an event that stays in the backlog: an Ack removes
            # it, and a commit per send would double the SD card's writes per beat
            self.context.backlog_attempted(entry.id)
            raise
        self.context.backlog_remove(entry.id)
        return ack

    # -- what an Ack changes -------------------------------------------------------------

    def _apply(self, ack: aibox.Ack, notes: list[str]) -> bool:
        """Adopt the Ack's interval, send mode and strategy; True when the strategy changed."""
        notes.extend(f"eventId {ack.event_id}: {note}" for note in ack.notes)
        changes: dict[str, Any] = {}
        if ack.interval is not None and ack.interval != self.context.get("interval"):
            changes["interval"] = ack.interval
        if ack.send_mode is not None and ack.send_mode != self.context.get("event_send_mode"):
            changes["event_send_mode"] = ack.send_mode
        now = self.context.clock.now()
        if ack.server_time is not None:
            self._clock_skew_s = round((ack.server_time - now).total_seconds(), 3)
        strategy_changed = False
        if ack.strategy is not None:
            digest = aibox.strategy_digest(ack.strategy)
            if digest != self.context.get("strategy_digest"):
                changes.update(
                    {"strategy": ack.strategy, "strategy_digest": digest, "strategy_at": format_utc(now)}
                )
                strategy_changed = True
        if not changes:
            return False  # the usual Ack: nothing to write, no transaction opened
        with self.context.atomic():  # the new digest is saved only with the event that tells of it
            self.context.update(changes)
            if strategy_changed:
                self.context.emit(
                    "aibox.strategy",
                    {
                        "endpoint": self.endpoint,
                        "strategy": ack.strategy,
                        "digest": changes["strategy_digest"],
                    },
                )
        if strategy_changed:
            log.info("%s: new strategy from the platform (%s)", self.endpoint, changes["strategy_digest"])
        return strategy_changed


def _event_id(entry: BacklogItem) -> int:
    return int(entry.item["eventId"])
