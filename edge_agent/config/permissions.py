"""A config file that holds secrets inline must not be readable by others.

Inline secrets (``token = "..."`` rather than ``token_file`` or ``token_env``) are fine for
a demo; on a shared machine a world- or group-readable file gives them away. ``check``
and ``run`` print one warning line naming the file and the keys (never the values).

Which keys are secrets is the models' knowledge (:func:`secret_names`, which loads them);
``run`` reusing a cached config passes the names the cache kept, so that this check looks
at the file as it is now without loading pydantic.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any, Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Raspberry Pi OS Bullseye
    import tomli as tomllib


SecretNames = dict[str, list[str]]
"""Table (``mqtt``, ``actions``, and ``heartbeats`` for every endpoint) -> its secret keys."""


def secret_names() -> SecretNames:
    """The secret keys of each table, from the config models (this loads them, and pydantic)."""
    from edge_agent.config.heartbeats import HeartbeatBase
    from edge_agent.config.sections import ActionsConfig, MqttConfig

    heartbeat: set[str] = set()
    pending = list(HeartbeatBase.__subclasses__())
    while pending:
        cls = pending.pop()
        heartbeat.update(cls.secret_fields)
        pending.extend(cls.__subclasses__())
    return {
        "mqtt": list(MqttConfig.secret_fields),
        "actions": list(ActionsConfig.secret_fields),
        "heartbeats": sorted(heartbeat),
    }


def inline_secret_keys(path: Path, names: Optional[SecretNames] = None) -> list[str]:
    """The dotted keys of ``path`` that hold a secret inline (empty when it cannot be read)."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    if names is None:
        names = secret_names()
    found: list[str] = []
    for table in ("mqtt", "actions"):
        section = data.get(table)
        if isinstance(section, dict):
            found += [f"{table}.{name}" for name in names[table] if isinstance(section.get(name), str)]
    heartbeats = data.get("heartbeats")
    if isinstance(heartbeats, dict):
        endpoint_names = sorted(names["heartbeats"])
        for endpoint, section in heartbeats.items():
            if isinstance(section, dict):
                found += [
                    f"heartbeats.{endpoint}.{name}"
                    for name in endpoint_names
                    if isinstance(section.get(name), str)
                ]
    return found


def secret_exposure_warning(path: Optional[Path], names: Optional[SecretNames] = None) -> Optional[str]:
    """One warning line when ``path`` holds inline secrets and its group or others may read it."""
    if path is None:
        return None
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    if not mode & (stat.S_IRGRP | stat.S_IROTH):
        return None
    keys = inline_secret_keys(path, names)
    if not keys:
        return None
    who = " and ".join(w for w, bit in (("its group", stat.S_IRGRP), ("others", stat.S_IROTH)) if mode & bit)
    return (
        f"warning: {path} holds secrets inline ({', '.join(keys)}) and is readable by {who} "
        f"(mode {mode:04o}): chmod 600 it, or use <key>_file / <key>_env"
    )


def warn_if_exposed(path: Optional[Path], names: Optional[SecretNames] = None) -> None:
    """Print :func:`secret_exposure_warning` to stderr, if there is one."""
    warning = secret_exposure_warning(path, names)
    if warning is not None:
        print(warning, file=sys.stderr)
