"""One long-lived MQTT client driven by the asyncio loop (paho's client itself is made in
:mod:`edge_agent.mqtt.paho_client`, the other module that imports paho-mqtt).

Why the asyncio loop and not paho's own network thread: a later issue runs thousands of
agents in one process, and a thread per client would be thousands of threads. So, as
aiomqtt and paho's ``examples/loop_asyncio.py`` do, paho's socket callbacks register its
socket with the loop (``add_reader``/``add_writer``) and a small task calls ``loop_misc()``
when paho's clocks say a ping is due. The one blocking step is paho's ``connect()`` (DNS, TCP
connect, TLS handshake): it runs in the loop's default executor, and paho calls the socket
callbacks from that thread, so they hop to the loop with ``call_soon_threadsafe``. Every
read, write and protocol callback then runs on the loop thread, so paho's callbacks can
resolve futures directly.

paho's callbacks only hand work over (resolve a future, put a message on a queue); its
return codes and reason codes become :class:`~edge_agent.errors.MqttError` subclasses here
and nowhere else. Nothing outside this module and ``paho_client`` sees a paho type.

No more QoS 1 and 2 messages await their acknowledgement than the broker takes: its MQTT 5
Receive Maximum, or :data:`MQTT311_WINDOW` on MQTT 3.1.1. paho holds the rest, in order, and
sends each as an acknowledgement frees a place. Every publisher shares that one window (the
mirror's retained state and metrics, ``online``, the outbox drain): a broker past its quota
drops a QoS 2 message after acknowledging it (mosquitto on MQTT 3.1.1), and the device's
``online`` was such a message when a reconnect's burst came to forty.

This class never resends. paho's in-memory queue of unacknowledged QoS 1 messages is
emptied before every connect and publishing while disconnected is refused, so the durable
outbox (which does resend, oldest first) is the one source of retries and a message is
never sent twice by two layers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Sequence
from typing import Any, Callable, Literal, Optional

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.errors import MqttConnectError, MqttError, MqttPublishError
from edge_agent.mqtt.options import (
    IncomingMessage,
    TlsSettings,
    WillMessage,
    build_tls_context,
    explain_verify_failure,
)
from edge_agent.mqtt.paho_client import CLIENT_CLASS, keepalive_due_in, set_inflight_window, ssl

log = logging.getLogger(__name__)

CLOSED = "the connection was closed"
_CERT_ERRORS: tuple[type[Exception], ...] = (ssl.SSLCertVerificationError,) if ssl is not None else ()
_TLS_ERRORS: tuple[type[Exception], ...] = (ssl.SSLError,) if ssl is not None else ()

MQTT311_WINDOW = 20
"""QoS 1 and 2 messages in flight at once on MQTT 3.1.1, where the broker announces no Receive
Maximum: mosquitto holds a client's unreleased QoS 2 messages to 20 (``max_inflight_messages``)
and past that answers PUBREC and drops the message; it is paho's own default too."""

KEEPALIVE_TICK = 1.0
"""The shortest pause between two runs of paho's ``loop_misc()`` (it sends PINGREQ and notices
a silent broker)."""
KEEPALIVE_TICKS = 10
"""Where paho's clocks cannot be read, ``loop_misc()`` runs this many times per keepalive
(every 6 s at the default 60 s): a ping is then at most a tenth of the keepalive late, well
inside the broker's 1.5 keepalives. Otherwise it runs when a ping is due (``_until_keepalive_due``)."""
KEEPALIVE_SLACK = 0.01
"""Past the due time, so that a timer fired a hair early (asyncio allows its clock's
resolution) finds the ping due and does not wait another ``KEEPALIVE_TICK``."""


