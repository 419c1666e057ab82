"""Fuzzing what vendors answer: every decoder, and every adapter's whole beat, against hostile replies.

A reply the agent cannot use must become a :class:`~edge_agent.errors.VendorError` (the
engine backs off and tries again), never another exception: the engine would log it as a
crashed loop and that endpoint would stop beating for good, the "silent stop" users
report. The adapters run over a real store file, so what they remember from one hostile
reply (a Xyte registration, a Yeastar token, an AI-box backlog, queued actions) meets
the next one, as in the field.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any, Callable

from fuzz_settings import FUZZ
from hypothesis import given
from hypothesis import strategies as st
from support.clock import FakeClock
from support.vendor_world import VENDORS, decoders, describers, missing_vendors, offline_config, valid_reply
from vendor_helpers import sample_snapshot

from edge_agent.config import parse_config
from edge_agent.errors import StoreError, VendorError, VendorTransportError
from edge_agent.heartbeat.context import StoreContext
from edge_agent.model import Event
from edge_agent.store import Store
from edge_agent.vendors import adapter_class
from edge_agent.vendors.types import HttpRequest, HttpResponse, error_detail

# Every registered vendor, each with the endpoint its endpoint.py describes (named after the
# vendor) and the replies its valid_reply() says a working server gives: tests/support/vendor_world.py.
MAX_REQUESTS_PER_BEAT = 60  # far above any real beat; a loop past it is a bug in itself

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=24)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)


def valid_answer(vendor: str, request: HttpRequest, draw: Callable[[Any], Any]) -> Any:
    """What the vendor's documents say a working server answers ``request`` with (its endpoint.py)."""
    return valid_reply(vendor, request, draw)


def encoded(answer: Any) -> bytes:
    """The body of an answer: JSON, or the bytes themselves for a vendor that answers plain text."""
    return answer if isinstance(answer, bytes) else json.dumps(answer).encode()


def mutated(answer: Any, draw: Callable[[Any], Any]) -> Any:
    """``answer`` with one key dropped, replaced or added, somewhere inside it."""
    if isinstance(answer, list):
        if not answer:
            return [draw(json_values)]
        position = draw(st.integers(0, len(answer) - 1))
        return [*answer[:position], mutated(answer[position], draw), *answer[position + 1 :]]
    if not isinstance(answer, dict) or not answer:
        return draw(json_values)
    changed = dict(answer)
    key = draw(st.sampled_from(sorted(changed)))
    how = draw(st.sampled_from(["drop", "replace", "recurse", "add"]))
    if how == "drop":
        del changed[key]
    elif how == "replace":
        changed[key] = draw(json_values)
    elif how == "recurse":
        changed[key] = mutated(changed[key], draw)
    else:
        changed[draw(st.text(max_size=10))] = draw(json_values)
    return changed


STATUSES = st.one_of(
    st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 408, 409, 429, 500, 502, 503, 504]),
    st.integers(100, 599),
)


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@st.composite
def responses(draw: Callable[[Any], Any], vendor: str, request: HttpRequest) -> HttpResponse:
    """What a working, a broken, or a hostile vendor server might answer ``request`` with.

    Half are the documented answer, a quarter that answer with one part changed (so the
    fuzzer reaches the steps after a good reply), the rest anything at all.
    """
    kind = draw(st.sampled_from(["valid", "valid", "mutated", "hostile"]))
    headers = {"content-type": "application/json"}
    if kind == "valid":
        return HttpResponse(200, encoded(valid_answer(vendor, request, draw)), headers)
    if kind == "mutated":
        body = mutated(valid_answer(vendor, request, draw), draw)
        status = draw(st.one_of(st.just(200), STATUSES))
        return HttpResponse(status, encoded(body), headers)
    body = draw(
        st.one_of(
            json_values.map(lambda value: json.dumps(value).encode()),
            st.binary(max_size=120),
            st.just(b""),
            st.integers(1, 5000).map(deep),
        )
    )
    return HttpResponse(draw(STATUSES), body, draw(st.sampled_from([headers, {}])))


def test_every_adapter_turns_any_reply_into_a_reply_or_a_vendor_error(tmp_path: Path) -> None:
    config_path = tmp_path / "edge-agent.toml"
    config_path.write_text(offline_config("fuzz-1", tmp_path / "agent.db"))
    config = parse_config(config_path.read_text(), config_path)
    assert not missing_vendors(config.heartbeats), "a registered vendor the fuzzer never reaches"
    examples = iter(range(10**9))

    @FUZZ
    @given(
        vendor=st.sampled_from(VENDORS),
        beats=st.lists(st.tuples(st.floats(0, 4000), st.booleans()), min_size=1, max_size=4),
        data=st.data(),
    )
    def one(vendor: str, beats: list[tuple[float, bool]], data: st.DataObject) -> None:
        # A fresh store per example (so a failure replays the same), several beats in it
        # (so what one reply left behind meets the next).
        path = tmp_path / f"example-{next(examples)}.db"
        store = Store(path)
        clock = FakeClock()
        events: list[Event] = []
        endpoint = config.heartbeats[vendor]
        context = StoreContext(store, vendor, clock, events.append, device_id=config.device.id)
        adapter = adapter_class(endpoint.vendor)(vendor, endpoint, context)
        try:
            for pause, final in beats:
                clock.advance(pause)
                beat_once(adapter, vendor, final, clock, data)
            for event in events:
                json.dumps(event.to_json(), allow_nan=False)  # owed to the broker as JSON
        finally:
            store.close()
            for leftover in tmp_path.glob(path.name + "*"):
                leftover.unlink()

    one()


def beat_once(adapter: Any, vendor: str, final: bool, clock: FakeClock, data: st.DataObject) -> None:
    sent: list[HttpRequest] = []

    async def send(request: HttpRequest) -> HttpResponse:
        sent.append(request)
        assert len(sent) <= MAX_REQUESTS_PER_BEAT, f"{vendor}: {len(sent)} requests in one beat"
        if data.draw(st.integers(0, 30)) == 0:
            raise VendorTransportError("the network failed")
        return data.draw(responses(vendor, request))

    try:
        reply = asyncio.run(adapter.beat(sample_snapshot(clock), send, final=final))
    except (VendorError, StoreError) as exc:
        assert str(exc), "an error a person reads must say something"
        return
    if reply.next_interval is not None:
        # the engine sleeps this long before the next beat: 0, negative or NaN would hot-loop it
        assert math.isfinite(reply.next_interval) and reply.next_interval > 0, reply.next_interval
    json.dumps(reply.summary, default=str)  # printed by `edge-agent heartbeat`, logged
    for action in reply.actions:
        json.dumps(action.to_json(), allow_nan=False)  # what the journal stores is plain JSON


def test_every_decoder_reads_any_reply_as_an_answer_or_a_vendor_error() -> None:
    request = HttpRequest("POST", "http://127.0.0.1:9/", json_body={"info": {"eventId": 7}})

    readers = decoders(request)  # every vendor's, from its endpoint.py
    refusals = describers()
    assert readers and refusals

    @FUZZ
    @given(vendor=st.sampled_from(VENDORS), data=st.data())
    def one(vendor: str, data: st.DataObject) -> None:
        response = data.draw(responses(vendor, request))
        for decode in readers:
            try:
                decode(response)
            except VendorError as exc:
                assert str(exc)
        # the helpers that describe a refusal never fail themselves
        assert isinstance(error_detail(response), str)
        for describe, kind in refusals:
            assert isinstance(describe(response), kind)

    one()
