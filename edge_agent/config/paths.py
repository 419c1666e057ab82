"""Where the config file and the store live on each platform, for ``init`` and every command.

One table, so that ``edge-agent init`` writes the file the other commands then read::

    platform            config file                                store
    Termux              ~/.config/edge-agent/edge-agent.toml       ~/.local/state/edge-agent/edge-agent.db
    Linux, as root      /etc/edge-agent/edge-agent.toml            /var/lib/edge-agent/edge-agent.db
    Linux, a user       ~/.config/edge-agent/edge-agent.toml,      ~/.local/state/edge-agent/edge-agent.db
                        else /etc/edge-agent/edge-agent.toml

``$EDGE_AGENT_CONFIG`` overrides the config file everywhere; ``$XDG_CONFIG_HOME`` and
``$XDG_STATE_HOME`` replace ``~/.config`` and ``~/.local/state``. Termux has no ``/etc``
or ``/var`` an app may write (they live under ``$PREFIX``, which a reinstall wipes), so
everything goes under ``$HOME``. The environment and "am I root" are passed in, so tests
choose the platform.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

SYSTEM_CONFIG = Path("/etc/edge-agent/edge-agent.toml")
SYSTEM_STORE = Path("/var/lib/edge-agent/edge-agent.db")
PLATFORMS = ("linux", "termux")


def is_termux(env: Mapping[str, str]) -> bool:
    """Termux sets ``TERMUX_VERSION`` in its shells, and its ``PREFIX`` is inside com.termux."""
    return bool(env.get("TERMUX_VERSION")) or "com.termux" in env.get("PREFIX", "")


def detect_platform(env: Mapping[str, str]) -> str:
    return "termux" if is_termux(env) else "linux"


def _home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or os.path.expanduser("~"))


def user_config_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(_home(env) / ".config")
    return Path(base) / "edge-agent" / "edge-agent.toml"


def config_candidates(env: Mapping[str, str], *, root: bool, platform: Optional[str] = None) -> list[Path]:
    """The config files a command looks for, in order (``$EDGE_AGENT_CONFIG`` aside)."""
    platform = platform or detect_platform(env)
    if platform == "termux":
        return [user_config_path(env)]
    if root:
        return [SYSTEM_CONFIG]
    return [user_config_path(env), SYSTEM_CONFIG]


def default_config_path(env: Mapping[str, str], *, root: bool, platform: Optional[str] = None) -> Path:
    """Where ``init`` writes when not told: ``$EDGE_AGENT_CONFIG``, else the first candidate."""
    configured = env.get("EDGE_AGENT_CONFIG")
    if configured:
        return Path(configured).expanduser()
    return config_candidates(env, root=root, platform=platform)[0]


def find_config(env: Mapping[str, str], *, root: bool) -> Optional[Path]:
    """The config file a command reads when not told: ``$EDGE_AGENT_CONFIG``, else the first that exists."""
    configured = env.get("EDGE_AGENT_CONFIG")
    if configured:
        return Path(configured).expanduser()
    return next((path for path in config_candidates(env, root=root) if path.exists()), None)


def starter_store_path(env: Mapping[str, str], *, root: bool, platform: Optional[str] = None) -> Path:
    """The store path ``init`` writes: the system state folder for root on Linux, else under $HOME."""
    platform = platform or detect_platform(env)
    if platform == "linux" and root:
        return SYSTEM_STORE
    base = env.get("XDG_STATE_HOME") or str(_home(env) / ".local" / "state")
    return Path(base) / "edge-agent" / "edge-agent.db"
