"""JSON from the network with its nesting capped, and a depth check before anything is re-published.

Python's ``json`` recurses once per level of ``[`` or ``{``, both when it reads and when
it writes. A document nested ~980 levels still parses, but every later ``json.dumps``
(the store, the outbox, a retained MQTT copy, a digest) runs a few frames deeper and
raises :class:`RecursionError`, which no vendor or store error handler expects: one 2 KB
reply then ends a heartbeat loop, and a PBX report is published, crashes, and is
published again on each resend.

So every inbound path (vendor replies, PBX reports, MQTT commands) reads JSON through
:func:`loads`, which first counts the brackets outside strings in one linear pass (no
recursion, stops at the first bracket past the cap) and only then hands the text to
``json.loads``. What is re-published is checked with :func:`check_value_depth`
(iterative too), so a value that slipped in some other way is refused before ``dumps``.

This module imports nothing from the agent: vendors, the report listener and the command
intake all share it (tests/test_architecture.py lists it with the shared types).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Union

DEFAULT_MAX_DEPTH = 64
"""How deep a vendor reply or a PBX report may nest. Real ones nest 3-5 levels."""

PUBLISH_MAX_DEPTH = 100
"""How deep anything the agent publishes may nest: an inbound value (at most
:data:`DEFAULT_MAX_DEPTH`) wrapped in an event envelope fits well inside, and ``json`` stays
far from Python's recursion limit (1000)."""

# A JSON string, escapes included ("unrolled loop": linear, no backtracking).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class JsonTooDeep(ValueError):
    """JSON (or a value) nested deeper than allowed; a ValueError, like any other bad JSON."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"nested deeper than {max_depth} levels")
        self.max_depth = max_depth


def text_depth_exceeds(text: str, max_depth: int) -> bool:
    """True when ``text`` opens more than ``max_depth`` brackets at once, outside strings.

    Linear in ``len(text)``: strings are cut out and everything but brackets dropped by
    regular expressions (C speed), then the brackets are counted, stopping at the first
    one past the cap. Invalid JSON may be counted loosely (an unterminated string's
    brackets count); ``json.loads`` refuses it anyway.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    depth = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def loads(data: Union[bytes, str], *, max_depth: int = DEFAULT_MAX_DEPTH, strict: bool = True) -> Any:
    """``data`` parsed as JSON, never deeper than ``max_depth``; a ValueError otherwise.

    Bytes must be UTF-8 (a :class:`UnicodeDecodeError`, itself a ValueError, if not).
    ``strict`` refuses ``NaN``, ``Infinity`` and numbers past a float's range, which
    Python reads but which, passed on, make the agent's own messages unreadable to strict
    parsers (JavaScript, Go). Raises :class:`JsonTooDeep` for nesting past the cap and
    ``json.JSONDecodeError`` for text that is not JSON.
    """
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    if text_depth_exceeds(text, max_depth):
        raise JsonTooDeep(max_depth)
    try:
        if strict:
            return json.loads(text, parse_constant=_not_json, parse_float=_finite_float)
        return json.loads(text)
    except RecursionError as exc:  # cannot happen below the cap; kept so no caller ever sees one
        raise JsonTooDeep(max_depth) from exc


def nesting_depth(value: Any) -> int:
    """How many arrays and objects deep ``value`` goes (0 for a scalar); no recursion, any depth."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def check_value_depth(value: Any, max_depth: int = PUBLISH_MAX_DEPTH) -> None:
    """Raise :class:`JsonTooDeep` when ``value`` nests deeper than ``max_depth`` (before any dumps)."""
    if nesting_depth(value) > max_depth:
        raise JsonTooDeep(max_depth)


def dumps_checked(value: Any, max_depth: int = PUBLISH_MAX_DEPTH, **options: Any) -> str:
    """``json.dumps(value, **options)`` once ``value`` is known to nest at most ``max_depth`` levels."""
    check_value_depth(value, max_depth)
    return json.dumps(value, **options)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is beyond what a JSON number may hold here")
    return value
