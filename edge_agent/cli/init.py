"""``edge-agent init [-c FILE] [--mqtt HOST[:PORT]] [--force]``: write a starter config.

The file passes ``edge-agent check`` as written: the device id is the hostname (made
valid), metrics are on, ``[mqtt]`` is there only with ``--mqtt``, no vendor endpoints, and
the store is where this platform keeps state (see :mod:`edge_agent.config.paths`).
An existing file is never replaced without ``--force``: installers call ``init`` on every
install, and an upgrade must keep the user's config.

Exit codes: 0 written; 1 the file could not be written (permissions, disk); 2 refused:
the file exists (without ``--force``) or an option is invalid.

The file is written atomically (a temporary file beside it, then a rename), with mode
0600, or 0640 as root with the group ``edge-agent`` when that group exists (the service
reads it; it may later hold secrets, so never world-readable).
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import socket
import sys
import tempfile
from pathlib import Path
from typing import Optional

from edge_agent.cli.common import report, running_as_root
from edge_agent.config import parse_config
from edge_agent.config.paths import PLATFORMS, default_config_path, detect_platform, starter_store_path
from edge_agent.config.preflight import filesystem_problems
from edge_agent.config.sections import TOPIC_LEVEL_PATTERN, device_id_from_hostname
from edge_agent.config.starter import DEFAULT_MQTT_PORT, Starter, render
from edge_agent.errors import ConfigError

EXIT_WRITTEN = 0
EXIT_WRITE_FAILED = 1
EXIT_REFUSED = 2

SERVICE_GROUP = "edge-agent"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        metavar="FILE",
        help="where to write (default: the file the other commands read: $EDGE_AGENT_CONFIG, else "
        "/etc/edge-agent/edge-agent.toml as root, ~/.config/edge-agent/edge-agent.toml on Termux "
        "or for another user)",
    )
    parser.add_argument(
        "--mqtt",
        type=broker_address,
        metavar="HOST[:PORT]",
        help=f"add an [mqtt] table for this broker (port default {DEFAULT_MQTT_PORT}; IPv6 as [::1]:1883)",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    parser.add_argument(
        "--device-id", type=device_id, metavar="ID", help="the device id (default: the hostname, made valid)"
    )
    parser.add_argument(
        "--platform",
        choices=PLATFORMS,
        help="the platform whose paths to use, and [metrics] platform (default: detected; Termux "
        "when $TERMUX_VERSION is set or $PREFIX contains com.termux)",
    )
    parser.add_argument(
        "--storage",
        type=Path,
        metavar="PATH",
        help="the store's SQLite file (default: /var/lib/edge-agent/edge-agent.db as root on Linux, "
        "else edge-agent/edge-agent.db under $XDG_STATE_HOME or ~/.local/state)",
    )
    parser.epilog = (
        "exit status: 0 written; 1 the file could not be written; 2 refused: the file exists "
        "(without --force) or an option is invalid"
    )


def broker_address(text: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[IPv6]`` or ``[IPv6]:PORT``; a URL or a bad port is refused."""
    if "://" in text:
        raise argparse.ArgumentTypeError(f"{text!r} is a URL; give HOST or HOST:PORT (e.g. broker.lan:1883)")
    bracketed = re.fullmatch(r"\[([0-9A-Fa-f:.%]+)\](?::(.*))?", text)
    if bracketed:
        host, port_text = bracketed.group(1), bracketed.group(2)
    elif text.count(":") > 1:
        host, port_text = text, None  # a bare IPv6 address: no port can follow it unbracketed
    else:
        host, _, port_text = text.partition(":")
        port_text = port_text if ":" in text else None
    if not host or not re.fullmatch(r"[A-Za-z0-9_.:%-]{1,253}", host):
        raise argparse.ArgumentTypeError(f"{text!r}: {host!r} is not a host name or IP address")
    if port_text is None:
        return host, DEFAULT_MQTT_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: the port {port_text!r} is not a number from 1 to 65535")
    return host, int(port_text)


def device_id(text: str) -> str:
    if not re.match(TOPIC_LEVEL_PATTERN, text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a device id (1-128 letters, digits and _ . : @ -; it is an MQTT topic level)"
        )
    return text


