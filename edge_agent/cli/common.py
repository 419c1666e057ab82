"""What several subcommands share: the ``-c FILE`` option and turning it into a Config."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from edge_agent.config import Config
    from edge_agent.config.sources import Reads
    from edge_agent.errors import ConfigError

CONFIG_HELP = (
    "the TOML config file (default: $EDGE_AGENT_CONFIG, else /etc/edge-agent/edge-agent.toml as root, "
    "~/.config/edge-agent/edge-agent.toml on Termux, and for another user the first of these two "
    "that exists)"
)


def add_config_argument(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        required=required,
        metavar="FILE",
        help=CONFIG_HELP + "; none found: built-in defaults",
    )


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def config_path(args: argparse.Namespace) -> Optional[Path]:
    """The config file the user meant, or None to run on defaults (see :mod:`edge_agent.config.paths`)."""
    if args.config is not None:
        return Path(args.config)
    from edge_agent.config.paths import find_config

    return find_config(os.environ, root=running_as_root())


def load_or_report(args: argparse.Namespace, reads: Optional[Reads] = None) -> Optional[Config]:
    """Load the config; on error print every problem to stderr and return None (exit 2).

    ``reads`` notes what validation read, for the config cache (``run``).
    """
    from edge_agent.config import Config, load_config  # pydantic: only once a config is needed
    from edge_agent.errors import ConfigError

    path = config_path(args)
    try:
        return load_config(path, reads) if path is not None else Config()
    except ConfigError as exc:
        report(exc)
        return None


def report(exc: ConfigError) -> None:
    for problem in exc.problems:
        print(f"error: {problem}", file=sys.stderr)
