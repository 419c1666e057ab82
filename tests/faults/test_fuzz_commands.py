"""Fuzzing the MQTT command path: whatever arrives on ``<prefix>/<id>/cmd`` is answered, never a crash.

The path a message takes in the agent is the one action intake's ``take_command`` (bytes
to journal: ``parse_command`` for the shape, then id, type, signature with
``mqtt_secret``, journal); ``submit`` is its entry point for a decoded document. Every
example goes
through the real functions over a real store file; what is checked is what an operator
would see: a rejection with a reason, or an ``action.received`` event, and for every
event a JSON body the broker can carry.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

from fuzz_settings import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.actions import ActionRunner, sign
from edge_agent.actions.envelope import Command, RejectedCommand, parse_command
from edge_agent.config import ActionsConfig
from edge_agent.model import Event, SystemClock
from edge_agent.store import Store

SECRET = "fuzz-secret"
EXPIRES = datetime.now(timezone.utc) + timedelta(hours=1)  # within max_command_lifetime

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
ids = st.one_of(
    st.from_regex(r"[A-Za-z0-9_.:@+=][A-Za-z0-9_.:@+=-]{0,40}", fullmatch=True),
    st.text(max_size=300),
    st.integers(),
    st.none(),
    json_values,
)
types = st.one_of(
    st.sampled_from(["MESSAGE", "message", "START_APP", "REBOOT", "DUMP", "VIDEO", "update-firmware", "x.y"]),
    st.text(max_size=70),
    json_values,
)
command_like = st.fixed_dictionaries(
    {"id": ids, "type": types},
    optional={
        "message": json_values,
        "app": json_values,
        "video": json_values,
        "parameters": json_values,
        "expires_at": st.one_of(st.text(max_size=30), st.integers(), json_scalars, json_values),
        "repeat": json_values,
        "duration": json_values,
        "signature": st.one_of(st.text(max_size=70), json_values),
    },
)


def nested(depth: int, kind: str) -> bytes:
    """A JSON document ``depth`` levels deep: arrays, objects, or a command whose field nests."""
    if kind == "array":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    inner = b"[" * depth + b"]" * depth
    return b'{"id":"deep-' + str(depth).encode() + b'","type":"MESSAGE","message":"hi","x":' + inner + b"}"


payloads = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda text: text.encode("utf-8", errors="surrogatepass")),
    json_values.map(lambda value: json.dumps(value).encode()),
    command_like.map(lambda body: json.dumps(body).encode()),
    st.builds(
        nested,
        # shallow, around the interpreter's recursion limit, and anything up to 64 KB of brackets
        st.one_of(st.integers(1, 64), st.integers(900, 1100), st.integers(1, 32_000)),
        st.sampled_from(["array", "object", "field"]),
    ),
)


class Operator:
    """What an operator watching ``<prefix>/<id>/events`` and the response topic would see."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []

    def on_event(self, event: Event) -> None:
        # what the mirror does with it: JSON onto the broker
        self.events.append(json.loads(json.dumps(event.to_json(), ensure_ascii=False)))

    def reply(self, body: dict[str, Any]) -> None:
        self.replies.append(json.loads(json.dumps(body)))


def make_runner(tmp_path: Path, operator: Operator, *, secret: Optional[str]) -> tuple[ActionRunner, Store]:
    store = Store(tmp_path / f"agent-{'signed' if secret else 'open'}.db")
    config = ActionsConfig.model_validate(
        {
            "profile": "none",
            "allow": ["MESSAGE", "START_APP", "DUMP"],
            "commands": {"MESSAGE": ["/bin/true", "{message}"], "DUMP": ["/bin/true"]},
            **({"mqtt_secret": secret} if secret else {}),
        }
    )
    runner = ActionRunner(
        config, store, SystemClock(), operator.on_event, device_id="fuzz-1", platform="linux"
    )
    return runner, store


def check_outcome(operator: Operator, before: int, accepted: Optional[str]) -> None:
    """One submission: accepted with a received event, or rejected with a reason; nothing else.

    A raw MQTT command also gets its one ``command.received`` or ``command.rejected``
    (the events about the message), which the intake owes beside the action's.
    """
    new = [event for event in operator.events[before:] if not event["type"].startswith("command.")]
    commands = [event for event in operator.events[before:] if event["type"].startswith("command.")]
    assert len(commands) <= 1, commands
    assert len(new) == 1, new
    event = new[0]
    if accepted is None:
        assert event["type"] in ("action.rejected",)
        assert isinstance(event["reason"], str) and event["reason"]
    else:
        assert event["type"] == "action.received" and event["action_id"] == accepted


def test_any_payload_on_the_command_topic_is_a_command_or_a_rejection_with_a_reason(tmp_path: Path) -> None:
    operator = Operator()
    open_runner, open_store = make_runner(tmp_path, operator, secret=None)
    signed_runner, signed_store = make_runner(tmp_path, operator, secret=SECRET)

    @FUZZ
    @given(payload=payloads, retained=st.booleans())
    def one(payload: bytes, retained: bool) -> None:
        for runner in (open_runner, signed_runner):  # the runner's own entry point, bytes in
            before = len(operator.events)
            accepted = runner.intake.take_command(payload, reply=operator.reply)
            check_outcome(operator, before, accepted)
            assert accepted is None or runner is open_runner
        parsed = parse_command(payload, retained=retained, response_topic="r/1", correlation_data=b"c")
        if isinstance(parsed, RejectedCommand):
            assert isinstance(parsed.reason, str) and parsed.reason
            json.dumps({"id": parsed.command_id, "reason": parsed.reason})  # the command.rejected event
            return
        assert isinstance(parsed, Command) and isinstance(parsed.body, dict)
        for runner, signed in ((open_runner, False), (signed_runner, True)):
            before = len(operator.events)
            accepted = runner.submit(parsed.body, "mqtt", signed_required=signed, reply=operator.reply)
            check_outcome(operator, before, accepted)
            if signed:
                assert accepted is None, "nothing unsigned by the test can carry a valid signature"

    try:
        one()
    finally:
        open_store.close()
        signed_store.close()


def test_the_runner_entry_point_takes_any_bytes_and_runs_a_signed_command_once(tmp_path: Path) -> None:
    operator = Operator()
    runner, store = make_runner(tmp_path, operator, secret=SECRET)
    seen_ids: set[str] = set()

    @FUZZ
    @given(payload=payloads, body=command_like, sign_it=st.booleans())
    def one(payload: bytes, body: dict[str, Any], sign_it: bool) -> None:
        before = len(operator.events)
        check_outcome(operator, before, runner.intake.take_command(payload, reply=operator.reply))

        document = sign({**body, "device": "fuzz-1"}, SECRET, expires_at=EXPIRES) if sign_it else body
        before = len(operator.events)
        accepted = runner.intake.take_command(json.dumps(document).encode(), reply=operator.reply)
        check_outcome(operator, before, accepted)
        if accepted is not None:
            assert sign_it, "an unsigned command must never be accepted when mqtt_secret is set"
            assert accepted not in seen_ids, "an id is accepted once"
            seen_ids.add(accepted)
            before = len(operator.events)
            assert runner.intake.take_command(json.dumps(document).encode(), reply=operator.reply) is None
            assert "replayed" in operator.events[before]["reason"]

    try:
        one()
    finally:
        store.close()
