"""A config file that holds secrets inline must not be readable by others.

Inline secrets (``token = "..."`` rather than ``token_file`` or ``token_env``) are fine for
a demo; on a shared machine a world- or group-readable file gives them away. ``check``
and ``run`` print one warning line naming the file and the keys (never the values).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any, Optional

from edge_agent.config.heartbeats import HeartbeatBase
from edge_agent.config.sections import ActionsConfig, MqttConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Raspberry Pi OS Bullseye
    import tomli as tomllib


def _heartbeat_secret_names() -> set[str]:
    names: set[str] = set()
    pending = list(HeartbeatBase.__subclasses__())
    while pending:
        cls = pending.pop()
        names.update(cls.secret_fields)
        pending.extend(cls.__subclasses__())
    return names


def inline_secret_keys(path: Path) -> list[str]:
    """The dotted keys of ``path`` that hold a secret inline (empty when it cannot be read)."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    found: list[str] = []
    for table, names in (("mqtt", MqttConfig.secret_fields), ("actions", ActionsConfig.secret_fields)):
        section = data.get(table)
        if isinstance(section, dict):
            found += [f"{table}.{name}" for name in names if isinstance(section.get(name), str)]
    heartbeats = data.get("heartbeats")
    if isinstance(heartbeats, dict):
        secret_names = _heartbeat_secret_names()
        for endpoint, section in heartbeats.items():
            if isinstance(section, dict):
                found += [
                    f"heartbeats.{endpoint}.{name}"
                    for name in sorted(secret_names)
                    if isinstance(section.get(name), str)
                ]
    return found


def secret_exposure_warning(path: Optional[Path]) -> Optional[str]:
    """One warning line when ``path`` holds inline secrets and its group or others may read it."""
    if path is None:
        return None
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    if not mode & (stat.S_IRGRP | stat.S_IROTH):
        return None
    keys = inline_secret_keys(path)
    if not keys:
        return None
    who = " and ".join(w for w, bit in (("its group", stat.S_IRGRP), ("others", stat.S_IROTH)) if mode & bit)
    return (
        f"warning: {path} holds secrets inline ({', '.join(keys)}) and is readable by {who} "
        f"(mode {mode:04o}): chmod 600 it, or use <key>_file / <key>_env"
    )


def warn_if_exposed(path: Optional[Path]) -> None:
    """Print :func:`secret_exposure_warning` to stderr, if there is one."""
    warning = secret_exposure_warning(path)
    if warning is not None:
        print(warning, file=sys.stderr)
