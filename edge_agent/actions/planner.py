"""Deciding what an action runs: the policy check and the argv, before anything starts.

The planner answers "may this action run, and as which argv?" without running
anything, so the runner only records and runs. It refuses (ActionRejected) a type not
in ``[actions] allow``, a type with no template, and any value the template cannot
take safely. It returns the argv twice: once to run, once with secrets (the vendor
token START_APP may pass on) masked, for the journal and the events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from edge_agent.actions import schema, validate
from edge_agent.actions.desktop import DesktopSession, NoDesktopSession
from edge_agent.actions.profiles import DESKTOP_PLACEHOLDERS, CommandTable
from edge_agent.actions.templates import placeholders, render, start_app_extras
from edge_agent.errors import ActionRejected
from edge_agent.model import Action

MASK = "***"
# Filled by the agent, never by a payload: a field of the same name in a payload is dropped.
RESERVED = ("action_id", "device_id", "extras", *DESKTOP_PLACEHOLDERS)


@dataclass(frozen=True)
class Plan:
    """The argv to run, and the same argv as it may be shown."""

    argv: list[str]
    shown: list[str]


class Planner:
    """Turns a validated :class:`Action` into a :class:`Plan`, or refuses it."""

    def __init__(
        self,
        commands: CommandTable,
        allow: list[str],
        *,
        device_id: str,
        technical_room_number: Optional[str],
        token_for: Optional[Callable[[str], Optional[str]]],
        update_method: str = "apt",
    ) -> None:
        self._commands = commands
        self._update_method = update_method
        self._allowed = {schema.normalise_type(name) for name in allow}
        self._device_id = device_id
        self._room = technical_room_number or ""
        self._token_for = token_for

    def needs_desktop(self, action: Action) -> bool:
        """Whether the action's argv runs in the desktop session (so one must be found first)."""
        try:
            template = self._template(action)
        except ActionRejected:
            return False  # plan() will say why
        return bool(placeholders(template) & set(DESKTOP_PLACEHOLDERS))

    def plan(self, action: Action, desktop: Union[DesktopSession, NoDesktopSession, None] = None) -> Plan:
        """The argv to run; ``desktop`` is the session found for an argv that needs one.

        Where none was found, raise that NoDesktopSession (the action fails saying why),
        except for a MESSAGE on a device with no desktop at all, which goes to the journal.
        """
        template = self._template(action)
        if isinstance(desktop, NoDesktopSession):
            variant = str(action.fields.get("notify", "")) if action.type == "MESSAGE" else ""
            fallback = self._commands.lookup_headless(action.type, variant) if desktop.headless else None
            if fallback is None:
                raise desktop
            template, desktop = fallback, None
        values: dict[str, Any] = {
            name: _as_text(value)
            for name, value in action.fields.items()
            if _is_scalar(value) and name not in RESERVED
        }
        values.update(action_id=action.id, device_id=self._device_id, extras=[])
        if desktop is not None:
            values.update(
                desktop_user=desktop.user,
                session_env=list(desktop.assignments),
                session_setenv=[f"--setenv={assignment}" for assignment in desktop.assignments],
            )
        shown = dict(values)
        if action.type == "START_APP":
            values["extras"], shown["extras"] = self._start_app_extras(action.fields, action.source)
        return Plan(argv=render(template, values), shown=render(template, shown))

    def _template(self, action: Action) -> tuple[str, ...]:
        if action.type not in self._allowed:
            raise ActionRejected(f"type {action.type} is not in [actions] allow")
        if action.type == "UPDATE_APP":
            self._check_update(action.fields)
        variant = str(action.fields.get("notify", "")) if action.type == "MESSAGE" else ""
        template = self._commands.lookup(action.type, variant)
        if template is None:
            raise ActionRejected(
                f"no argv for {action.type} in profile {self._commands.profile!r} or [actions.commands]"
            )
        return template

    def _check_update(self, fields: Mapping[str, Any]) -> None:
        """The package and version in the syntax of the installer that gets them, nothing looser.

        ``apt-get install less=590-2.1~deb12u2-`` removes less; ``python3=1.0-`` removes 40
        packages: apt reads a trailing ``-`` as "remove". So apt gets Debian names and versions
        only, pip PEP 508 names and PEP 440 versions only.
        """
        if self._update_method == "pip":
            validate.pypi_package("app", fields.get("app"))
            validate.pep440_version("version", fields.get("version"))
        else:
            validate.debian_package("app", fields.get("app"))
            validate.debian_version("version", fields.get("version"))

    def _start_app_extras(self, fields: Mapping[str, Any], source: str) -> tuple[list[str], list[str]]:
        want_token = bool(fields.get("includeToken"))
        want_room = bool(fields.get("includeTechnicalRoomNumber"))
        token = (self._token_for(source) if self._token_for else None) or ""
        if want_token and not token:
            raise ActionRejected(f"includeToken is asked, but no token is known for {source!r}")
        if want_room and not self._room:
            raise ActionRejected(
                "includeTechnicalRoomNumber is asked, but [actions] technical_room_number is not set"
            )
        wanted: dict[str, Any] = {
            "include_token": want_token,
            "include_device_id": bool(fields.get("includeDeviceId")),
            "include_room": want_room,
            "device_id": self._device_id,
            "room": self._room,
        }
        return start_app_extras(**wanted, token=token), start_app_extras(**wanted, token=MASK)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
