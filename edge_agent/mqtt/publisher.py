"""What the agent and its services need of the MQTT side, and the null one for a config without ``[mqtt]``.

The agent does not know whether anything speaks MQTT: ``assembly.py`` hands it a
:class:`Publisher`, the mirror (``mqtt/mirror.py``) when ``[mqtt]`` is configured, else a
:class:`NullPublisher` that logs events and drops the rest. So the agent never branches
on "is there a broker", and an agent without ``[mqtt]`` never imports the mirror, its
bridge or paho (this module imports neither).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

if TYPE_CHECKING:
    import asyncio

    from edge_agent.model import Event, Snapshot

log = logging.getLogger(__name__)

Reply = Callable[[dict[str, Any]], None]
CommandHandler = Callable[[bytes, bool, Optional[Reply]], Any]
"""The action intake: ``handler(payload, retained, reply)`` for every message on the command
topic, as it arrived. It checks, journals and answers it (``reply`` is the MQTT 5
response topic, or None); the publisher only carries bytes."""


class Publisher(Protocol):
    """The device's picture on the broker: fed by the agent and its services, run by the agent.

    The agent runs it beside its services (``run(stop)``) and shuts it down after them,
    so what a service says while it stops still reaches the broker.
    """

    @property
    def connected(self) -> bool:
        """Whether the broker can be reached now (the retained picture is current there)."""
        ...

    def set_snapshot(self, snapshot: Snapshot) -> None:
        """The latest snapshot: the retained state and metrics."""

    def set_heartbeat_outcome(self, name: str, outcome: dict[str, Any]) -> None:
        """The last outcome of heartbeat endpoint ``name``: its topic and the state."""

    def publish_event(self, event: Event) -> None:
        """Owe ``event`` to the events topic: durable when this returns."""

    def publish_owed(self, topic: str, payload: bytes) -> None:
        """Owe ``payload`` on ``topic`` (QoS 1, not retained): durable when this returns."""

    def publish_live(self, topic: str, payload: bytes) -> None:
        """Send now, not durably (for when the store cannot be written)."""

    def set_retained(self, topic: str, payload: bytes) -> None:
        """The latest retained value of ``topic``."""

    def set_command_handler(self, handler: Optional[CommandHandler]) -> None:
        """Who takes the messages on the command topic (the action intake)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the picture on the broker until ``stop`` is set."""

    async def shutdown(self) -> None:
        """Leave the broker cleanly (``offline``), after the services have stopped."""


class NullPublisher:
    """The publisher of an agent without ``[mqtt]``: events go to the log, everything else nowhere."""

    @property
    def connected(self) -> bool:
        return False

    def set_snapshot(self, snapshot: Snapshot) -> None:
        pass

    def set_heartbeat_outcome(self, name: str, outcome: dict[str, Any]) -> None:
        pass  # ``edge-agent status`` reads it from the store, which the agent keeps

    def publish_event(self, event: Event) -> None:
        log.info("event %s %s (no [mqtt]: not sent)", event.type, event.to_json())

    def publish_owed(self, topic: str, payload: bytes) -> None:
        pass

    def publish_live(self, topic: str, payload: bytes) -> None:
        log.info("%s %s (no [mqtt]: not sent)", topic, payload.decode("utf-8", "replace"))

    def set_retained(self, topic: str, payload: bytes) -> None:
        pass

    def set_command_handler(self, handler: Optional[CommandHandler]) -> None:
        pass  # no command topic: nothing ever arrives

    async def run(self, stop: asyncio.Event) -> None:
        pass  # nothing to keep connected

    async def shutdown(self) -> None:
        pass
