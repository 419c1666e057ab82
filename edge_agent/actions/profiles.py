"""Default argv templates per platform, and the table that merges them with ``[actions.commands]``.

A profile is a read-only table ``key -> argv``; the key is an action type, or
``TYPE/VARIANT`` for a variant (MESSAGE's ``notify``: ``MESSAGE/SOUND``, ``MESSAGE/READ``).
Lookup takes the most specific key, config before profile::

    [actions.commands] "TYPE/VARIANT"  ->  [actions.commands] TYPE  ->  profile TYPE/VARIANT  ->  profile TYPE

so an operator's ``MESSAGE = [...]`` replaces every MESSAGE variant of the profile.
A type with no template anywhere cannot run (its actions are rejected, saying so).

``profile = "auto"`` picks ``termux`` when ``TERMUX_VERSION`` is set or ``PREFIX``
contains ``com.termux``, ``raspberrypi`` (any Debian-like Linux) on Linux, else ``none``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Optional

from edge_agent.actions.schema import normalise_type
from edge_agent.actions.templates import check_template
from edge_agent.errors import ActionRejected

if TYPE_CHECKING:
    from edge_agent.config import ActionsConfig

Argv = tuple[str, ...]

_NOTIFY_SEND = ("notify-send", "--app-name=edge-agent")

RASPBERRYPI_DESKTOP_MESSAGES: Mapping[str, Argv] = MappingProxyType(
    {
        "MESSAGE": (*_NOTIFY_SEND, "--", "edge-agent", "{message}"),
        "MESSAGE/READ": (*_NOTIFY_SEND, "--urgency=critical", "--", "edge-agent", "{message}"),
        "MESSAGE/SOUND": (
            *_NOTIFY_SEND,
            "--urgency=critical",
            "--hint=string:sound-name:message-new-instant",
            "--",
            "edge-agent",
            "{message}",
        ),
    }
)

# No desktop session (a service on Raspberry Pi OS Lite): messages go to the journal.
RASPBERRYPI_HEADLESS_MESSAGES: Mapping[str, Argv] = MappingProxyType(
    {"MESSAGE": ("logger", "--tag", "edge-agent", "--priority", "user.notice", "--", "{message}")}
)

RASPBERRYPI: Mapping[str, Argv] = MappingProxyType(
    {
        "REBOOT": ("systemctl", "reboot"),
        "START_APP": ("gtk-launch", "{app}"),
        "VIDEO": ("cvlc", "--play-and-exit", "--fullscreen", "{video}"),
        "DUMP": ("journalctl", "--unit=edge-agent", "--lines=200", "--no-pager"),
    }
)

RASPBERRYPI_UPDATES: Mapping[str, Argv] = MappingProxyType(
    {
        "apt": ("apt-get", "install", "--yes", "--only-upgrade", "{app}={version}"),
        "pip": ("python3", "-m", "pip", "install", "--upgrade", "{app}=={version}"),
    }
)

TERMUX: Mapping[str, Argv] = MappingProxyType(
    {
        "MESSAGE": ("termux-toast", "--", "{message}"),
        "MESSAGE/READ": (
            "termux-notification",
            "--id",
            "{action_id}",
            "--title",
            "edge-agent",
            "--content",
            "{message:value}",
        ),
        "MESSAGE/SOUND": (
            "termux-notification",
            "--id",
            "{action_id}",
            "--sound",
            "--priority",
            "high",
            "--title",
            "edge-agent",
            "--content",
            "{message:value}",
        ),
        "REBOOT": ("su", "-c", "reboot"),
        "START_APP": (
            "am",
            "start",
            "-a",
            "android.intent.action.MAIN",
            "-c",
            "android.intent.category.LAUNCHER",
            "-p",
            "{app}",
            "{extras}",
        ),
        "VIDEO": ("termux-open-url", "{video}"),
        "DUMP": ("logcat", "-d", "-t", "200"),
    }
)

PROFILE_NAMES = ("raspberrypi", "termux", "none")


def is_termux(env: Mapping[str, str]) -> bool:
    return bool(env.get("TERMUX_VERSION")) or "com.termux" in env.get("PREFIX", "")


def has_desktop(env: Mapping[str, str]) -> bool:
    """A graphical session to show notifications on (else messages go to the journal)."""
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def choose_profile(configured: str, *, platform: Optional[str], env: Mapping[str, str]) -> str:
    """The profile to use: the configured one, or for "auto" the one matching the platform.

    ``platform`` is ``[metrics] platform`` ("linux" or "termux"), or None to detect it.
    """
    if configured != "auto":
        return configured
    if platform == "termux" or (platform in (None, "auto") and is_termux(env)):
        return "termux"
    if platform == "linux" or (platform in (None, "auto") and sys.platform.startswith("linux")):
        return "raspberrypi"
    return "none"


def profile_commands(profile: str, *, env: Mapping[str, str], update_method: str) -> dict[str, Argv]:
    """The default templates of ``profile`` on this device."""
    if profile == "termux":
        return dict(TERMUX)
    if profile == "raspberrypi":
        messages = RASPBERRYPI_DESKTOP_MESSAGES if has_desktop(env) else RASPBERRYPI_HEADLESS_MESSAGES
        return {**RASPBERRYPI, **messages, "UPDATE_APP": RASPBERRYPI_UPDATES[update_method]}
    return {}


class CommandTable:
    """The argv template for each action type: ``[actions.commands]`` over the profile's defaults."""

    def __init__(
        self, profile: str, defaults: Mapping[str, Argv], overrides: Mapping[str, list[str]]
    ) -> None:
        self.profile = profile
        self._defaults = dict(defaults)
        self._overrides = {_normalise_key(key): tuple(argv) for key, argv in overrides.items()}
        for key, argv in self._overrides.items():
            try:
                check_template(argv)
            except ValueError as exc:
                raise ActionRejected(f"commands.{key}: {exc}") from exc

    @classmethod
    def from_config(
        cls, config: ActionsConfig, *, platform: Optional[str], env: Mapping[str, str]
    ) -> CommandTable:
        profile = choose_profile(config.profile, platform=platform, env=env)
        defaults = profile_commands(profile, env=env, update_method=config.update_method)
        return cls(profile, defaults, config.commands)

    def lookup(self, action_type: str, variant: str = "") -> Optional[Argv]:
        """The most specific template for ``action_type`` (and its variant), or None."""
        keys = [f"{action_type}/{variant}", action_type] if variant else [action_type]
        for table in (self._overrides, self._defaults):
            for key in keys:
                if key in table:
                    return table[key]
        return None


def _normalise_key(key: str) -> str:
    action_type, sep, variant = key.partition("/")
    return normalise_type(action_type) + (sep + variant.upper() if sep else "")
