"""The PBX report listener over real sockets: what it answers, what it hands on, what it refuses."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable
from datetime import datetime, timezone
from typing import Any, Callable

import pytest

from edge_agent.errors import EdgeAgentError, StoreError
from edge_agent.vendors.yeastar.report_listener import ReportListener


class Clock:
    def __init__(self) -> None:
        self.mono = 100.0

    def now(self) -> datetime:
        return datetime(2026, 11, 25, tzinfo=timezone.utc)

    def monotonic(self) -> float:
        return self.mono


class Received:
    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []
        self.fail_next = False

    def __call__(self, endpoint: str, report: dict[str, Any]) -> None:
        assert endpoint == "pbx"
        if self.fail_next:
            self.fail_next = False
            raise StoreError("disk full")
        self.reports.append(report)


def run(test: Callable[[ReportListener, Received, Clock], Awaitable[None]], **options: Any) -> Received:
    received, clock = Received(), Clock()

    async def main() -> None:
        options.setdefault("pbx_host", "127.0.0.1")
        listener = ReportListener("127.0.0.1", 0, received, "pbx", clock, **options)
        await listener.start()
        try:
            await test(listener, received, clock)
        finally:
            await listener.close()

    asyncio.run(main())
    return received


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body) if body else {}


def post(body: bytes, path: str = "/report", extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: agent\r\nUser-Agent: WebAPI\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def report(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def test_a_report_is_answered_200_and_handed_on_once_per_distinct_report() -> None:
    async def test(listener: ReportListener, _received: Received, _clock: Clock) -> None:
        assert listener.port != 0
        for status in ("Idle", "Ringing", "Idle"):  # a missed call: three real reports
            assert (await exchange(listener.port, post(report(action="ExtensionStatus", extension="1001",
                                                                status=status))))[0] == 200  # fmt: skip
        assert (await exchange(listener.port, post(report(action="BootUp", sn="369351034049"))))[0] == 200

    received = run(test)
    assert [r.get("status", r["action"]) for r in received.reports] == ["Idle", "Ringing", "Idle", "BootUp"]


def test_a_resend_is_answered_200_but_not_handed_on_again_until_the_window_has_passed() -> None:
    idle = report(action="ExtensionStatus", extension="1001", status="Idle")

    async def test(listener: ReportListener, _received: Received, clock: Clock) -> None:
        assert (await exchange(listener.port, post(idle)))[0] == 200
        clock.mono += 30
        assert (await exchange(listener.port, post(idle)))[0] == 200  # the PBX resent it
        other = report(action="ExtensionStatus", extension="1002", status="Busy")
        assert (await exchange(listener.port, post(other)))[0] == 200
        assert (await exchange(listener.port, post(idle)))[0] == 200  # another extension between
        clock.mono += 61
        assert (await exchange(listener.port, post(idle)))[0] == 200  # a minute later: news again

    received = run(test, dedupe_window=60.0)
    assert [(r["extension"], r["status"]) for r in received.reports] == [("1001", "Idle"), ("1002", "Busy"),
                                                                         ("1001", "Idle")]  # fmt: skip


def test_a_cdr_is_recognised_by_its_callid_however_long_after() -> None:
    async def test(listener: ReportListener, _received: Received, clock: Clock) -> None:
        cdr = {"action": "NewCdr", "callid": "1723456789.42", "duration": "31"}
        assert (await exchange(listener.port, post(json.dumps(cdr).encode())))[0] == 200
        clock.mono += 3600
        resent = dict(reversed(list(cdr.items())))
        assert (await exchange(listener.port, post(json.dumps(resent).encode())))[0] == 200
        other = {**cdr, "callid": "1723456790.43"}
        assert (await exchange(listener.port, post(json.dumps(other).encode())))[0] == 200

    received = run(test)
    assert [r["callid"] for r in received.reports] == ["1723456789.42", "1723456790.43"]


def test_a_report_that_could_not_be_handed_on_is_503_so_the_pbx_sends_it_again() -> None:
    async def test(listener: ReportListener, received: Received, _clock: Clock) -> None:
        received.fail_next = True
        boot = post(report(action="BootUp", sn="1"))
        assert (await exchange(listener.port, boot))[0] == 503
        assert (await exchange(listener.port, boot))[0] == 200

    assert len(run(test).reports) == 1


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (post(b"\x00\xff<html>"), 400),
        (post(b"[1, 2]"), 400),
        (post(b'{"action": "BootUp"'), 400),
        (post(b"[" * 100000 + b"]" * 100000), 413),
        (b"GET /report HTTP/1.1\r\nHost: agent\r\n\r\n", 405),
        (b"POST /report HTTP/1.1\r\nHost: agent\r\n\r\n{}", 411),
        (b"POST /report HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
        (b"HELLO\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nX-Junk: " + b"a" * 20000 + b"\r\n\r\n", 431),
    ],
)
def test_garbage_from_the_lan_is_refused_and_never_handed_on(raw: bytes, status: int) -> None:
    async def test(listener: ReportListener, _received: Received, _clock: Clock) -> None:
        answered, body = await exchange(listener.port, raw)
        assert answered == status and body["status"] == "Failed"

    assert run(test, max_body=64 * 1024).reports == []


def test_a_chunked_report_and_one_that_expects_100_continue_are_read() -> None:
    async def test(listener: ReportListener, _received: Received, _clock: Clock) -> None:
        body = report(action="BootUp", sn="chunked")
        chunked = (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + f"{10:x}\r\n".encode() + body[:10] + b"\r\n"
            + f"{len(body) - 10:x}\r\n".encode() + body[10:] + b"\r\n0\r\n\r\n"
        )  # fmt: skip
        assert (await exchange(listener.port, chunked))[0] == 200
        expecting = post(report(action="BootUp", sn="continue"), extra="Expect: 100-continue\r\n")
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        writer.write(expecting)
        answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")

    assert [r["sn"] for r in run(test).reports] == ["chunked", "continue"]


def test_a_client_that_stalls_is_cut_off_and_the_connection_limit_holds() -> None:
    async def test(listener: ReportListener, _received: Received, _clock: Clock) -> None:
        stalled_reader, stalled_writer = await asyncio.open_connection("127.0.0.1", listener.port)
        stalled_writer.write(b"POST / HTTP/1.1\r\nContent-Length: 50\r\n")  # and then nothing
        await stalled_writer.drain()
        await asyncio.sleep(0.05)  # let the listener take the first connection
        assert (await exchange(listener.port, post(report(action="BootUp"))))[0] == 503
        answer = await stalled_reader.read()
        assert answer.startswith(b"HTTP/1.1 408 ")
        stalled_writer.close()
        for _ in range(100):  # the slot frees once the listener has seen the close
            if (await exchange(listener.port, post(report(action="BootUp"))))[0] == 200:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the stalled connection's slot was never freed")

    run(test, read_timeout=0.3, max_connections=1)


def test_a_port_already_in_use_is_a_clear_error() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]

    async def main() -> None:
        listener = ReportListener("127.0.0.1", port, Received(), "pbx", Clock())
        with pytest.raises(EdgeAgentError, match=f"cannot listen for PBX reports on 127.0.0.1:{port}"):
            await listener.start()

    try:
        asyncio.run(main())
    finally:
        holder.close()


def test_as_a_service_it_listens_until_stop_and_then_closes() -> None:
    async def main() -> int:
        received = Received()
        listener = ReportListener("127.0.0.1", 0, received, "pbx", Clock(), allow=["127.0.0.0/8"])
        stop = asyncio.Event()
        running = asyncio.ensure_future(listener.run(stop))
        while listener.port == 0:
            await asyncio.sleep(0.01)
        assert (await exchange(listener.port, post(report(action="BootUp"))))[0] == 200
        stop.set()
        await running
        port = listener.port
        await listener.shutdown()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)
        return len(received.reports)

    assert asyncio.run(main()) == 1
