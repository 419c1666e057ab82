"""What ``edge-agent check`` verifies beyond the file itself: can this user use the paths it names?

Loading a config proves its values are well formed (and reads its secret files). It does
not prove the store's folder can be created, or that a CA file is there: those failed
only later, in ``run``, after the installer had reported success. These checks touch
nothing: the store is judged by the nearest folder that exists (``os.access`` for write
and search), so ``check`` leaves no folder or file behind.

``run`` makes the same checks on a config reused from the config cache (the plain objects
of :mod:`edge_agent.plain_config`): nothing here imports pydantic.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from edge_agent.config.keylines import find_key_line

if TYPE_CHECKING:
    from edge_agent.config.loader import Config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Raspberry Pi OS Bullseye
    import tomli as tomllib


def filesystem_problems(config: Config, path: Optional[Path]) -> list[str]:
    """One line per path this user cannot use, naming the file, the key, the line and why."""
    text = _text(path)
    # (key path, reason, written in the file: else it is a default, with no line to point at)
    problems: list[tuple[list[str], str, bool]] = []
    store = _store_problem(config.storage.path)
    if store:
        written = _written(config.storage, "storage", "path", text)
        reason = store if written else f"{store} (not set: the default)"
        problems.append((["storage", "path"], reason, written))
    if config.mqtt is not None:
        for key in ("ca_file", "cert_file", "key_file"):
            problem = _readable_file(getattr(config.mqtt, key))
            if problem:
                problems.append((["mqtt", key], problem, True))
    for name, endpoint in config.heartbeats.items():
        problem = _readable_file(endpoint.ca_file)
        if problem:
            problems.append((["heartbeats", name, "ca_file"], problem, True))
    root = config.metrics.host_root
    if not root.is_dir():
        written = _written(config.metrics, "metrics", "host_root", text)
        problems.append((["metrics", "host_root"], f"{str(root)!r} is not a folder", written))
    return [_line(path, text if written else "", key, reason) for key, reason, written in problems]


def _written(section: Any, table: str, key: str, text: str) -> bool:
    """Whether ``key`` of ``table`` was given (in the file or in code), not left to its default.

    A validated model knows (``model_fields_set``); a plain config from the cache does not,
    and the file it was validated from (unchanged, or the cache would not have been used)
    says the same.
    """
    fields_set = getattr(section, "model_fields_set", None)
    if fields_set is not None:
        return key in fields_set
    try:
        table_data = tomllib.loads(text).get(table)
    except tomllib.TOMLDecodeError:
        return False
    return isinstance(table_data, dict) and key in table_data


def _store_problem(store: Path) -> Optional[str]:
    store = store.expanduser()
    if store.is_dir():
        return f"{str(store)!r} is a folder; give the path of the database file inside it"
    if store.exists():
        if not os.access(store, os.R_OK | os.W_OK):
            return f"{str(store)!r} exists but this user (uid {_uid()}) cannot read and write it"
        folder = store.parent
        if not os.access(folder, os.W_OK | os.X_OK):
            return (
                f"this user (uid {_uid()}) cannot write in {str(folder)!r}, where SQLite keeps the "
                "store's journal beside it"
            )
        return None
    ancestor = store.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{str(store)!r} cannot be created: {str(ancestor)!r} is a file, not a folder"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return (
            f"{str(store)!r} cannot be created: this user (uid {_uid()}) cannot write in "
            f"{str(ancestor)!r}, its nearest existing folder"
        )
    return None


def _readable_file(file: Optional[Path]) -> Optional[str]:
    if file is None:
        return None
    file = file.expanduser()
    if not file.exists():
        return f"{str(file)!r} does not exist"
    if not file.is_file():
        return f"{str(file)!r} is not a file"
    if not os.access(file, os.R_OK):
        return f"{str(file)!r} is not readable by this user (uid {_uid()})"
    return None


def _uid() -> object:
    return os.geteuid() if hasattr(os, "geteuid") else "?"


def _text(path: Optional[Path]) -> str:
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _line(path: Optional[Path], text: str, key: list[str], reason: str) -> str:
    where = str(path) if path is not None else "built-in defaults"
    line = find_key_line(text, key)
    return f"{where}: {'.'.join(key)}: {reason}" + (f" (line {line})" if line else "")
