"""The envelope of an operator's command on ``<prefix>/<id>/cmd``: bytes to a JSON object.

The first step of the one action intake (:mod:`edge_agent.actions.intake`) for MQTT: a
command is a JSON object, not retained, at most 64 KiB, nested at most 32 deep, with an
``id`` that follows the one id rule of every action (:func:`schema.action_id`, shared
with vendors' actions) and a ``type`` string. Anything else is rejected here, with a
reason a person can act on. Pure functions: no I/O, so every rule is testable without a
broker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from edge_agent.actions.schema import MAX_ID_LENGTH, action_id
from edge_agent.errors import ActionRejected
from edge_agent.jsonsafe import JsonTooDeep, loads, nesting_depth

MAX_COMMAND_BYTES = 64 * 1024
MAX_NESTING = 32
"""How deep a command's JSON may nest. A command is a flat object (with ``parameters`` one
level down); 64 KB of ``[`` would otherwise reach Python's recursion limit in ``json``
when the command is read, signed or journalled, and stop the agent taking commands. The
cap is checked by a bracket count before the JSON is parsed (edge_agent.jsonsafe)."""

__all__ = [
    "MAX_COMMAND_BYTES",
    "MAX_ID_LENGTH",
    "MAX_NESTING",
    "Command",
    "RejectedCommand",
    "nesting_depth",
    "parse_command",
]


@dataclass(frozen=True)
class Command:
    """A well-formed command; ``body`` is the whole JSON object as received."""

    id: str
    type: str
    body: dict[str, Any] = field(default_factory=dict)
    response_topic: Optional[str] = None
    correlation_data: Optional[bytes] = None


@dataclass(frozen=True)
class RejectedCommand:
    """A message on the command topic that is not a command, and why."""

    reason: str
    command_id: Optional[str] = None
    response_topic: Optional[str] = None
    correlation_data: Optional[bytes] = None
    command_type: Optional[str] = field(default=None, compare=False)
    """The refused command's ``type`` as text, when it had one: for its ``action.rejected`` event."""


def parse_command(
    payload: bytes,
    *,
    retained: bool = False,
    response_topic: Optional[str] = None,
    correlation_data: Optional[bytes] = None,
) -> Union[Command, RejectedCommand]:
    """The command in ``payload``, or a :class:`RejectedCommand` saying what is wrong with it.

    A retained command is refused: the broker would hand it over again on every reconnect.
    """

    def reject(
        reason: str, command_id: Optional[str] = None, command_type: Optional[str] = None
    ) -> RejectedCommand:
        return RejectedCommand(reason, command_id, response_topic, correlation_data, command_type)

    if retained:
        return reject("retained commands are refused (the broker would deliver them on every reconnect)")
    if len(payload) > MAX_COMMAND_BYTES:
        return reject(f"the command is larger than {MAX_COMMAND_BYTES} bytes")
    try:
        # strict: NaN/Infinity would reach the events (action.received carries the action)
        # and make them unreadable to strict parsers (JavaScript, Go)
        body = loads(payload, max_depth=MAX_NESTING, strict=True)
    except UnicodeDecodeError:
        return reject("the command is not UTF-8 text")
    except JsonTooDeep:
        return reject(f"the command nests deeper than {MAX_NESTING} levels")
    except json.JSONDecodeError as exc:
        return reject(f"the command is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except ValueError as exc:
        return reject(f"the command is not JSON: {exc}")
    if not isinstance(body, dict):
        return reject("the command must be a JSON object")
    command_id = body.get("id")
    if command_id is None:
        return reject('the command has no "id"')
    try:
        action_id(command_id)  # the one id rule, the same for a vendor's action
    except ActionRejected as exc:
        return reject(str(exc), shown(command_id), shown(body.get("type")))
    command_type = body.get("type")
    if not isinstance(command_type, str) or not command_type.strip():
        return reject('the command has no "type" string', command_id)
    return Command(command_id, command_type, body, response_topic, correlation_data)


def shown(value: Any) -> Optional[str]:
    """A refused id or type, as text short enough for an event (the intake shows them alike)."""
    return None if value is None else str(value)[:MAX_ID_LENGTH]
