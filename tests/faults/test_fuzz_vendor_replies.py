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
from vendor_helpers import sample_snapshot

from edge_agent.config import parse_config
from edge_agent.errors import StoreError, VendorError, VendorTransportError
from edge_agent.heartbeat.context import StoreContext
from edge_agent.model import Event
from edge_agent.store import Store
from edge_agent.vendors import adapter_class
from edge_agent.vendors.aibox import format as aibox
from edge_agent.vendors.pubnub import adapter as pubnub
from edge_agent.vendors.telecomx import adapter as telecomx
from edge_agent.vendors.types import HttpRequest, HttpResponse, error_detail
from edge_agent.vendors.xyte import format as xyte
from edge_agent.vendors.yeastar import adapter as yeastar

VENDORS = ("telecomx", "xyte", "aibox", "yeastar", "pubnub")
MAX_REQUESTS_PER_BEAT = 60  # far above any real beat; a loop past it is a bug in itself

CONFIG = """
[device]
id = "fuzz-1"

[storage]
path = "{store}"

[heartbeats.telecomx]
vendor = "telecomx"
url = "http://127.0.0.1:9/iptv/app/heartbeat"
token = "12345678901234567890ABCD"

[heartbeats.xyte]
vendor = "xyte"
entry_url = "http://127.0.0.1:9"
hardware_key = "hw-key"
sn = "SN-1"
mac = "02:00:00:00:00:01"
firmware_version = "1.0.0"

[heartbeats.aibox]
vendor = "aibox"
url = "http://127.0.0.1:9/event"
serial_number = "CAM-1"

[heartbeats.yeastar]
vendor = "yeastar"
url = "http://127.0.0.1:9"
username = "api"
password = "secret"
report_ip = "127.0.0.1"

[heartbeats.pubnub]
vendor = "pubnub"
origin = "http://127.0.0.1:9"
subscribe_key = "sub-c-1"
publish_key = "pub-c-1"
secret_key = "sec-c-1"
channels = ["lobby"]
state = ["cpu_percent"]
"""

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
numbers = st.one_of(
    st.integers(-10, 100_000), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6), st.none()
)


def valid_answer(vendor: str, request: HttpRequest, draw: Callable[[Any], Any]) -> Any:
    """What the vendor's documents say a working server answers ``request`` with."""
    path = request.url.split("?")[0]
    if vendor == "telecomx":
        actions = [
            {"type": "MESSAGE", "message": draw(st.text(max_size=20)), "date": draw(st.integers(0, 2**41))},
            {"type": "START_APP", "app": "com.example.app", "date": draw(st.integers(0, 2**41))},
            {"type": "REBOOT", "date": draw(st.integers(0, 2**41))},
        ]
        return draw(st.lists(st.sampled_from(actions), max_size=3))
    if vendor == "xyte":
        if path.endswith("/v1/devices"):
            return {
                "id": draw(st.uuids()).hex,
                "access_key": "0123456789abcdef",
                "hub_url": "http://127.0.0.1:9/hub",
            }
        if path.endswith("/telemetry"):
            return {
                "config_version": draw(st.integers(0, 5)),
                "command": draw(st.booleans()),
                "new_licenses": draw(st.booleans()),
                "info_version": 0,
                "latest_fw_version": draw(st.sampled_from(["0.9.0", "1.0.0", "1.3.4"])),
                "success": True,
            }
        if path.endswith("/config"):
            return {"version": draw(st.integers(0, 5)), "config": {"interval": draw(numbers)}}
        if path.endswith("/command") and request.method == "GET":
            name = draw(st.sampled_from(["reboot", "dump", "restart-player"]))
            return {"id": draw(st.uuids()).hex, "name": name, "status": "pending", "parameters": {}}
        if path.endswith("/licenses") and request.method == "GET":
            change = draw(st.sampled_from(["add", "update", "remove"]))
            return [{"id": draw(st.text(min_size=1, max_size=8)), change: True, "data": "x"}]
        return {"success": True}
    if vendor == "aibox":
        sent = request.json_body if isinstance(request.json_body, dict) else {}
        info = {
            "eventId": (sent.get("info") or {}).get("eventId"),
            "time": "20200331T101002+08",
            "heartbeatInterval": draw(numbers),
            "eventSendMode": draw(st.sampled_from(["realTime", "Retransmission"])),
        }
        if draw(st.booleans()):
            info["strategy"] = {"heartBeatInterval": draw(numbers), "isFallDetectEnable": True}
        return {"operator": "heartbeat-Ack", "info": info, "result": {"errorNo": 0, "description": "ok"}}
    if vendor == "yeastar":
        if path.endswith("/login"):
            return {"status": "Success", "token": draw(st.from_regex(r"[0-9a-f]{32}", fullmatch=True))}
        errno = draw(st.sampled_from([None, None, "20004", "20002", "20011", "30001", "99999"]))
        return {"status": "Success"} if errno is None else {"status": "Failed", "errno": errno}
    return {"status": 200, "message": "OK", "service": "Presence"}


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
        return HttpResponse(200, json.dumps(valid_answer(vendor, request, draw)).encode(), headers)
    if kind == "mutated":
        body = mutated(valid_answer(vendor, request, draw), draw)
        status = draw(st.one_of(st.just(200), STATUSES))
        return HttpResponse(status, json.dumps(body).encode(), headers)
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
    config_path.write_text(CONFIG.format(store=tmp_path / "agent.db"))
    config = parse_config(config_path.read_text(), config_path)
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

    decoders: list[Callable[[HttpResponse], Any]] = [
        lambda response: telecomx.decode(response, "telecomx"),
        xyte.decode_registration,
        xyte.decode_telemetry,
        xyte.decode_config,
        xyte.decode_command,
        xyte.decode_licenses,
        lambda response: aibox.decode_ack(response, 7),
        yeastar.decode,
        pubnub.decode,
    ]

    @FUZZ
    @given(vendor=st.sampled_from(VENDORS), data=st.data())
    def one(vendor: str, data: st.DataObject) -> None:
        response = data.draw(responses(vendor, request))
        for decode in decoders:
            try:
                decode(response)
            except VendorError as exc:
                assert str(exc)
        # the helpers that describe a refusal never fail themselves
        assert isinstance(error_detail(response), str)
        assert isinstance(pubnub.denial(response), dict)

    one()
