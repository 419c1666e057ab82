"""The agent tells systemd it is ready and alive over a real notify socket."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from edge_agent.sdnotify import SystemdNotifier


def receive(sock: socket.socket) -> str:
    sock.settimeout(2)
    return sock.recv(4096).decode()


def test_ready_and_watchdog_reach_the_notify_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        notifier = SystemdNotifier(
            {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
        )
        notifier.ready("metrics every 30 s")
        notifier.watchdog()
        assert receive(sock) == "READY=1\nSTATUS=metrics every 30 s"
        assert receive(sock) == "WATCHDOG=1"
        assert notifier.watchdog_interval == 15.0


def test_abstract_socket_names_are_understood() -> None:
    name = f"edge-agent-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).stopping()
        assert receive(sock) == "STOPPING=1"


def test_outside_systemd_nothing_is_sent_and_nothing_fails() -> None:
    notifier = SystemdNotifier({})
    notifier.ready()
    assert not notifier.enabled and notifier.watchdog_interval is None


def test_a_watchdog_meant_for_another_process_is_ignored() -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "10", "WATCHDOG_PID": "1"})
    assert notifier.watchdog_interval is None
