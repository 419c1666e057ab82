"""RabbitMQ's MQTT plugin on a free port for one test session, and the node left as it was found.

The node is the machine's own (other users may rely on it), so nothing here restarts it.
The plugin's default listener (1883) is the system mosquitto's port, so before enabling
the plugin its ``tcp_listeners`` are set, persistently (the plugin's own defaults would
otherwise overwrite them when it loads), to 127.0.0.1 and a free port. At the end the
plugin is disabled again, the setting removed, and the files enabling created (the
``enabled_plugins`` file, the retained-message store) are removed, unless they were there
before. When the plugin was already enabled, its own MQTT listener is used and nothing is
changed. A lock file keeps two test sessions from switching the plugin under each other.
"""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import IO, Optional

from mqtt_brokers import free_port

LOCK_PATH = Path("/tmp/edge-agent-compat-rabbitmq.lock")
CLI_TIMEOUT = 60.0
DISABLE_ATTEMPTS = 3


class RabbitUnavailable(Exception):
    """RabbitMQ is absent, not running, or its MQTT plugin cannot be enabled: the tests skip."""


def _cli(*argv: str) -> str:
    """Run a RabbitMQ CLI command (never through a shell); its stdout, or RabbitUnavailable."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=CLI_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RabbitUnavailable(f"{argv[0]} {argv[1]}: {exc}") from exc
    if done.returncode != 0:
        raise RabbitUnavailable(f"{' '.join(argv[:2])} failed: {(done.stderr or done.stdout).strip()[:300]}")
    return done.stdout


def _eval(expression: str) -> str:
    return _cli("rabbitmqctl", "-q", "eval", expression).strip()


class RabbitMqttSession:
    """``start()`` enables the plugin on a free port (or finds it enabled); ``close()`` undoes it."""

    name = "rabbitmq"
    restartable = False

    def __init__(self) -> None:
        self.port = 0
        self.version = "unknown"
        self._enabled_by_us = False
        self._lock: Optional[IO[str]] = None
        self._data_dir: Optional[Path] = None
        self._files_before: set[str] = set()
        self._plugins_file: Optional[Path] = None
        self._plugins_file_existed = True

    def start(self) -> RabbitMqttSession:
        if shutil.which("rabbitmqctl") is None or shutil.which("rabbitmq-plugins") is None:
            raise RabbitUnavailable("RabbitMQ's CLI (rabbitmqctl, rabbitmq-plugins) is not installed")
        self._take_lock()
        self.version = _eval("rabbit_misc:version().").strip('"')
        existing = self._mqtt_listener_port()
        if existing is not None:
            self.port = existing
            return self
        self._note_files()
        self.port = free_port()
        listeners = f'[{{"127.0.0.1", {self.port}}}]'
        _eval(f"application:set_env(rabbitmq_mqtt, tcp_listeners, {listeners}, [{{persistent, true}}]).")
        self._enabled_by_us = True
        _cli("rabbitmq-plugins", "enable", "--online", "rabbitmq_mqtt")
        if self._mqtt_listener_port() != self.port:
            raise RabbitUnavailable(f"the MQTT plugin did not listen on 127.0.0.1:{self.port}")
        return self

    def close(self) -> None:
        try:
            if self._enabled_by_us:
                self._disable_plugin()
                _eval("application:unset_env(rabbitmq_mqtt, tcp_listeners, [{persistent, true}]).")
                self._remove_new_files()
        finally:
            if self._lock is not None:
                self._lock.close()

    @staticmethod
    def _disable_plugin(attempts: int = DISABLE_ATTEMPTS) -> None:
        """``rabbitmq-plugins disable``, tried again when it fails: RabbitMQ 3.10's CLI
        sometimes fails while cleaning the plugin's expanded files (a ``badmatch`` on a
        ``.beam`` file, seen once in a dozen sessions here), and the next try succeeds. A
        plugin that still will not go is the node's cleanup, not the agent's failure: it
        is said as a warning, and the next session finds the plugin enabled and uses it."""
        for attempt in range(1, attempts + 1):
            try:
                _cli("rabbitmq-plugins", "disable", "--online", "rabbitmq_mqtt")
                return
            except RabbitUnavailable as exc:
                if attempt == attempts:
                    warnings.warn(f"RabbitMQ's MQTT plugin was left enabled: {exc}", stacklevel=2)

    # -- outage/recover: the node is shared, so a test cuts the agent's connection instead --

    def outage(self) -> None:
        return None

    def recover(self) -> None:
        return None

    # -- helpers --------------------------------------------------------------------------

    def _take_lock(self) -> None:
        self._lock = open(LOCK_PATH, "a")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock.close()
            self._lock = None
            raise RabbitUnavailable("another test session is using RabbitMQ's MQTT plugin") from exc

    @staticmethod
    def _mqtt_listener_port() -> Optional[int]:
        listeners = _cli("rabbitmq-diagnostics", "-q", "listeners")
        found = re.search(r"Interface: [^,]+, port: (\d+), protocol: mqtt\b", listeners)
        return int(found.group(1)) if found else None

    def _note_files(self) -> None:
        """What exists before enabling, so that only what enabling created is removed after."""
        self._data_dir = Path(_eval("rabbit_mnesia:dir().").strip('"'))
        self._files_before = {p.name for p in self._retained_stores()}
        enabled_file = _eval("application:get_env(rabbit, enabled_plugins_file).")
        match = re.search(r'"([^"]+)"', enabled_file)
        self._plugins_file = Path(match.group(1)) if match else None
        self._plugins_file_existed = self._plugins_file is None or self._plugins_file.exists()

    def _retained_stores(self) -> list[Path]:
        if self._data_dir is None:
            return []
        try:
            return list(self._data_dir.glob("mqtt_retained_*"))
        except OSError:
            return []

    def _remove_new_files(self) -> None:
        for path in self._retained_stores():
            if path.name not in self._files_before:
                path.unlink(missing_ok=True)
        created = self._plugins_file if not self._plugins_file_existed else None
        if created is not None and created.read_text().strip() == "[].":
            created.unlink(missing_ok=True)
