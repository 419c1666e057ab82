"""``edge-agent run -c FILE``: run the agent until SIGTERM or SIGINT, then leave cleanly (exit 0).

Exit codes: 0 stopped by a signal; 1 an error; 2 the config is invalid; 75 (EX_TEMPFAIL)
the store cannot be opened now (disk full, I/O error, locked: the file is kept, a restart
later may work); 65 (EX_DATAERR) the store was written by a newer release and is refused
untouched.

SIGHUP reloads the config file: a valid new config replaces the running parts in-process
(subscribers see a brief ``offline``/``online``); an invalid one is refused with its
errors in the log, and the old config keeps running.

A start validates the config with pydantic, checks its paths, keeps the result in the
config cache (:mod:`edge_agent.config.cache`) and replaces itself with an interpreter that
runs it without pydantic (:func:`_run_lean`). A later start of the same file with nothing
it depended on changed finds it there and runs it in this process: no pydantic, no exec;
the inline-secret warning and the path checks are made either way.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from edge_agent import __version__
from edge_agent.cli.common import add_config_argument, config_path, keep_validated, load_or_report

if TYPE_CHECKING:
    from edge_agent.config import Config
    from edge_agent.config.cache import ConfigCache
    from edge_agent.config.permissions import SecretNames

log = logging.getLogger("edge_agent.run")

EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_STORE_NEWER = 65
"""The store's schema is newer than this release: refused, the file untouched."""
EXIT_STORE_UNAVAILABLE = 75
"""The store cannot be opened now (disk full, I/O error, locked); the file is kept."""
PLAIN_CONFIG_FD = "EDGE_AGENT_PLAIN_CONFIG_FD"
"""Set by ``run`` for the interpreter it replaces itself with: the memory file that holds the
validated config as plain objects (:mod:`edge_agent.plain_config`)."""
MEMFD_NAME = "edge-agent-config"
LEAN_ENV = "EDGE_AGENT_LEAN"
"""``0`` keeps the validating interpreter running the agent (pydantic and all stay loaded)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    config: Any = _handed_over()  # validated and checked by this same process before its exec
    if config is not None and not needs_ssl(config):
        _leave_ssl_out()
    if config is None:
        words = getattr(args, "_words", None)  # None: main() called in-process, not a command line
        cache = _cache(config_path(args)) if words is not None else None
        cached = cache.load() if cache is not None else None
        if cached is not None:
            config = cached.config
            if "ssl" not in sys.modules and not needs_ssl(config):
                _leave_ssl_out()
            if not _start_checks(config, config_path(args), cached.secret_names):
                return EXIT_CONFIG
        else:
            config = _validate(args, cache)
            if config is None:
                return EXIT_CONFIG
    from edge_agent.errors import EdgeAgentError, StoreSchemaError, StoreUnavailable

    try:
        import asyncio  # here, not at the top: asyncio imports ssl unless it is left out

        asyncio.run(_run(config, config_path(args), getattr(args, "_words", None)))
    except StoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_STORE_UNAVAILABLE
    except StoreSchemaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_STORE_NEWER
    except EdgeAgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0


def _cache(path: Optional[Path]) -> Optional[ConfigCache]:
    """The config cache of ``path``; None without a file, when turned off, or with ``EDGE_AGENT_LEAN=0``."""
    if path is None or os.environ.get(LEAN_ENV) == "0":
        return None
    from edge_agent.config.cache import ConfigCache

    return ConfigCache.for_config(path)


def _validate(args: argparse.Namespace, cache: Optional[ConfigCache]) -> Optional[Config]:
    """Validate and check the config; keep it in ``cache``; exec the lean interpreter where possible.

    Returns the config to run here, or None when it is invalid or fails the path checks.
    """
    from edge_agent.config.sources import Reads

    reads = Reads() if cache is not None else None
    config = load_or_report(args, reads)
    if config is None or not _start_checks(config, config_path(args)):
        return None
    words = getattr(args, "_words", None)
    if words is not None:  # a command line, not main() called in-process
        data = keep_validated(config, cache, reads)
        if data is None:
            log.info("running with the validated config in this process")
        else:
            _run_lean(data, words)  # returns only where it cannot replace this process
    return config


def _start_checks(config: Any, path: Optional[Path], names: Optional[SecretNames] = None) -> bool:
    """What ``run`` checks of the world at every start, validated now or reused from the cache.

    The same path checks as ``check``, as the user the service runs as: a store it cannot
    create is a config error (exit 2, which the unit and the Termux boot script do not
    retry), not a crash to be restarted every few seconds for ever.
    """
    from edge_agent.config.permissions import warn_if_exposed
    from edge_agent.config.preflight import filesystem_problems

    warn_if_exposed(path, names)
    problems = filesystem_problems(config, path)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return not problems


def _leave_ssl_out() -> None:
    for name in OPENSSL_MODULES:  # see needs_ssl
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def describe(config: Config, path: Optional[Path]) -> str:
    """The start line's facts: which device, which broker, which vendor endpoints, from which file.

    Secrets and URLs stay out: the line is for ``journalctl`` and a Termux log file.
    """
    mqtt = config.mqtt
    if mqtt is None:
        broker = "no broker"
    else:
        embedded = "embedded " if mqtt.embedded_broker else ""
        tls = " (TLS)" if mqtt.uses_tls else ""
        broker = f"{embedded}broker {mqtt.host}:{mqtt.port}{tls}, prefix {mqtt.topic_prefix}"
    endpoints = ", ".join(
        f"{name} ({hb.vendor}{'' if hb.enabled else ', disabled'})" for name, hb in config.heartbeats.items()
    )
    source = str(path) if path is not None else "built-in defaults"
    return (
        f"device {config.device.id}; {broker}; heartbeats: {endpoints or 'none'}; "
        f"store {config.storage.path}; config {source}"
    )


def _run_lean(data: bytes, words: list[str]) -> None:
    """Replace this process (same pid, argv and environment) by one that never loads pydantic.

    The validated config (``data``, :func:`edge_agent.plain_config.dumps`) goes to the new
    interpreter as plain objects in an anonymous
    memory file (``memfd``, inherited by the exec; no file on disk, nothing in argv or the
    environment but its descriptor number); ``words``, the command line's arguments, are
    given again. Returns, having changed nothing, when the platform has no
    ``memfd_create``, on Android (Termux) unless ``EDGE_AGENT_LEAN=1``, with
    ``EDGE_AGENT_LEAN=0``, or when the exec fails; the agent then runs here, as before.
    """
    if os.environ.get(LEAN_ENV) == "0" or not hasattr(os, "memfd_create") or not sys.executable:
        return
    if "ANDROID_ROOT" in os.environ and os.environ.get(LEAN_ENV) != "1":
        return  # Android's seccomp policy may kill on a syscall it does not allow: ask first
    from edge_agent import startup_cpu

    try:
        fd = os.memfd_create(MEMFD_NAME, 0)  # no MFD_CLOEXEC: the exec inherits it
    except OSError as exc:
        log.info("running with the validated config in this process: %s", exc)
        return
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
        sys.stdout.flush()
        sys.stderr.flush()
        argv = [sys.executable, "-m", "edge_agent", *words]
        environ = {**os.environ, **startup_cpu.handover(), PLAIN_CONFIG_FD: str(fd)}
        os.execve(sys.executable, argv, environ)
    except OSError as exc:
        os.close(fd)
        log.info("running with the validated config in this process: %s", exc)


def needs_ssl(config: Any) -> bool:
    """Whether ``config`` may use TLS: MQTT over TLS, any heartbeat (may be https://), the embedded broker.

    paho imports ``ssl`` and ``hashlib`` whether or not the connection uses TLS, and with
    them OpenSSL's libcrypto: about 8 MB of the 29 MB of an agent with MQTT only (measured:
    ``bench/README.md``). An agent handed a config that needs no TLS leaves them out
    (:data:`OPENSSL_MODULES`): paho, urllib and asyncio run without ``ssl``, and
    ``hashlib`` and ``hmac`` fall back to Python's own SHA-2 and MD5. A SIGHUP to a config
    that needs TLS starts a fresh interpreter (:func:`_run`).
    """
    mqtt = config.mqtt
    return bool(config.heartbeats) or (mqtt is not None and (mqtt.uses_tls or mqtt.embedded_broker))


def _ssl_left_out() -> bool:
    return "ssl" in sys.modules and sys.modules["ssl"] is None


OPENSSL_MODULES = ("ssl", "_ssl", "_hashlib")
"""The modules that load OpenSSL, left out when the config needs no TLS (:func:`needs_ssl`)."""


def _handed_over() -> Optional[Any]:
    """The plain config :func:`_run_lean` handed to this interpreter, or None when there is none."""
    fd_text = os.environ.pop(PLAIN_CONFIG_FD, None)
    if fd_text is None:
        return None
    from edge_agent.plain_config import loads

    try:
        fd = int(fd_text)
        # only the memory file _run_lean made, never whatever a stray variable points at
        if not os.readlink(f"/proc/self/fd/{fd}").startswith(f"/memfd:{MEMFD_NAME}"):
            raise ValueError(f"descriptor {fd} is not the handed-over config")
        with os.fdopen(fd, "rb") as handle:
            return loads(handle.read())
    except (OSError, ValueError, EOFError, AttributeError, ImportError) as exc:
        log.warning("the handed-over config cannot be read (%s): validating the file again", exc)
        return None


class _Lifecycle:
    """What the signals asked for: stop for good, or stop and come back with a new config."""

    def __init__(self, path: Optional[Path]) -> None:
        self.path = path
        self.finished = False
        self.next_config: Optional[Config] = None
        import asyncio

        self.current_stop = asyncio.Event()

    def terminate(self) -> None:
        self.finished = True
        self.current_stop.set()

    def reload(self) -> None:
        from edge_agent.config import load_config
        from edge_agent.errors import ConfigError

        if self.path is None:
            log.warning("SIGHUP: no config file to reload (running on built-in defaults)")
            return
        try:
            self.next_config = load_config(self.path)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("SIGHUP: the new config is refused, the old one keeps running: %s", problem)
            return
        log.warning("SIGHUP: reloading %s", self.path)
        self.current_stop.set()


async def _run(config: Config, path: Optional[Path], words: Optional[list[str]] = None) -> None:
    from edge_agent.assembly import build_agent
    from edge_agent.sdnotify import SystemdNotifier

    lifecycle = _Lifecycle(path)
    import asyncio

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lifecycle.terminate)
    loop.add_signal_handler(signal.SIGHUP, lifecycle.reload)
    log.info("edge-agent %s starting: %s", __version__, describe(config, path))
    while True:
        agent = build_agent(config)
        await agent.run(lifecycle.current_stop)
        if lifecycle.finished or lifecycle.next_config is None:
            return
        config, lifecycle.next_config = lifecycle.next_config, None
        log.info("edge-agent %s reloaded: %s", __version__, describe(config, path))
        lifecycle.current_stop = asyncio.Event()
        SystemdNotifier().reloading()
        if _ssl_left_out() and needs_ssl(config):
            if words is not None:
                from edge_agent.plain_config import dumps

                _run_lean(dumps(config), words)  # a fresh interpreter that may load ssl; returns if it cannot
            for name in OPENSSL_MODULES:  # could not: what imports ssl from now on gets it
                if sys.modules.get(name, 0) is None:
                    del sys.modules[name]
