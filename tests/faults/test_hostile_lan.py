"""Hostile LAN peers and hostile nesting: the PBX report port and every JSON path hold.

Whoever shares the LAN can reach the PBX report listener; a compromised vendor server
can answer anything. Each test here reproduces one attack that worked before and shows
that it no longer does:

* a reply or report nested ~980 levels (2 KB) is refused where it comes in, so it never
  reaches a ``json.dumps`` that would raise RecursionError in a loop (item 8);
* only the PBX may report: others get 403 and nothing of theirs is published or
  remembered; the listener binds where the PBX is told to send, and forty slow
  connections from elsewhere cost the PBX nothing (item 14);
* the de-duplication memory keeps 16-byte hashes, so forged 60 KB reports cost no more
  than small ones, and remembering is O(1); forged reports never push a real one out
  of the outbox (item 15).

The agent-level tests run the agent as a process against a mosquitto of their own and
the vendor simulators (tests/faults/fault_rig.py); the second loopback address
127.0.0.2 plays the hostile LAN peer (the PBX simulator and the agent are on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import socket
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from fault_rig import BASE, Rig
from mqtt_brokers import have_mosquitto
from support.vendor_world import SERIAL
from support.waiting import wait_until

from edge_agent.errors import VendorProtocolError
from edge_agent.vendors.aibox import format as aibox
from edge_agent.vendors.pubnub import adapter as pubnub
from edge_agent.vendors.telecomx import adapter as telecomx
from edge_agent.vendors.types import HttpResponse
from edge_agent.vendors.xyte import format as xyte
from edge_agent.vendors.yeastar import adapter as yeastar
from edge_agent.vendors.yeastar.report_listener import ReportDeduper, ReportListener

needs_mosquitto = pytest.mark.skipif(
    not have_mosquitto(), reason="mosquitto is not installed (.ci/run installs it)"
)

HOSTILE_PEER = "127.0.0.2"  # another loopback address: a LAN peer that is not the PBX
DEEP_RANGE = (900, 916, 932, 948, 964, 980)  # around where json parses but no longer dumps
STRATEGY_DEPTHS = (900, 916, 932, 948, 964, 975)


def nested(depth: int) -> Any:
    """A value ``depth`` objects deep (built without recursion)."""
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def deep_json(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def post_from(source: str, port: int, body: bytes, timeout: float = 10.0) -> Optional[int]:
    """POST ``body`` to the listener from ``source``; the status, or None when the connection broke."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        connection.request("POST", "/report", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def rig_config(rig: Rig, edit: Callable[[str], str]) -> None:
    rig.config.write_text(edit(rig.config.read_text()))


def published_reports(rig: Rig) -> list[dict[str, Any]]:
    return rig.pbx_reports()


# -- item 8: nesting is capped where JSON comes in --------------------------------------------

DEEP_REPLY = b'{"status": 200, "deep": ' + deep_json(975) + b"}"
DECODERS: dict[str, Callable[[HttpResponse], Any]] = {
    "aibox": lambda response: aibox.decode_ack(response, 1),
    "pubnub": pubnub.decode,
    "telecomx": lambda response: telecomx.decode(response, "iptv"),
    "xyte": xyte.decode_telemetry,
    "yeastar": yeastar.decode,
}


@pytest.mark.parametrize("vendor", sorted(DECODERS))
def test_every_vendor_decoder_refuses_a_reply_nested_975_levels(vendor: str) -> None:
    ack = (
        b'{"operator": "heartbeat-Ack", "info": {"eventId": 1, "strategy": '
        + deep_json(975)
        + b'}, "result": {"errorNo": 0}}'
    )
    body = ack if vendor == "aibox" else DEEP_REPLY
    with pytest.raises(VendorProtocolError, match="nested deeper than"):
        DECODERS[vendor](HttpResponse(200, body))


