"""The shared JSON reader: nesting capped by a linear bracket count, before json ever recurses."""

from __future__ import annotations

import inspect
import json
import sys

import pytest

from edge_agent.actions.envelope import MAX_NESTING, RejectedCommand, parse_command
from edge_agent.jsonsafe import (
    PUBLISH_MAX_DEPTH,
    JsonTooDeep,
    check_value_depth,
    dumps_checked,
    loads,
    nesting_depth,
    text_depth_exceeds,
)


def test_the_cap_is_exact_and_counts_arrays_and_objects_alike() -> None:
    assert loads("[" * 8 + "]" * 8, max_depth=8) == json.loads("[" * 8 + "]" * 8)
    assert loads('{"a":' * 8 + "1" + "}" * 8, max_depth=8)
    with pytest.raises(JsonTooDeep, match="nested deeper than 8 levels"):
        loads("[" * 9 + "]" * 9, max_depth=8)
    with pytest.raises(JsonTooDeep):
        loads('[{"a":[{"b":[1]}]}]', max_depth=4)


def test_brackets_inside_strings_and_escaped_quotes_do_not_count() -> None:
    text = json.dumps({"note": "[" * 10_000 + '\\"{{{' + "]" * 3, "path": "C:\\\\[x]"})
    assert loads(text, max_depth=1)["note"].startswith("[[[")
    assert not text_depth_exceeds('["\\\\", ["x"]]', 2)  # an escaped backslash ends before the quote


def test_a_megabyte_of_brackets_is_refused_before_json_and_without_recursion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refused by the bracket count alone: json's recursive parser never sees the text, and
    the count itself recurses nowhere (it runs with Python's stack nearly full)."""

    def recursive_parser(*args: object, **kwargs: object) -> None:
        raise AssertionError("json.loads was handed a body the bracket count should have refused")

    monkeypatch.setattr(json, "loads", recursive_parser)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 20)
    try:
        for body in (b"[" * 1_048_576, b'{"a":' * 200_000):
            with pytest.raises(JsonTooDeep):
                loads(body)
    finally:
        sys.setrecursionlimit(limit)


def test_strict_mode_refuses_what_strict_parsers_would_not_read() -> None:
    for text in ('{"n": NaN}', '{"n": Infinity}', '{"n": 1e999}'):
        with pytest.raises(ValueError):
            loads(text)
    assert loads('{"n": NaN}', strict=False)["n"] != 0


def test_what_is_re_published_is_depth_checked_without_recursion() -> None:
    deep: object = 1
    for _ in range(50_000):  # far past the recursion limit: only an iterative check survives this
        deep = [deep]
    assert nesting_depth(deep) == 50_000
    with pytest.raises(JsonTooDeep):
        check_value_depth(deep)
    with pytest.raises(JsonTooDeep):
        dumps_checked({"report": deep})
    assert dumps_checked({"a": [1]}) == '{"a": [1]}'
    assert PUBLISH_MAX_DEPTH < 1000 // 2  # well inside what json.dumps can write from any stack


def test_commands_use_the_shared_reader() -> None:
    too_deep = parse_command(b'{"id": "x", "type": "MESSAGE", "p": ' + b"[" * 40 + b"]" * 40 + b"}")
    assert isinstance(too_deep, RejectedCommand) and str(MAX_NESTING) in too_deep.reason
    brackets_in_text = parse_command(
        json.dumps({"id": "y", "type": "MESSAGE", "message": "[" * 5000}).encode()
    )
    assert not isinstance(brackets_in_text, RejectedCommand)