def run(args: argparse.Namespace) -> int:
    env = os.environ
    root = running_as_root()
    platform = args.platform or detect_platform(env)
    target: Path = (args.config or default_config_path(env, root=root, platform=platform)).expanduser()
    target = Path(os.path.abspath(target))
    if target.is_dir():
        print(f"error: {target} is a folder; give the path of the config file", file=sys.stderr)
        return EXIT_REFUSED
    if _exists(target) and not args.force:
        print(
            f"error: {target} exists; edge-agent init never replaces a config (use --force to replace it, "
            f"or check it with: edge-agent check -c {target})",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    host, port = args.mqtt if args.mqtt else (None, DEFAULT_MQTT_PORT)
    hostname = socket.gethostname()
    storage = args.storage or starter_store_path(env, root=root, platform=platform)
    starter = Starter(
        device_id=args.device_id or device_id_from_hostname(hostname),
        storage=Path(os.path.abspath(storage.expanduser())),
        mqtt_host=host,
        mqtt_port=port,
        platform=args.platform,
    )
    text = render(starter)
    try:
        config = parse_config(text, target)  # what we write must load: a bug here must not ship a bad file
    except ConfigError as exc:
        report(exc)
        return EXIT_REFUSED
    if args.device_id is None and starter.device_id in ("localhost", "localhost.localdomain", "edge-device"):
        print(
            f"warning: the hostname is {hostname!r}, so the device id is {starter.device_id!r}; give this "
            "device a name of its own with --device-id (or edit [device] id) before joining a fleet",
            file=sys.stderr,
        )
    try:
        _write_atomically(target, text, replace=args.force, root=root)
    except _TargetExists:
        print(f"error: {target} appeared while writing; not replaced (use --force)", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as exc:
        print(f"error: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_WRITE_FAILED
    for problem in filesystem_problems(config, target):
        print(f"warning: {problem}", file=sys.stderr)
    broker = f"mqtt {host}:{port}" if host else "no broker"
    print(f"wrote {target} (device {starter.device_id}; {broker}; store {starter.storage})")
    print(f"next: edge-agent check -c {target}")
    return EXIT_WRITTEN


class _TargetExists(Exception):
    """The config file was created by someone else between our check and our write."""


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _write_atomically(target: Path, text: str, *, replace: bool, root: bool) -> None:
    """Write ``text`` to ``target`` so a reader sees the old file or the whole new one, never half.

    Without ``replace`` the final step is ``link()``, which fails if ``target`` exists:
    a file created between our check and our write is kept, not overwritten.
    """
    folder = target.parent
    _make_folders(folder, mode=0o755 if root else 0o700)
    mode, gid = _ownership(target, root=root)
    fd, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
            if gid is not None:
                os.fchown(handle.fileno(), -1, gid)
            os.fchmod(handle.fileno(), mode)
        if replace:
            os.replace(temp, target)
        else:
            _link_no_clobber(temp, target)
    finally:
        if temp.exists():
            temp.unlink()
    _sync_folder(folder)


def _link_no_clobber(temp: Path, target: Path) -> None:
    try:
        os.link(temp, target)
    except FileExistsError as exc:
        raise _TargetExists(str(target)) from exc
    except OSError as exc:
        # Some file systems (FAT on an SD card, some Android mounts) have no hard links.
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if _exists(target):
            raise _TargetExists(str(target)) from exc
        os.replace(temp, target)


def _ownership(target: Path, *, root: bool) -> tuple[int, Optional[int]]:
    """Mode and group of the new file: 0600, or 0640 as root, group kept or ``edge-agent``."""
    if not root:
        return 0o600, None
    try:
        return 0o640, target.stat().st_gid  # --force: keep the group an installer chose
    except OSError:
        pass
    try:
        import grp

        return 0o640, grp.getgrnam(SERVICE_GROUP).gr_gid
    except (ImportError, KeyError):
        return 0o640, None


def _make_folders(folder: Path, *, mode: int) -> None:
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(mode=mode)


def _sync_folder(folder: Path) -> None:
    """The rename itself is durable only once the folder is synced (a power cut on a Pi)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
