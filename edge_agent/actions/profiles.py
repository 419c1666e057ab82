"""Default argv templates per platform, and the table that merges them with ``[actions.commands]``.

A profile is a read-only table ``key -> argv``; the key is an action type, or
``TYPE/VARIANT`` for a variant (MESSAGE's ``notify``: ``MESSAGE/SOUND``, ``MESSAGE/READ``).
Lookup takes the most specific key, config before profile::

    [actions.commands] "TYPE/VARIANT"  ->  [actions.commands] TYPE  ->  profile TYPE/VARIANT  ->  profile TYPE

so an operator's ``MESSAGE = [...]`` replaces every MESSAGE variant of the profile.
A type with no template anywhere cannot run (its actions are rejected, saying so).

``profile = "auto"`` picks ``termux`` when ``TERMUX_VERSION`` is set or ``PREFIX``
contains ``com.termux``, ``raspberrypi`` (any Debian-like Linux) on Linux, else ``none``.

On ``raspberrypi``, the display actions (MESSAGE, START_APP, VIDEO) must appear on the
screen of whoever is logged in to the desktop, not in the agent's own display-less
service. Unless the agent already runs inside a desktop session (``DISPLAY`` or
``WAYLAND_DISPLAY`` set) or ``[actions] desktop_user = "none"``, their templates are
``[actions] desktop_switch`` followed by the program::

    sudo -n -u {desktop_user} -- env {session_env} notify-send ... -- edge-agent {message}
    sudo -n -u {desktop_user} -- env {session_env} systemd-run --user ... -- gtk-launch {app}

``{desktop_user}``, ``{session_env}`` (``NAME=value`` elements) and ``{session_setenv}``
(the same as ``--setenv=NAME=value``) are filled from the session
:mod:`edge_agent.actions.desktop` finds when the action runs, never from a payload.
``[actions.commands]`` overrides run as written; they may use the same placeholders.
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

DISPLAY_TYPES = ("MESSAGE", "START_APP", "VIDEO")
DESKTOP_PLACEHOLDERS = ("desktop_user", "session_env", "session_setenv")

# An app or a player started from the service would live in the agent's cgroup and
# sandbox (MemoryMax=128M, MemoryDenyWriteExecute, RestrictNamespaces: a browser cannot
# run there) and die when the agent restarts. The user's own service manager starts it
# instead, in the user's session, with the session's variables.
_IN_USER_MANAGER: Argv = ("systemd-run", "--user", "--collect", "--quiet", "{session_setenv}", "--")
RASPBERRYPI_IN_SESSION_APPS: Mapping[str, Argv] = MappingProxyType(
    {
        "START_APP": (*_IN_USER_MANAGER, "gtk-launch", "{app}"),
        "VIDEO": (*_IN_USER_MANAGER, "cvlc", "--play-and-exit", "--fullscreen", "{video}"),
    }
)
DEFAULT_DESKTOP_SWITCH: Argv = ("sudo", "-n", "-u", "{desktop_user}", "--", "env", "{session_env}")


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


def profile_commands(
    profile: str,
    *,
    env: Mapping[str, str],
    update_method: str,
    desktop_user: str = "auto",
    desktop_switch: Argv = DEFAULT_DESKTOP_SWITCH,
) -> dict[str, Argv]:
    """The default templates of ``profile`` on this device."""
    if profile == "termux":
        return dict(TERMUX)
    if profile != "raspberrypi":
        return {}
    updates = {"UPDATE_APP": RASPBERRYPI_UPDATES[update_method]}
    if has_desktop(env):  # the agent itself runs in the desktop session (a terminal, the demo)
        return {**RASPBERRYPI, **RASPBERRYPI_DESKTOP_MESSAGES, **updates}
    if desktop_user == "none":  # a device without a screen: messages go to the journal
        return {**RASPBERRYPI, **RASPBERRYPI_HEADLESS_MESSAGES, **updates}
    shown = {**RASPBERRYPI_DESKTOP_MESSAGES, **RASPBERRYPI_IN_SESSION_APPS}
    in_session = {key: (*desktop_switch, *argv) for key, argv in shown.items()}
    return {**RASPBERRYPI, **in_session, **updates}


class CommandTable:
    """The argv template for each action type: ``[actions.commands]`` over the profile's defaults."""

    def __init__(
        self,
        profile: str,
        defaults: Mapping[str, Argv],
        overrides: Mapping[str, list[str]],
        headless: Mapping[str, Argv] = MappingProxyType({}),
    ) -> None:
        self.profile = profile
        self._defaults = dict(defaults)
        self._overrides = {_normalise_key(key): tuple(argv) for key, argv in overrides.items()}
        for key, argv in self._overrides.items():
            try:
                check_template(argv)
            except ValueError as exc:
                raise ActionRejected(f"commands.{key}: {exc}") from exc
        self._headless = dict(headless)

    @classmethod
    def from_config(
        cls, config: ActionsConfig, *, platform: Optional[str], env: Mapping[str, str]
    ) -> CommandTable:
        profile = choose_profile(config.profile, platform=platform, env=env)
        defaults = profile_commands(
            profile,
            env=env,
            update_method=config.update_method,
            desktop_user=config.desktop_user,
            desktop_switch=tuple(config.desktop_switch),
        )
        in_session = any(DESKTOP_PLACEHOLDERS[1] in "".join(argv) for argv in defaults.values())
        headless = RASPBERRYPI_HEADLESS_MESSAGES if in_session else {}
        return cls(profile, defaults, config.commands, headless)

    def lookup(self, action_type: str, variant: str = "") -> Optional[Argv]:
        """The most specific template for ``action_type`` (and its variant), or None."""
        keys = [f"{action_type}/{variant}", action_type] if variant else [action_type]
        for table in (self._overrides, self._defaults):
            for key in keys:
                if key in table:
                    return table[key]
        return None

    def lookup_headless(self, action_type: str, variant: str = "") -> Optional[Argv]:
        """Where the profile's in-session template has no desktop to go to: the journal, for MESSAGE.

        None when ``[actions.commands]`` set the type (the operator's argv says where it goes).
        """
        keys = [f"{action_type}/{variant}", action_type] if variant else [action_type]
        if any(key in self._overrides for key in keys):
            return None
        return self._headless.get(action_type)


def _normalise_key(key: str) -> str:
    action_type, sep, variant = key.partition("/")
    return normalise_type(action_type) + (sep + variant.upper() if sep else "")
