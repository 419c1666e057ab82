"""The ``edge-agent`` command: one module per subcommand, listed in :data:`COMMANDS`.

Each module has ``add_arguments(parser)`` and ``run(args) -> int`` (the exit code), and
keeps its heavy imports (paho, httpx, the simulators) inside ``run``, so that
``edge-agent check`` on a Pi Zero does not pay for them. Nothing imports
this package but ``__main__`` and the console script.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional

from edge_agent import __version__

# name -> (module under edge_agent.cli, one-line help). Explicit, so nothing is loaded by accident.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init", "TEMP: write a minimal starter config"),
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
        "run the agent against the five vendor simulators on an embedded broker, with a live view",
    ),
}

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-agent",
        description="MQTT-bridged IoT edge agent: metrics, vendor heartbeats, safe actions.",
    )
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="how much to log to stderr (default: warning)",
    )
    parser.add_argument("--log-json", action="store_true", help="log one JSON object per line")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(_module=module_name)
        _load(module_name).add_arguments(sub)
    return parser


def _load(module_name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"edge_agent.cli.{module_name}")


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from edge_agent.logs import setup_logging

    setup_logging(args.log_level, json_lines=args.log_json)
    try:
        return int(_load(args._module).run(args))
    except KeyboardInterrupt:
        return 130
