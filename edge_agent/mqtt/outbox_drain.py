"""Sending the durable outbox over one MQTT connection, oldest first, forgetting only on PUBACK.

Everything owed to the broker (events) is in the store before it is sent (see
:meth:`MqttMirror.publish_event`). Over each connection the drain publishes the oldest
entries at QoS 1 with at most ``window`` in flight and deletes an entry only when the broker
acknowledges it, a whole batch of acknowledgements per transaction. When the connection
drops, whatever was not acknowledged is still in the store, and the next connection's
drain starts again from the oldest: nothing is lost, and order is kept. The price of QoS 1
is that a message the broker received but whose PUBACK was lost is sent again, so a
subscriber may, rarely, see an event twice; events carry a unique ``id`` for that.

A store that cannot be written (a full disk) does not end the drain: acknowledged entries
it cannot delete yet are remembered in memory, not sent again, and deleted at the next
chance; a read that fails is retried with capped backoff. The drain beats the agent's
liveness while it waits, so a hung drain stops the systemd watchdog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Optional

from edge_agent.errors import MqttPublishError, StoreError
from edge_agent.loops import IDLE_BEAT, ErrorReport, FailureStreak, Liveness, report
from edge_agent.mqtt.bridge import MqttBridge
from edge_agent.store import Store

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 100
LOOP_NAME = "outbox-drain"
UNSAVED_ACKS_MAX = 100_000  # ids acknowledged but not yet deleted (a full disk): bounded memory


class OutboxDrain:
    """Drains ``store``'s outbox through whichever connection :meth:`run` is given."""

    def __init__(
        self,
        store: Store,
        *,
        window: int = DEFAULT_WINDOW,
        liveness: Optional[Liveness] = None,
        on_error: Optional[ErrorReport] = None,
    ) -> None:
        self.store = store
        self.window = window
        self.sent = 0
        self.refused = 0
        self._progress: Optional[asyncio.Event] = None
        self._closing = False
        self._liveness = liveness
        self._on_error = on_error
        self._streak = FailureStreak(LOOP_NAME, initial=0.2, cap=30.0)
        self._unsaved_acks: set[int] = set()
        """Entries the broker has but the store could not forget yet: never sent twice for that."""

    def wake(self) -> None:
        """Something new is owed (call after ``store.outbox.add``)."""
        if self._progress is not None:
            self._progress.set()

    def close(self) -> None:
        """Send nothing new; :meth:`run` returns once what is in flight is acknowledged."""
        self._closing = True
        self.wake()

    async def run(self, bridge: MqttBridge) -> None:
        """Drain until the connection drops (or :meth:`close`); a failing store is waited out, not fatal."""
        try:
            await self._drain(bridge)
        finally:
            # No connection, no drain to judge: a broker outage must not starve the watchdog.
            if self._liveness is not None:
                self._liveness.retire(LOOP_NAME)

    async def _drain(self, bridge: MqttBridge) -> None:
        self._closing = False
        if self._progress is None:
            self._progress = asyncio.Event()
        progress = self._progress
        window = max(1, min(self.window, bridge.receive_maximum))
        in_flight: dict[asyncio.Future[Optional[str]], int] = {}
        last_sent = 0
        retry_in: Optional[float] = None
        while True:
            self._beat(IDLE_BEAT + (retry_in or 0.0))
            progress.clear()
            try:
                if not self._closing and len(in_flight) < window:
                    for entry in self.store.outbox.pending(limit=window - len(in_flight), after_id=last_sent):
                        last_sent = entry.id
                        if entry.id in self._unsaved_acks:
                            continue  # the broker has it already
                        try:
                            future = bridge.publish(entry.topic, entry.payload, qos=entry.qos)
                        except MqttPublishError:
                            return
                        future.add_done_callback(lambda _: progress.set())
                        in_flight[future] = entry.id
                retry_in = self._forget_unsaved()
            except Exception as exc:
                retry_in = self._streak.failed(exc)
                report(self._on_error, LOOP_NAME, exc, self._streak.failures, retry_in)
            if self._closing and not in_flight:
                return
            with contextlib.suppress(asyncio.TimeoutError):  # woken by news, or time to retry and beat
                await asyncio.wait_for(progress.wait(), retry_in if retry_in is not None else IDLE_BEAT)
            if not self._settle(in_flight):
                return

    def _beat(self, within: float) -> None:
        if self._liveness is not None:
            self._liveness.beat(LOOP_NAME, within)

    def _forget_unsaved(self) -> Optional[float]:
        """Delete what the broker acknowledged while the store could not; when to try again if still not."""
        if not self._unsaved_acks:
            self._streak.succeeded()
            return None
        try:
            self.store.outbox.ack(sorted(self._unsaved_acks))
        except StoreError as exc:
            delay = self._streak.failed(exc)
            return delay
        self._unsaved_acks.clear()
        self._streak.succeeded()
        return None

    def _settle(self, in_flight: dict[asyncio.Future[Optional[str]], int]) -> bool:
        """Forget every acknowledged entry in one transaction; False when the connection is gone."""
        acknowledged: list[int] = []
        connected = True
        for future in [future for future in in_flight if future.done()]:
            entry_id = in_flight.pop(future)
            if future.cancelled() or future.exception() is not None:
                connected = False
                continue
            refusal = future.result()
            if refusal is not None:
                # An MQTT 5 broker that refuses a message (not authorized, bad topic...) will
                # refuse it again: keeping it would block everything behind it for ever.
                self.refused += 1
                log.error("the broker refused outbox entry %d (%s); it is dropped", entry_id, refusal)
            acknowledged.append(entry_id)
        if acknowledged:
            self.sent += len(acknowledged)
            try:
                self.store.outbox.ack(acknowledged)
            except StoreError as exc:
                # The broker has them; the disk cannot say so now. Remember (bounded), retry later.
                self._streak.failed(exc)
                room = UNSAVED_ACKS_MAX - len(self._unsaved_acks)
                self._unsaved_acks.update(acknowledged[: max(0, room)])
        return connected
