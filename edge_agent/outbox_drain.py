"""Sending the durable outbox over one MQTT connection, oldest first, forgetting only on PUBACK.

Everything owed to the broker (events) is in the store before it is sent (see
:meth:`MqttMirror.publish_event`). Over each connection the drain publishes the oldest
entries at QoS 1 with at most ``window`` in flight and deletes an entry only when the broker
acknowledges it, a whole batch of acknowledgements per transaction. When the connection
drops, whatever was not acknowledged is still in the store, and the next connection's
drain starts again from the oldest: nothing is lost, and order is kept. The price of QoS 1
is that a message the broker received but whose PUBACK was lost is sent again, so a
subscriber may, rarely, see an event twice; events carry a unique ``id`` for that.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Optional

from edge_agent.errors import MqttPublishError
from edge_agent.mqtt_bridge import MqttBridge
from edge_agent.store import Store

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 100


class OutboxDrain:
    """Drains ``store``'s outbox through whichever connection :meth:`run` is given."""

    def __init__(self, store: Store, *, window: int = DEFAULT_WINDOW) -> None:
        self.store = store
        self.window = window
        self.sent = 0
        self.refused = 0
        self._progress: Optional[asyncio.Event] = None
        self._closing = False

    def wake(self) -> None:
        """Something new is owed (call after ``store.outbox_add``)."""
        if self._progress is not None:
            self._progress.set()

    def close(self) -> None:
        """Send nothing new; :meth:`run` returns once what is in flight is acknowledged."""
        self._closing = True
        self.wake()

    async def run(self, bridge: MqttBridge) -> None:
        """Drain until the connection drops (or :meth:`close`); raises StoreError if the disk fails."""
        self._closing = False
        if self._progress is None:
            self._progress = asyncio.Event()
        progress = self._progress
        window = max(1, min(self.window, bridge.receive_maximum))
        in_flight: dict[asyncio.Future[Optional[str]], int] = {}
        last_sent = 0
        while True:
            progress.clear()
            if not self._closing and len(in_flight) < window:
                for entry in self.store.outbox_pending(limit=window - len(in_flight), after_id=last_sent):
                    try:
                        future = bridge.publish(entry.topic, entry.payload, qos=entry.qos)
                    except MqttPublishError:
                        return
                    future.add_done_callback(lambda _: progress.set())
                    in_flight[future] = entry.id
                    last_sent = entry.id
            if self._closing and not in_flight:
                return
            await progress.wait()
            if not self._settle(in_flight):
                return

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
            self.store.outbox_ack(acknowledged)
            self.sent += len(acknowledged)
        return connected
