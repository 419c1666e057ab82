"""What several subcommands share: the ``-c FILE`` option and turning it into a Config."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from edge_agent.config import Config
    from edge_agent.config.cache import ConfigCache
    from edge_agent.config.sources import Reads
    from edge_agent.errors import ConfigError

log = logging.getLogger("edge_agent.cli")

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


def load_kept_or_report(args: argparse.Namespace) -> Optional[Any]:
    """The config for a command that only reads it (``metrics``), as ``run`` would start with it.

    The config cache's entry (:mod:`edge_agent.config.cache`) when nothing it depended on
    changed: plain objects, pydantic never imported, so the command answers in a tenth of
    the time. Otherwise the file is validated as by :func:`load_or_report` (errors printed,
    None returned) and, valid, kept for the next command or start. Without a file, or
    with ``EDGE_AGENT_CONFIG_CACHE=0``, it is :func:`load_or_report`.
    """
    path = config_path(args)
    if path is None:
        return load_or_report(args)
    from edge_agent.config.cache import ConfigCache

    cache = ConfigCache.for_config(path)
    if cache is None:
        return load_or_report(args)
    cached = cache.load()
    if cached is not None:
        return cached.config
    from edge_agent.config.sources import Reads

    reads = Reads()
    config = load_or_report(args, reads)
    if config is not None:
        keep_validated(config, cache, reads)
    return config


def keep_validated(config: Config, cache: Optional[ConfigCache], reads: Optional[Reads]) -> Optional[bytes]:
    """``config``, just validated, as plain objects' bytes, kept in ``cache`` when there is one.

    None when it cannot be made plain (it is then used as it is, where it was validated).
    """
    from edge_agent.plain_config import dumps

    try:
        data = dumps(config)
    except (TypeError, ValueError) as exc:
        log.info("the validated config cannot be made plain data: %s", exc)
        return None
    if cache is not None and reads is not None:
        from edge_agent.config.permissions import secret_names

        cache.save(reads, data, secret_names())
    return data


def report(exc: ConfigError) -> None:
    for problem in exc.problems:
        print(f"error: {problem}", file=sys.stderr)
