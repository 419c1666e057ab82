"""paho-mqtt's client as the bridge uses it: imported without ``ssl`` where TLS is not
configured, and with a cheaper PUBACK and a readable keep-alive clock.

Kept apart from :mod:`edge_agent.mqtt.bridge` (which drives this client from the asyncio
loop) because everything here leans on paho's internals: when a paho release renames them,
this is the one file to read. :data:`CLIENT_CLASS` falls back to paho's own client when the
private methods are missing, and :func:`keepalive_due_in` to None when its clocks are.
"""

from __future__ import annotations

import struct
import types
from typing import Literal, Optional

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

try:
    import ssl
except ImportError:  # left out by `edge-agent run` when the config uses no TLS (see cli/run.py)
    ssl = None  # type: ignore[assignment]


class _NeverRaised(Exception):
    """Stands for ``ssl``'s exceptions where ``ssl`` is left out: a plain socket never raises it."""


if getattr(paho, "ssl", False) is None:
    # paho 2 imports ssl optionally, but its plain-socket recv and send still name
    # ssl.SSLWantReadError/SSLWantWriteError in ``except`` clauses, which fail on None
    # the first time a read finds nothing (BlockingIOError). Nothing here uses TLS.
    setattr(paho, "ssl", types.SimpleNamespace(SSLWantReadError=_NeverRaised, SSLWantWriteError=_NeverRaised))  # noqa: B010


class PahoClient(paho.Client):
    """paho's client, with a cheaper PUBACK on MQTT 3.1.1 (the same callback, the same objects' meaning).

    paho 2 decodes every PUBACK through a generic path that builds a new ``ReasonCode`` and
    a new ``Properties`` (each filling a table of every name MQTT 5 defines), about 20 µs
    a PUBACK here, five or more a metrics cycle. On MQTT 3.1.1 a PUBACK is only the
    message id: its reason is always "Success" and it has no properties, so one shared,
    never-changed pair says the same to ``on_publish`` (ours reads ``is_failure``). Any
    other packet (PUBCOMP, MQTT 5, a PUBACK of the wrong size, which paho reports as
    malformed) takes paho's own path.
    """

    _SUCCESS = ReasonCode(PacketTypes.PUBACK)
    _NO_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]

    def _handle_pubackcomp(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        packet = self._in_packet["packet"]
        if cmd != "PUBACK" or self._protocol == MQTTProtocolVersion.MQTTv5 or len(packet) != 2:
            return super()._handle_pubackcomp(cmd)
        (mid,) = struct.unpack("!H", packet)
        self._easy_log(paho.MQTT_LOG_DEBUG, "Received %s (Mid: %d)", cmd, mid)
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, self._SUCCESS, self._NO_PROPERTIES)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def keepalive_due_in(self) -> Optional[float]:
        """Seconds until ``loop_misc()`` has something to do: a PINGREQ, or a PINGRESP overdue.

        paho pings once ``keepalive`` s passed since it last sent or last received, and gives
        up on the broker ``keepalive`` s after an unanswered ping; before then
        ``loop_misc()`` does nothing. None when paho's own clocks are not there to read.
        """
        keepalive = self._keepalive
        if not keepalive:
            return None
        with self._msgtime_mutex:
            quiet_since = min(self._last_msg_out, self._last_bytes_received)
        due = quiet_since + keepalive
        if self._ping_t > 0:
            due = min(due, self._ping_t + keepalive)
        return float(due - paho.time_func())


_PAHO_PARTS = ("_handle_pubackcomp", "_do_on_publish", "_easy_log")
"""The private methods :class:`PahoClient` leans on (paho 2.x has them; pyproject pins ``<3``)."""
CLIENT_CLASS: type[paho.Client] = PahoClient
"""The client the bridge makes: ours, or paho's own where its private parts are missing."""
if not all(hasattr(paho.Client, name) for name in _PAHO_PARTS):  # a paho without them: its own path
    CLIENT_CLASS = paho.Client


def set_inflight_window(client: paho.Client, window: int) -> None:
    """How many QoS 1 and 2 messages paho lets await their acknowledgement; it holds the rest.

    paho's setter refuses once a connection is open, but the broker gives its Receive
    Maximum only in the CONNACK. Called then, with nothing in flight (the bridge refuses
    publishes until connected and drops paho's messages before each connect), setting the
    attribute is what the setter would do. Never 0 here: paho skips its queue at 0. A paho
    that names the attribute otherwise keeps the window set before the connect (its setter
    would raise now).
    """
    if hasattr(client, "_max_inflight_messages"):
        client._max_inflight_messages = max(1, window)


def keepalive_due_in(client: paho.Client) -> Optional[float]:
    """:meth:`PahoClient.keepalive_due_in`, or None for a client without it or a paho without its clocks."""
    due_in = getattr(client, "keepalive_due_in", None)
    if due_in is None:
        return None
    try:
        result: Optional[float] = due_in()
    except (AttributeError, TypeError):  # a paho whose private clocks are named otherwise
        return None
    return result


__all__ = ["CLIENT_CLASS", "PahoClient", "keepalive_due_in", "set_inflight_window", "ssl"]
