"""The embedded broker (``[mqtt] embedded_broker = true``): amqtt, in the agent's own loop.

For the demo and single-device setups that have no broker: the agent serves MQTT on the
configured host and port and is, at the same time, an ordinary client of it. amqtt is an
optional dependency (the ``broker`` extra; it needs Python 3.10+) and is imported only
here, so a Pi on Python 3.9 that uses an external broker never needs it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import sys
from typing import Any, Optional

from edge_agent.errors import MqttError

log = logging.getLogger(__name__)

AMQTT_PYTHON = (3, 10)


def amqtt_missing_reason(python: tuple[int, ...] = tuple(sys.version_info[:3])) -> Optional[str]:
    """Why the embedded broker cannot start here, or None when amqtt is installed.

    On Python 3.9 the ``broker`` extra installs nothing (amqtt needs 3.10+), so telling a
    user there to ``pip install 'edge-agent[broker]'`` sends them round in a circle: the
    reason says which Python is needed instead. Only a lookup: amqtt is not imported.
    """
    if importlib.util.find_spec("amqtt") is not None:
        return None
    version = ".".join(str(part) for part in python)
    if tuple(python[:2]) < AMQTT_PYTHON:
        return (
            f"the embedded MQTT broker (amqtt) needs Python 3.10 or newer and this is Python {version}, "
            "for which the 'broker' extra installs nothing: there is nothing more to install here"
        )
    return "the embedded MQTT broker needs amqtt, which is not installed: pip install 'edge-agent[broker]'"


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
            reason = amqtt_missing_reason() or f"amqtt cannot be imported ({exc})"
            raise MqttError(
                f"embedded_broker = true cannot work: {reason}; set embedded_broker = false and point "
                "[mqtt] host and port at a broker you run (e.g. mosquitto)"
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
