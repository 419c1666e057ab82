"""``edge-agent sign``: sign an action for ``<prefix>/<id>/cmd`` with the MQTT command secret.

Reads one JSON action from the argument (or stdin when it is absent or ``-``), adds an
``id`` (random) and an ``expires_at`` (now + ``--ttl``) when missing and the ``device``
it is for (``--device``, the ``[device] id``; the signature covers it, so the command
runs on that device only), and prints the signed JSON on one line, ready for
``mosquitto_pub -m``. The shell-only recipe that gives the same signature is in
docs/actions.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from edge_agent.actions.signing import sign
from edge_agent.errors import ActionRejected
from edge_agent.model import SystemClock


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", default="-", help="the action JSON (default: read stdin)")
    parser.add_argument(
        "--secret-file",
        type=Path,
        required=True,
        metavar="FILE",
        help="the file holding [actions] mqtt_secret (surrounding whitespace is ignored, as the agent does)",
    )
    parser.add_argument(
        "--device",
        metavar="ID",
        help='the [device] id the command is for (required unless the action names its "device")',
    )
    parser.add_argument(
        "--ttl",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="expires_at, when the action has none: now + this (default: 300)",
    )


def run(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.action == "-" else args.action
    try:
        action = json.loads(text)
    except ValueError as exc:
        print(f"error: the action is not JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(action, dict):
        print("error: the action must be a JSON object", file=sys.stderr)
        return 2
    try:
        secret = args.secret_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        print(f"error: cannot read {args.secret_file}: {exc.strerror}", file=sys.stderr)
        return 2
    if not secret:
        print(f"error: {args.secret_file} is empty", file=sys.stderr)
        return 2
    action.setdefault("id", uuid.uuid4().hex)
    try:
        expires_at = SystemClock().now() + timedelta(seconds=args.ttl)
        signed = sign(action, secret, expires_at=expires_at, device=args.device)
    except ActionRejected as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    return 0
