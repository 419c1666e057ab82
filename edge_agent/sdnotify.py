"""systemd's readiness and watchdog protocol (sd_notify), in the standard library.

Under ``Type=notify`` systemd waits for ``READY=1`` before it calls the service started,
and with ``WatchdogSec=`` it restarts a service that stops sending ``WATCHDOG=1``: a hung
agent on a Pi nobody visits is restarted instead of silently dead. The agent sends
``WATCHDOG=1`` only while every one of its loops is alive (see ``edge_agent.loops``), so a
loop that died or hangs gets the agent restarted too. Outside systemd
(Termux, a terminal) ``NOTIFY_SOCKET`` is unset and every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from typing import Optional

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Sends sd_notify messages to the socket systemd gave us, if any."""

    def __init__(self, environ: Optional[Mapping[str, str]] = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # an abstract socket
            address = "\0" + address[1:]
        self._address = address or None
        self._watchdog_s = _watchdog_seconds(env)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_seconds(self) -> Optional[float]:
        """systemd's WatchdogSec for this process, or None when no watchdog is set."""
        return self._watchdog_s

    @property
    def watchdog_interval(self) -> Optional[float]:
        """How often to send WATCHDOG=1 (half of WatchdogSec), or None when no watchdog is set."""
        return None if self._watchdog_s is None else self._watchdog_s / 2

    def ready(self, status: str = "") -> None:
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def reloading(self) -> None:
        self._send("RELOADING=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def status(self, text: str) -> None:
        self._send(f"STATUS={text}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def _send(self, message: str) -> None:
        if self._address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode("utf-8"), self._address)
        except OSError as exc:  # systemd gone or socket unwritable: never fatal for the agent
            log.warning("sd_notify to %r failed: %s", self._address, exc)


def _watchdog_seconds(env: Mapping[str, str]) -> Optional[float]:
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None  # the watchdog is meant for another process
    return int(usec) / 1_000_000
