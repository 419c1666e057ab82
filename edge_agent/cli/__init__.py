"""The ``edge-agent`` command: one module per subcommand, listed in :data:`COMMANDS`.

Each module has ``add_arguments(parser)`` and ``run(args) -> int`` (the exit code), and
keeps its heavy imports (paho, the HTTP transport, the simulators) inside ``run``, so that
``edge-agent check`` on a Pi Zero does not pay for them. Nothing imports
this package but ``__main__`` and the console script.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Optional

from edge_agent import __version__

# name -> (module under edge_agent.cli, one-line help). Explicit, so nothing is loaded by accident.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init", "write a minimal starter config that passes check (never over an existing file)"),
    "check": ("check", "validate a config file; exit 0 if valid, 2 with the errors if not"),
    "sign": ("sign", "sign an action JSON with the MQTT command secret"),
    "metrics": ("metrics", "print one metric snapshot (a table, or JSON with --json)"),
    "simulate": ("simulate", "run one vendor's server simulator on 127.0.0.1 for integration tests"),
    "run": ("run", "run the agent until SIGTERM or SIGINT"),
    "status": ("status", "what the local agent is doing now, read from its store"),
    "heartbeat": ("heartbeat", "send one heartbeat to an endpoint, or print it with --dry-run"),
    "watch": ("watch", "live table of every device under a prefix on any broker"),
    "send": ("send", "send an action to a device over MQTT and wait for its result"),
    "demo": (
        "demo",
        "run the agent against every vendor simulator on an embedded broker, with a live view",
    ),
}

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

LOG_LEVELS = ["debug", "info", "warning", "error"]
DEFAULT_LOG_LEVEL = "warning"


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """``--log-level`` and ``--log-json``, on the main parser and again on each subcommand.

    On a subcommand their defaults are SUPPRESS, so an option given before the subcommand
    is not reset by the subcommand's own default: ``edge-agent --log-level info run`` and
    ``edge-agent run --log-level info`` mean the same.
    """
    default: object = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--log-level",
        default=default,
        choices=LOG_LEVELS,
        help=f"how much to log to stderr (default: {DEFAULT_LOG_LEVEL}; for run, info for "
        "edge-agent's own messages)",
    )
    parser.add_argument(
        "--log-json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="log one JSON object per line",
    )


def build_parser(argv: Optional[list[str]] = None) -> argparse.ArgumentParser:
    """The whole command line; with ``argv``, only the subcommand it names gets its options.

    Loading a subcommand's module to add its options imports what that module needs at
    the top (``watch`` and ``send`` the MQTT client, ``status`` the store); the one named
    on the command line is all a run needs, which keeps ``check`` and ``metrics`` quick.
    """
    parser = argparse.ArgumentParser(
        prog="edge-agent",
        description="MQTT-bridged IoT edge agent: metrics, vendor heartbeats, safe actions.",
    )
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    _add_global_options(parser, suppress=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = _chosen_command(argv) if argv is not None else None
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(_module=module_name)
        if chosen is None or name == chosen:
            _load(module_name).add_arguments(sub)
        _add_global_options(sub, suppress=True)
    return parser


def _chosen_command(argv: list[str]) -> Optional[str]:
    """The subcommand ``argv`` names (the first word that is one; options before it take no word
    that could be), or None when there is none and every subcommand is loaded as before."""
    for word in argv:
        if word in COMMANDS:
            return word
    return None


def _load(module_name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"edge_agent.cli.{module_name}")


TAKES_CPU_START = ("run", "metrics")
"""Subcommands whose first snapshot measures CPU from the process's start (:mod:`edge_agent.startup_cpu`)."""


def main(argv: Optional[list[str]] = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    if _chosen_command(words) in TAKES_CPU_START:
        from edge_agent import startup_cpu

        startup_cpu.take()  # first, so the start-up is the first CPU figure's window
    parser = build_parser(words)
    args = parser.parse_args(words)
    args._words = words if argv is None else None  # what a subcommand may exec itself again with
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from edge_agent.logs import setup_logging

    # run with no --log-level says what it is doing (its own start line, broker connected,
    # actions queued: a handful of lines, not one per cycle); the other commands print
    # their result and stay quiet. Libraries stay at warning either way (see logs.py).
    setup_logging(args.log_level or DEFAULT_LOG_LEVEL, json_lines=args.log_json)
    if args.log_level is None and args.command == "run":
        logging.getLogger("edge_agent").setLevel(logging.INFO)
    try:
        return int(_load(args._module).run(args))
    except KeyboardInterrupt:
        return 130