@needs_mosquitto
def test_an_aibox_ack_with_a_strategy_nested_975_levels_does_not_end_the_camera_loop(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    platform = rig.world.apps["aibox"]
    try:
        agent = rig.start_agent()
        rig.wait_every_vendor_ok()
        platform.set_strategy(version="v9.9.9", send="always")
        # Where Python's json gives up depends on how deep the stack already is: somewhere
        # past ~910 levels a strategy still parses but the event that carries it no longer
        # dumps, and the loop died; a little deeper it does not even parse. Try them all.
        for depth in STRATEGY_DEPTHS:
            since = len(rig.outcomes("camera"))
            platform.strategy["deep"] = nested(depth)  # ~2 KB on the wire
            failed = wait_until(
                f"the camera to report the Ack nested {depth} levels as a failed beat",
                lambda since=since: [o for o in rig.outcomes("camera")[since:] if not o["ok"]],
                timeout=60,
            )
            assert "nested deeper than" in str(failed[0]["error"]), failed[0]

        del platform.strategy["deep"]  # the platform mends its ways: the loop must still be there
        mark = len(rig.outcomes("camera"))
        wait_until(
            "an ok camera beat after the deep Ack",
            lambda: any(o["ok"] for o in rig.outcomes("camera")[mark:]),
            timeout=60,
        )
        strategy = rig.watcher.wait_for(
            "the new strategy, retained",
            lambda seen: [s for s in seen if s.topic == f"{BASE}/aibox/camera/strategy" and s.payload],
        )
        assert "deep" not in strategy[-1].json()
        assert platform.delivered(SERIAL), "the platform never confirmed an event"
        assert agent.process.poll() is None
        assert rig.stop_agent() == 0
    finally:
        rig.close()


# -- items 8, 14, 15 with the agent running ---------------------------------------------------


@needs_mosquitto
def test_only_the_pbx_may_report_and_a_deep_report_is_refused_not_published_again(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig_config(rig, lambda text: text.replace("[storage]\n", "[storage]\noutbox_max = 20\n"))
    pbx = rig.world.apps["yeastar"]
    port = rig.world.report_port
    try:
        agent = rig.start_agent()
        rig.wait_every_vendor_ok()

        # A forged CDR from another LAN address: 403, not published, and not remembered, so
        # the PBX's own report with the same callid is still news.
        forged = json.dumps({"action": "NewCdr", "callid": "1723456789.42", "forged": True}).encode()
        assert wait_until("the listener to answer", lambda: post_from(HOSTILE_PEER, port, forged)) == 403
        pbx.push_report({"action": "NewCdr", "callid": "1723456789.42", "duration": "31"}, attempts=1)
        assert pbx.wait_reports_delivered(timeout=30), pbx.report_attempts()
        first = rig.watcher.wait_for("the PBX's CDR", lambda seen: published_reports(rig))
        assert first == [{"action": "NewCdr", "callid": "1723456789.42", "duration": "31"}]

        # A report nested 980 levels, from the PBX's own address: refused where it comes in,
        # every time it is resent, and never published.
        # (Python's json gives up at a depth that depends on the stack: try the whole range.)
        for depth in DEEP_RANGE:
            deep_body = b'{"action": "ExtensionStatus", "extension": "1001", "x": ' + deep_json(depth) + b"}"
            assert [post_from("127.0.0.1", port, deep_body) for _ in range(2)] == [400, 400], depth
        pbx.push_report({"action": "NewCdr", "callid": "after-deep"}, attempts=1)
        assert pbx.wait_reports_delivered(timeout=30), pbx.report_attempts()
        rig.watcher.wait_for("the report after the deep one", lambda seen: len(published_reports(rig)) >= 2)

        # Forged reports never push a real one out of the outbox: with the broker away, a
        # real report is owed, then 60 forged 60 KB ones arrive (the outbox holds 20).
        rig.gate.shut()
        pbx.push_report({"action": "NewCdr", "callid": "owed-while-offline"}, attempts=1)
        assert pbx.wait_reports_delivered(timeout=30), pbx.report_attempts()
        for n in range(60):
            big = json.dumps({"action": "NewCdr", "callid": f"forged-{n}", "pad": "x" * 60_000}).encode()
            assert post_from(HOSTILE_PEER, port, big) == 403
        rig.gate.open()
        rig.watcher.wait_for(
            "the report owed while the broker was away",
            lambda seen: any(r.get("callid") == "owed-while-offline" for r in published_reports(rig)),
            timeout=60,
        )
        assert agent.process.poll() is None
        assert rig.stop_agent() == 0
    finally:
        rig.close()

    # QoS 1 is at least once: a report in flight when the gate shut may arrive twice
    callids = list(dict.fromkeys(report.get("callid") for report in rig.pbx_reports()))
    assert callids == ["1723456789.42", "after-deep", "owed-while-offline"]
    assert not any("forged" in json.dumps(event) for event in rig.events("pbx.report"))


@needs_mosquitto
def test_the_listener_binds_where_the_pbx_sends_and_40_slow_peers_cost_the_pbx_nothing(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    rig_config(rig, lambda text: text.replace('report_bind = "127.0.0.1"\n', ""))  # the default bind
    pbx = rig.world.apps["yeastar"]
    port = rig.world.report_port
    slow: list[socket.socket] = []
    try:
        agent = rig.start_agent()
        rig.wait_every_vendor_ok()
        wait_until("the listener to be up", lambda: post_from("127.0.0.1", port, b"{}") == 200)

        # Bound to report_ip (127.0.0.1), not 0.0.0.0: another local address is not listened on.
        with pytest.raises(ConnectionRefusedError), socket.create_connection((HOSTILE_PEER, port), timeout=5):
            pass

        # Forty slowloris connections from another LAN address, each sending half a request...
        for _ in range(40):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(HOSTILE_PEER, 0))
            slow.append(sock)
            with contextlib.suppress(OSError):  # the listener may have closed it already
                sock.sendall(b"POST /report HTTP/1.1\r\nHost: agent\r\nContent-Length: 100\r\n")
        # ... then thirty real reports from the PBX, at once: every one answered 200 at the first try.
        for seq in range(30):
            pbx.push_report({"action": "NewCdr", "callid": f"real-{seq}"}, attempts=1)
        pbx.wait_reports_delivered(timeout=60)
        attempts = [push.attempts for push in pbx.report_attempts()]
        assert attempts == [[200]] * 30, attempts
        rig.watcher.wait_for("all 30 real reports", lambda seen: len(published_reports(rig)) >= 31)
        assert agent.process.poll() is None
        assert rig.stop_agent() == 0
    finally:
        for sock in slow:
            sock.close()
        rig.close()
    assert {r["callid"] for r in rig.pbx_reports() if "callid" in r} == {f"real-{seq}" for seq in range(30)}


# -- item 14 at the listener: an allowed subnet still cannot starve the PBX ---------------------


def test_slow_connections_from_an_allowed_peer_are_capped_per_source_so_the_pbx_gets_through() -> None:
    received: list[dict[str, Any]] = []

    class Clock:
        def monotonic(self) -> float:
            return time.monotonic()

    async def main() -> tuple[list[int], int]:
        listener = ReportListener(
            "127.0.0.1",
            0,
            lambda _name, report: received.append(report),
            "pbx",
            Clock(),  # type: ignore[arg-type]
            allow=["127.0.0.0/8"],  # the whole subnet may report: 127.0.0.2 is allowed, but not the PBX
            pbx_host="127.0.0.1",
            read_timeout=30.0,
        )
        await listener.start()
        slow = []
        try:
            for _ in range(40):
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", listener.port, local_addr=(HOSTILE_PEER, 0)
                )
                writer.write(b"POST /report HTTP/1.1\r\nContent-Length: 100\r\n")
                slow.append((reader, writer))
            statuses = await asyncio.gather(
                *(
                    asyncio.to_thread(post_from, "127.0.0.1", listener.port, json.dumps({"seq": n}).encode())
                    for n in range(30)
                )
            )

            async def cut_off(reader: asyncio.StreamReader) -> bool:
                with contextlib.suppress(ConnectionError):
                    return await reader.read() == b""
                return True

            closed = sum(await asyncio.gather(*(cut_off(reader) for reader, _ in slow[4:])))
            return list(statuses), closed
        finally:
            for _, writer in slow:
                writer.close()
            await listener.close()

    statuses, closed = asyncio.run(main())
    assert statuses == [200] * 30
    assert closed == 36  # all but max_per_source (4) of the slow connections were closed at once
    assert sorted(r["seq"] for r in received) == list(range(30))


# -- item 15: the de-duplication memory -------------------------------------------------------


def test_3000_forged_60kb_reports_leave_the_dedupe_memory_bounded_in_bytes() -> None:
    deduper = ReportDeduper(60.0)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(3000):
            pad = f"{n:08d}" + "x" * 60_000  # each key unique and 60 KB
            cdr = {"action": "NewCdr", "callid": pad}
            status = {"action": "ExtensionStatus", "extension": pad, "status": "Idle"}
            for report in (cdr, status):
                assert not deduper.is_resend(report, float(n))
                deduper.remember(report, float(n))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 3 * 1024 * 1024, f"the dedupe memory grew by {grown / 1e6:.1f} MB for 6,000 reports"
    assert grown <= deduper.max_bytes
    assert deduper.is_resend({"action": "NewCdr", "callid": f"{2999:08d}" + "x" * 60_000}, 3000.0)


def test_remembering_a_report_is_o1_and_the_subjects_remembered_are_capped() -> None:
    deduper = ReportDeduper(60.0)
    started = time.process_time()
    for n in range(20_000):  # 20,000 extensions within one window: past any real PBX
        deduper.remember({"action": "ExtensionStatus", "extension": str(n), "status": "Idle"}, 1.0)
    spent = time.process_time() - started
    assert spent < 3.0, f"{spent:.1f} s of CPU for 20,000 reports (a dict rebuilt per insert?)"
    assert len(deduper) <= deduper.cdr_memory + deduper.subject_memory
    latest = {"action": "ExtensionStatus", "extension": "19999", "status": "Idle"}
    assert deduper.is_resend(latest, 2.0)  # the most recent are still recognised


def test_edge_agent_send_ignores_a_deeply_nested_message_on_the_events_topic() -> None:
    from edge_agent.cli.send import ActionProgress
    from edge_agent.mqtt.options import IncomingMessage

    progress = ActionProgress("op-1", "MESSAGE", f"{BASE}/events", None)
    hostile = IncomingMessage(topic=f"{BASE}/events", payload=b"[" * 100_000)
    assert progress.take(hostile) == []  # anyone on the broker may publish there
    received = IncomingMessage(
        topic=f"{BASE}/events", payload=b'{"type":"action.received","action_id":"op-1"}'
    )
    assert progress.take(received) == ["received    op-1 MESSAGE"]
