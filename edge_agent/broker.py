"""The embedded broker (``[mqtt] embedded_broker = true``): amqtt, in the agent's own loop.

For the demo and single-device setups that have no broker: the agent serves MQTT on the
configured host and port and is, at the same time, an ordinary client of it. amqtt is an
optional dependency (the ``broker`` extra; it needs Python 3.10+) and is imported only
here, so a Pi on Python 3.9 that uses an external broker never needs it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional

from edge_agent.errors import MqttError

log = logging.getLogger(__name__)


class EmbeddedBroker:
    """An anonymous MQTT 3.1.1 broker listening on ``host:port`` until :meth:`stop`."""

    def __init__(self, *, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._broker: Optional[Any] = None

    async def start(self) -> None:
        """Listen now; MqttError when amqtt is missing or the port cannot be bound."""
        try:
            from amqtt.broker import Broker
            from amqtt.errors import BrokerError
        except ImportError as exc:
            raise MqttError(
                "embedded_broker = true needs amqtt: pip install 'edge-agent[broker]' (Python 3.10 or newer)"
            ) from exc
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        broker = Broker(config)
        try:
            await broker.start()
        except BrokerError as exc:
            raise MqttError(f"the embedded broker cannot listen on {self.host}:{self.port}: {exc}") from exc
        self._broker = broker
        log.info("embedded MQTT broker listening on %s:%d", self.host, self.port)

    async def stop(self, timeout: float = 3.0) -> None:
        """Close the listener and every session; never wait longer than ``timeout``.

        amqtt's shutdown can hang while it is delivering to a subscriber (seen with 0.12),
        and an agent asked to stop must stop: leaving the process closes the sockets anyway.
        """
        if self._broker is None:
            return
        broker, self._broker = self._broker, None
        try:
            await asyncio.wait_for(broker.shutdown(), timeout)
        except asyncio.TimeoutError:
            log.warning("the embedded broker did not shut down within %g s; leaving it", timeout)
