"""``edge-agent check -c FILE``: validate a config without running anything.

Exit 0: the file is valid and every path it names is usable by this user; exit 2: the
errors, one per line, each naming the file, the key, the line and the reason.
"""

from __future__ import annotations

import argparse
import sys

from edge_agent.cli.common import add_config_argument, config_path, load_or_report
from edge_agent.config.permissions import warn_if_exposed
from edge_agent.config.preflight import filesystem_problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    config = load_or_report(args)
    if config is None:
        return 2
    path = config_path(args)
    warn_if_exposed(path)
    problems = filesystem_problems(config, path)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 2
    where = str(path) if path is not None else "built-in defaults"
    endpoints = ", ".join(f"{name} ({hb.vendor})" for name, hb in config.heartbeats.items()) or "none"
    mqtt = f"{config.mqtt.host}:{config.mqtt.port}" if config.mqtt else "off"
    print(f"{where}: ok (device {config.device.id}; mqtt {mqtt}; heartbeats: {endpoints})")
    return 0
