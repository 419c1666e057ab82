"""``edge-agent run -c FILE``: run the agent until SIGTERM or SIGINT, then leave cleanly (exit 0).

Exit codes: 0 stopped by a signal; 1 an error; 2 the config is invalid; 75 (EX_TEMPFAIL)
the store cannot be opened now (disk full, I/O error, locked: the file is kept, a restart
later may work); 65 (EX_DATAERR) the store was written by a newer release and is refused
untouched.

SIGHUP reloads the config file: a valid new config replaces the running parts in-process
(subscribers see a brief ``offline``/``online``); an invalid one is refused with its
errors in the log, and the old config keeps running.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Optional

from edge_agent import __version__
from edge_agent.cli.common import add_config_argument, config_path, load_or_report
from edge_agent.config import Config

log = logging.getLogger("edge_agent.run")

EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_STORE_NEWER = 65
"""The store's schema is newer than this release: refused, the file untouched."""
EXIT_STORE_UNAVAILABLE = 75
"""The store cannot be opened now (disk full, I/O error, locked); the file is kept."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args)
    if config is None:
        return EXIT_CONFIG
    from edge_agent.config.permissions import warn_if_exposed
    from edge_agent.config.preflight import filesystem_problems
    from edge_agent.errors import EdgeAgentError, StoreSchemaError, StoreUnavailable

    warn_if_exposed(config_path(args))
    # The same path checks as `check`, as the user the service runs as: a store it cannot
    # create is a config error (exit 2, which the unit and the Termux boot script do not
    # retry), not a crash to be restarted every few seconds for ever.
    problems = filesystem_problems(config, config_path(args))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return EXIT_CONFIG
    try:
        asyncio.run(_run(config, config_path(args)))
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


class _Lifecycle:
    """What the signals asked for: stop for good, or stop and come back with a new config."""

    def __init__(self, path: Optional[Path]) -> None:
        self.path = path
        self.finished = False
        self.next_config: Optional[Config] = None
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


async def _run(config: Config, path: Optional[Path]) -> None:
    from edge_agent.assembly import build_agent
    from edge_agent.sdnotify import SystemdNotifier

    lifecycle = _Lifecycle(path)
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
