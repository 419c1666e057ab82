"""Argv templates: a list of strings whose ``{placeholders}`` are filled one element at a time.

``["termux-toast", "--", "{message}"]`` with the message ``; rm -rf /`` becomes
``["termux-toast", "--", "; rm -rf /"]``: three arguments whatever the message holds,
because filling is a plain regex substitution inside each element (not ``str.format``,
whose ``{0.__class__}`` reaches into objects) and nothing is ever split or handed to a
shell.

Rules:

* ``{name}`` is replaced by the value of ``name``; an unknown name rejects the action.
* An element that is exactly ``{extras}`` expands into zero or more elements that the
  runner builds itself (the ``--es key value`` pairs of START_APP); such list values are
  never taken from a payload.
* The program (first element) is fixed: it may not hold a placeholder.
* A value that would make an element start with ``-`` is refused unless the template
  has put it where a program cannot read it as an option: after a literal ``--``, inside
  an option element (``--title={message}``), or as the declared value of the option
  before it: ``["notify", "--title", "{message:value}"]``. The ``:value`` suffix is the
  template's promise that ``--title`` takes a value (so the program reads the next
  argument as that value, whatever it starts with); it must stand alone, right after an
  option element (``-x`` or ``--long``, without ``=``). Without it, a placeholder after a
  flag is an ordinary argument: ``["player-ctl", "--force", "{target}"]`` with the target
  ``--exec=/bin/sh`` is refused, because ``--force`` may well take no value.
  The default templates do one or the other for every free-text field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Union

from edge_agent.actions import validate
from edge_agent.errors import ActionRejected

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::value)?\}")
# A placeholder declared to be the value of the option element before it.
OPTION_VALUE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):value\}")

Value = Union[str, Sequence[str]]


def placeholders(template: Sequence[str]) -> set[str]:
    """Every placeholder name the template uses."""
    return {match.group(1) for element in template for match in PLACEHOLDER.finditer(element)}


def check_template(template: Sequence[str]) -> None:
    """A template must name a fixed program; ValueError says why not."""
    if not template or not template[0]:
        raise ValueError("the argv must name a program")
    if PLACEHOLDER.search(template[0]):
        raise ValueError(f"the program {template[0]!r} must be fixed, not a {{placeholder}}")
    for position, element in enumerate(template):
        if ":value}" not in element:
            continue
        if not OPTION_VALUE.fullmatch(element):
            raise ValueError(f"{element!r}: a {{name:value}} placeholder must be an element of its own")
        if position < 1 or not _awaits_a_value(template[position - 1]):
            raise ValueError(
                f"{element!r} must follow the option whose value it is (an element like -x or --name, "
                "without '=')"
            )


def render(template: Sequence[str], values: Mapping[str, Value]) -> list[str]:
    """The argv for ``values``; ActionRejected when a value is missing or unsafe where it lands."""
    argv: list[str] = []
    after_double_dash = False
    for element in template:
        whole = PLACEHOLDER.fullmatch(element)
        if whole and not isinstance(_lookup(values, whole.group(1)), str):
            argv.extend(_expand(whole.group(1), _lookup(values, whole.group(1))))
        else:
            filled = PLACEHOLDER.sub(lambda match: _scalar(values, match.group(1)), element)
            if filled.startswith("-") and not element.startswith("-"):
                value_is_inert = after_double_dash or OPTION_VALUE.fullmatch(element) is not None
                if not value_is_inert:
                    raise ActionRejected(
                        f"a value starting with '-' would be read as an option by {template[0]} "
                        f"(in {element!r}; see docs/actions.md on {{name:value}})"
                    )
            argv.append(filled)
        if element == "--":
            after_double_dash = True
    return argv


def _awaits_a_value(element: str) -> bool:
    """An option element whose value can be the next argument: ``-x`` or ``--name``, no ``=``."""
    return (
        element.startswith("-") and element != "--" and "=" not in element and not PLACEHOLDER.search(element)
    )


def _lookup(values: Mapping[str, Value], name: str) -> Value:
    try:
        return values[name]
    except KeyError:
        raise ActionRejected(f"the argv needs {{{name}}}, which this action does not give") from None


def _scalar(values: Mapping[str, Value], name: str) -> str:
    value = _lookup(values, name)
    if not isinstance(value, str):
        raise ActionRejected(f"{{{name}}} expands to several arguments, so it must be an element of its own")
    return validate.text(name, value)


def _expand(name: str, value: Value) -> list[str]:
    return [validate.text(name, item) for item in value]


def start_app_extras(
    *,
    include_token: bool,
    include_device_id: bool,
    include_room: bool,
    token: str,
    device_id: str,
    room: str,
) -> list[str]:
    """The ``--es key value`` intent extras START_APP asked for (Telecom X includeToken & co.)."""
    extras: list[str] = []
    for wanted, key, value in (
        (include_token, "token", token),
        (include_device_id, "deviceId", device_id),
        (include_room, "technicalRoomNumber", room),
    ):
        if wanted:
            extras += ["--es", key, value]
    return extras
