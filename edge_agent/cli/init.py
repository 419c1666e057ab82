"""TEMPORARY ``edge-agent init`` so the installer tests run in this branch (the real one lands separately).

Writes a minimal config that passes ``check``: device id from the hostname, metrics on,
MQTT when ``--mqtt`` is given, no vendor endpoints, the store in the platform's default
place. Refuses to overwrite an existing file without ``--force``.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, default=Path("/etc/edge-agent/edge-agent.toml"))
    parser.add_argument("--mqtt", metavar="HOST[:PORT]")
    parser.add_argument("--force", action="store_true")


def run(args: argparse.Namespace) -> int:
    path: Path = args.config
    if path.exists() and not args.force:
        print(f"error: {path} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    device = re.sub(r"[^A-Za-z0-9_.:@-]", "-", socket.gethostname()) or "edge-agent"
    lines = [f'[device]\nid = "{device}"\n', "[metrics]\ninterval = 30.0\n"]
    if args.mqtt:
        host, _, port = args.mqtt.partition(":")
        lines.append(f'[mqtt]\nhost = "{host}"\nport = {int(port or 1883)}\n')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Written by edge-agent init; every option: conf/edge-agent.toml\n\n" + "\n".join(lines))
    os.chmod(path, 0o640)
    print(f"wrote {path}")
    return 0