class MqttBridge:
    """One MQTT connection at a time over one paho client that lives as long as the agent.

    ``publish`` returns a future that resolves when the broker has the message (PUBACK for
    QoS 1; written for QoS 0) to ``None``, or to the broker's refusal reason (MQTT 5
    PUBACK with a failure code); it fails with :class:`MqttPublishError` when the
    connection drops first.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        keepalive: int = 60,
        protocol: Literal["3.1.1", "5"] = "3.1.1",
        username: Optional[str] = None,
        password: Optional[str] = None,
        tls: Optional[TlsSettings] = None,
        will: Optional[WillMessage] = None,
        connect_timeout: float = 5.0,
        max_inflight: int = 100,
    ) -> None:
        self.host = host
        self.port = port
        self.protocol = protocol
        self.keepalive = keepalive
        self.connect_timeout = connect_timeout
        self.max_inflight = max_inflight
        self._client = CLIENT_CLASS(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if protocol == "5" else MQTTProtocolVersion.MQTTv311,
            clean_session=None if protocol == "5" else True,
            reconnect_on_failure=False,
        )
        self._client.connect_timeout = connect_timeout
        # paho holds what is past the broker's window (receive_maximum), set at every CONNACK
        self._client.max_inflight_messages_set(self._default_window())
        if username is not None:
            self._client.username_pw_set(username, password)
        self._tls_strict = False
        if tls is not None:
            context = build_tls_context(tls)
            self._tls_strict = bool(context.verify_flags & ssl.VERIFY_X509_STRICT)
            self._client.tls_set_context(context)
            if tls.insecure:
                self._client.tls_insecure_set(True)
        if will is not None:
            self._client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client = self._client
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        # asyncio objects are made on first use, inside the running loop (Python 3.9 binds
        # them to a loop when created).
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._loop_thread: Optional[int] = None
        self._messages: Optional[asyncio.Queue[IncomingMessage]] = None
        self._connack: Optional[asyncio.Future[None]] = None
        self._disconnected: Optional[asyncio.Future[str]] = None
        self._published: dict[int, asyncio.Future[Optional[str]]] = {}
        self._subscribed: dict[int, asyncio.Future[None]] = {}
        self._keepalive_task: Optional[asyncio.Task[None]] = None
        self._receive_maximum = self._default_window()
        self._connected = False
        self._write_scheduled = False

    # -- what the rest of the agent calls -------------------------------------------------

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def receive_maximum(self) -> int:
        """How many QoS 1 and 2 messages may be in flight: the broker's MQTT 5 Receive Maximum
        (or :data:`MQTT311_WINDOW`), capped at ``max_inflight``."""
        return max(1, min(self.max_inflight, self._receive_maximum))

    @property
    def messages(self) -> asyncio.Queue[IncomingMessage]:
        """Every message delivered on our subscriptions, in arrival order."""
        if self._messages is None:
            self._messages = asyncio.Queue()
        return self._messages

    async def connect(self) -> None:
        """Open a connection and wait for the broker to accept it; raise MqttConnectError if not."""
        loop = asyncio.get_running_loop()
        self._loop, self._loop_thread = loop, threading.get_ident()
        self.messages  # noqa: B018 - make the queue in this loop before paho can deliver
        self._client.drop_out_messages()  # never let paho resend what the outbox will resend
        self._connack = loop.create_future()
        self._disconnected = loop.create_future()
        self._receive_maximum = self._default_window()
        try:
            rc = await loop.run_in_executor(None, self._blocking_connect)
        except _CERT_ERRORS as exc:
            reason = explain_verify_failure(
                str(getattr(exc, "verify_message", None) or exc), strict=self._tls_strict
            )
            raise MqttConnectError(f"TLS verification of the broker {self.where} failed: {reason}") from exc
        except _TLS_ERRORS as exc:
            raise MqttConnectError(f"TLS handshake with the broker {self.where} failed: {exc}") from exc
        except OSError as exc:
            raise MqttConnectError(
                f"cannot reach the broker {self.where}: {exc.strerror or exc or type(exc).__name__}"
            ) from exc
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise MqttConnectError(f"cannot connect to the broker {self.where}: {paho.error_string(rc)}")
        try:
            await asyncio.wait_for(asyncio.shield(self._connack), self.connect_timeout)
        except asyncio.TimeoutError as exc:
            self._connack.cancel()  # nobody awaits it now: the close below must not fail it
            self._abort()
            raise MqttConnectError(
                f"the broker {self.where} did not answer CONNECT within {self.connect_timeout:g} s"
                + self._protocol_hint()
            ) from exc
        set_inflight_window(self._client, self.receive_maximum)
        self._connected = True

    def _blocking_connect(self) -> MQTTErrorCode:
        if self.protocol == "5":
            return self._client.connect(self.host, self.port, self.keepalive, clean_start=True)
        return self._client.connect(self.host, self.port, self.keepalive)

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int,
        retain: bool = False,
        message_expiry: Optional[int] = None,
        correlation_data: Optional[bytes] = None,
        response_topic: Optional[str] = None,
    ) -> asyncio.Future[Optional[str]]:
        """Hand one message to the connection; see the class docstring for what the future says."""
        if not self._connected:
            raise MqttPublishError(f"not connected to the broker {self.where}")
        properties = self._publish_properties(message_expiry, correlation_data, response_topic)
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        except ValueError as exc:
            raise MqttPublishError(f"cannot publish on {topic!r}: {exc}") from exc
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise MqttPublishError(f"cannot publish on {topic!r}: {paho.error_string(info.rc)}")
        future = self._new_future()
        self._published[info.mid] = future
        return future

    async def subscribe(self, topics: Sequence[tuple[str, int]]) -> None:
        """Subscribe and wait for the SUBACK; MqttError if the broker refuses any topic."""
        if not self._connected:
            raise MqttError(f"not connected to the broker {self.where}")
        rc, mid = self._client.subscribe(list(topics))
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise MqttError(f"cannot subscribe: {paho.error_string(rc)}")
        future: asyncio.Future[None] = self._new_future()
        self._subscribed[mid] = future
        await future

    async def wait_disconnected(self) -> str:
        """Wait until the current connection ends; returns the reason."""
        if self._disconnected is None:
            return "never connected"
        return await asyncio.shield(self._disconnected)

    async def disconnect(self, timeout: float = 3.0) -> None:
        """Send DISCONNECT (so the broker drops our last will) and wait for the socket to close."""
        if not self._connected or self._disconnected is None:
            return
        self._client.disconnect()
        try:
            await asyncio.wait_for(asyncio.shield(self._disconnected), timeout)
        except asyncio.TimeoutError:
            self._abort()

    # -- helpers --------------------------------------------------------------------------

    def _publish_properties(
        self, message_expiry: Optional[int], correlation_data: Optional[bytes], response_topic: Optional[str]
    ) -> Optional[Properties]:
        wanted = (message_expiry, correlation_data, response_topic)
        if self.protocol != "5" or all(value is None for value in wanted):
            return None
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho leaves it unannotated
        if message_expiry is not None:
            properties.MessageExpiryInterval = message_expiry
        if correlation_data is not None:
            properties.CorrelationData = correlation_data
        if response_topic is not None:
            properties.ResponseTopic = response_topic
        return properties

    def _default_window(self) -> int:
        """The window before (or without) the broker's word: MQTT 5's default Receive Maximum
        is 65535, capped at ``max_inflight``; MQTT 3.1.1 has none to give."""
        return self.max_inflight if self.protocol == "5" else MQTT311_WINDOW

    def _new_future(self) -> asyncio.Future[Any]:
        assert self._loop is not None
        future = self._loop.create_future()
        # Nobody may await a fire-and-forget publish; read its outcome so asyncio does not
        # log "exception was never retrieved" when a connection drops.
        future.add_done_callback(_mark_retrieved)
        return future

    def _abort(self) -> None:
        """Drop the connection without ceremony: paho sees end-of-file on its next read."""
        sock = self._client.socket()
        if isinstance(sock, socket.socket):  # TCP or TLS (SSLSocket): the transports we configure
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError as exc:
                log.debug("shutting down the MQTT socket: %s", exc)

    def _protocol_hint(self, reason: str = CLOSED) -> str:
        """Brokers that speak only MQTT 3.1.1 (amqtt, NATS, RabbitMQ < 3.13) turn MQTT 5 away so."""
        if self.protocol != "5" or reason not in (CLOSED, "Unsupported protocol version"):
            return ""
        return "; MQTT 5 was asked for: if this broker speaks only MQTT 3.1.1, set protocol 3.1.1"

    def _on_loop(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func`` on the loop thread (paho's connect() calls us from an executor thread)."""
        assert self._loop is not None
        if threading.get_ident() == self._loop_thread:
            func(*args)
        else:
            self._loop.call_soon_threadsafe(func, *args)

    # -- socket callbacks: register paho's socket with the asyncio loop -------------------

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._watch, sock.fileno())

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._unwatch, sock.fileno())

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._watch_writable, sock.fileno())

    def _on_socket_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._unwatch_writable, sock.fileno())

    def _watch(self, fd: int) -> None:
        assert self._loop is not None
        self._loop.add_reader(fd, self._readable)
        self._keepalive_task = self._loop.create_task(self._keep_alive())

    def _unwatch(self, fd: int) -> None:
        assert self._loop is not None
        self._loop.remove_reader(fd)
        self._loop.remove_writer(fd)
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
            self._keepalive_task = None

    def _watch_writable(self, fd: int) -> None:
        """paho has bytes to send: write them at the loop's next turn, and wait for the
        selector only if the socket takes less than all of them.

        The socket nearly always has room (a cycle's publishes are a few KB), so asking the
        selector first cost two ``epoll_ctl`` calls and one more turn of the loop per burst
        of publishes, every cycle. The publishes made in this turn go out together, in order.
        """
        assert self._loop is not None
        if not self._write_scheduled:
            self._write_scheduled = True
            self._loop.call_soon(self._write_now, fd)

    def _write_now(self, fd: int) -> None:
        assert self._loop is not None
        self._write_scheduled = False
        self._client.loop_write()
        if self._client.want_write() and self._client.socket() is not None:  # the socket is full
            self._loop.add_writer(fd, self._client.loop_write)

    def _unwatch_writable(self, fd: int) -> None:
        assert self._loop is not None
        self._loop.remove_writer(fd)

    def _readable(self) -> None:
        self._client.loop_read()
        sock = self._client.socket()
        # TLS may hold decrypted bytes the selector cannot see: read them now.
        if ssl is not None and isinstance(sock, ssl.SSLSocket) and sock.pending() and self._loop is not None:
            self._loop.call_soon(self._readable)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self._until_keepalive_due())
            if self._client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return

    def _until_keepalive_due(self) -> float:
        """How long ``_keep_alive`` sleeps: until paho has a ping to send or to give up on.

        A fixed tick (a tenth of the keepalive) woke an idle agent every 6 s for a
        ``loop_misc()`` that almost never had anything to do; at a metrics interval
        shorter than the keepalive the cycle's own messages keep the connection alive and
        no ping is ever due (issue 15). Sleeping until paho's own clocks say a ping is due
        wakes once per keepalive at most, and sends the ping on time rather than up to a
        tick late. The fixed tick stays where paho's clocks cannot be read, and a due time
        already past (``loop_misc()`` found nothing to do) waits one ``KEEPALIVE_TICK``.
        """
        tick = max(KEEPALIVE_TICK, self.keepalive / KEEPALIVE_TICKS)
        due_in = keepalive_due_in(self._client)
        if due_in is None:
            return tick
        if due_in < 0:
            return KEEPALIVE_TICK
        return min(due_in + KEEPALIVE_SLACK, max(self.keepalive, KEEPALIVE_TICK))

    # -- protocol callbacks: only resolve futures and queue messages ----------------------

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if self._connack is None or self._connack.done():
            return
        if reason_code.is_failure:
            refusal = f"the broker {self.where} refused the connection: {reason_code}"
            self._connack.set_exception(MqttConnectError(refusal + self._protocol_hint(str(reason_code))))
            return
        self._receive_maximum = int(getattr(properties, "ReceiveMaximum", self._default_window()))
        self._connack.set_result(None)

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        self._connected = False
        reason = str(reason_code)
        if getattr(flags, "is_disconnect_packet_from_server", False):
            reason = f"the broker disconnected us: {reason}"
        elif reason == "Unspecified error":  # what paho calls a connection closed under it
            reason = CLOSED
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(
                MqttConnectError(
                    f"the broker {self.where} closed the connection before accepting it"
                    + ("" if reason == CLOSED else f" ({reason})")
                    + self._protocol_hint(reason)
                )
            )
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_result(reason)
        lost = MqttPublishError(f"the connection to {self.where} was lost before the broker answered")
        for pending in (self._published, self._subscribed):
            for future in pending.values():
                if not future.done():
                    future.set_exception(lost)
            pending.clear()

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason_code: Any, properties: Any
    ) -> None:
        future = self._published.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(str(reason_code) if reason_code.is_failure else None)

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any
    ) -> None:
        future = self._subscribed.pop(mid, None)
        if future is None or future.done():
            return
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            future.set_exception(MqttError(f"the broker refused the subscription: {', '.join(refused)}"))
        else:
            future.set_result(None)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        properties = message.properties
        self.messages.put_nowait(
            IncomingMessage(
                topic=message.topic,
                payload=bytes(message.payload),
                retain=bool(message.retain),
                response_topic=getattr(properties, "ResponseTopic", None),
                correlation_data=getattr(properties, "CorrelationData", None),
            )
        )


def _mark_retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
