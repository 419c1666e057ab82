"""The vendor HTTP transport against real servers on 127.0.0.1: what it sends, keeps and refuses.

Each server is a script over a raw socket (scripted_server.py), so the hostile ones can do
what no HTTP library would: never end the header block, send a gzip bomb, go silent, cut
the body, answer in garbage. Each hostile case would hang or exhaust memory on a
transport that read without bounds; here it is a VendorError that says what happened.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import zlib
from typing import Callable

import pytest
from scripted_server import Peer, ScriptedServer, keep_answering, reply
from transport_client import CAP, endpoint, exchange, get, one, with_peak_memory

from edge_agent.demo.world import free_port
from edge_agent.errors import VendorProtocolError, VendorRejectedError, VendorTransportError
from edge_agent.heartbeat.transport import KEEPALIVE_CAP, USER_AGENT, HttpTransport
from edge_agent.vendors.types import HttpRequest, HttpResponse

# -- what goes out ---------------------------------------------------------------------------


def test_the_request_carries_host_with_port_the_defaults_the_adapters_headers_and_the_body() -> None:
    with ScriptedServer(keep_answering()) as server:
        request = HttpRequest(
            method="POST",
            url=f"{server.url}/hb/v1?a=b c&d=%41",
            headers={"Authorization": "Bearer t0k3n", "Accept": "application/json"},
            json_body={"id": "dev-1", "name": "Büro"},
        )
        response = one(request)
    assert isinstance(response, HttpResponse) and response.status == 200
    assert response.json() == {"ok": True} and response.headers["content-type"] == "application/json"
    [seen] = server.requests
    assert seen.method == "POST" and seen.target == "/hb/v1?a=b%20c&d=%41"
    assert seen.headers["host"] == f"127.0.0.1:{server.port}"
    assert seen.headers["user-agent"] == USER_AGENT
    assert seen.headers["accept-encoding"] == "gzip, deflate"
    assert seen.headers["accept"] == "application/json"  # the adapter's header wins over the default
    assert seen.headers["authorization"] == "Bearer t0k3n"
    assert seen.body == request.body_bytes() and seen.headers["content-length"] == str(len(seen.body))


def test_a_redirect_is_returned_not_followed() -> None:
    def script(peer: Peer) -> None:
        while peer.read_request() is not None:
            peer.send(reply(302, b"moved", (("Location", "/elsewhere"),)))

    with ScriptedServer(script) as server:
        response = one(get(f"{server.url}/hb"))
    assert response.status == 302 and response.headers["location"] == "/elsewhere"
    assert [r.target for r in server.requests] == ["/hb"]


def test_informational_responses_are_skipped_for_the_final_one() -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
        peer.send(reply(200, b"ok"))
        peer.wait_hang_up()

    with ScriptedServer(script) as server:
        response = one(get(server.url))
    assert response.status == 200 and response.body == b"ok"


def test_an_http_1_0_reply_ends_with_the_connection_which_is_not_reused() -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it, until the close")

    with ScriptedServer(script) as server:
        first, second = exchange([get(server.url), get(server.url)])
    assert first.body == second.body == b"all of it, until the close"
    assert server.connections == 2


def test_a_header_sent_twice_reads_as_one_with_both_values() -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(reply(200, b"", (("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"))))
        peer.wait_hang_up()

    with ScriptedServer(script) as server:
        response = one(get(server.url))
    assert response.headers["set-cookie"] == "a=1, b=2"


def test_a_header_value_http_cannot_carry_is_refused_without_showing_it() -> None:
    with ScriptedServer(keep_answering()) as server:
        smuggled = {"Authorization": "Bearer s3cret\r\nX: y"}
        result = one(HttpRequest(method="GET", url=server.url, headers=smuggled))
    assert isinstance(result, VendorTransportError) and "LocalProtocolError" in str(result)
    assert "s3cret" not in str(result) and "s3cret" not in repr(result.__cause__)
    assert server.requests == []


@pytest.mark.parametrize(
    ("url", "error", "says"),
    [
        ("ftp://127.0.0.1/x", VendorRejectedError, "cannot send to 'ftp://127.0.0.1/x'"),
        ("127.0.0.1/x", VendorRejectedError, "cannot send to"),
        ("http://127.0.0.1:99999/x", VendorRejectedError, "invalid URL"),
        ("http:///x", VendorRejectedError, "invalid URL"),
    ],
)
def test_a_url_that_cannot_be_sent_to_is_rejected(url: str, error: type, says: str) -> None:
    result = one(get(url))
    assert isinstance(result, error) and says in str(result)


# -- connections kept, and not kept ----------------------------------------------------------


def test_two_beats_share_one_connection() -> None:
    with ScriptedServer(keep_answering()) as server:
        results = exchange([get(server.url), get(server.url), get(server.url)])
    assert [r.status for r in results] == [200, 200, 200]
    assert server.connections == 1 and len(server.requests) == 3


def test_an_idle_connection_the_server_closed_is_not_reused() -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(reply(200, b"once"))  # keep-alive by default, then closed all the same

    with ScriptedServer(script) as server:

        def server_closed_the_first(index: int) -> None:
            assert server.peers[0].closed.wait(30)

        results = exchange([get(server.url), get(server.url)], between=server_closed_the_first)
    assert [r.body for r in results] == [b"once", b"once"]
    assert server.connections == 2


def test_a_request_that_reached_the_server_is_never_sent_again() -> None:
    """The server reads the second request on the kept connection and hangs up without a reply:
    that is an error to report, not a reason to send the request again."""

    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(reply(200, b"first"))
        peer.read_request()  # ... and close

    with ScriptedServer(script) as server:
        first, second = exchange([get(server.url), get(f"{server.url}/again")])
    assert first.body == b"first"
    assert isinstance(second, VendorTransportError)
    assert f"cannot reach 127.0.0.1:{server.port}" in str(second) and "without sending a response" in str(
        second
    )
    assert [r.target for r in server.requests] == ["/", "/again"] and server.connections == 1


def test_an_idle_connection_is_kept_for_the_interval_plus_5_s_and_no_longer() -> None:
    clock = [1000.0]
    config = endpoint(interval=10.0)
    with ScriptedServer(keep_answering()) as server:

        def advance(index: int) -> None:
            clock[0] += 14.9 if index == 1 else 15.1

        results = exchange([get(server.url)] * 3, config, between=advance, now=lambda: clock[0])
        assert [r.status for r in results] == [200, 200, 200]
        assert [r.connection for r in server.requests] == [0, 0, 1]
        assert server.peers[0].hung_up.wait(30), "the expired connection was closed by the client"
    assert HttpTransport(endpoint(interval=3600.0)).pool.keepalive == KEEPALIVE_CAP


def test_a_connection_with_bytes_past_the_reply_is_not_reused() -> None:
    """A server that answers twice to one request: the extra answer must not become the reply
    to the next request."""

    def script(peer: Peer) -> None:
        if peer.index == 0:
            peer.read_request()
            peer.send(reply(200, b"one") + reply(200, b"stale"))
        while peer.read_request() is not None:
            peer.send(reply(200, b"fresh"))

    with ScriptedServer(script) as server:
        results = exchange([get(server.url), get(server.url)])
    assert [r.body for r in results] == [b"one", b"fresh"] and server.connections == 2


def test_at_most_four_connections_at_once_and_two_kept_idle() -> None:
    arrived = threading.Condition()
    seen = [0]

    def script(peer: Peer) -> None:
        while peer.read_request() is not None:
            with arrived:
                seen[0] += 1
                arrived.notify_all()
                arrived.wait_for(lambda: seen[0] >= 4, timeout=30)
            peer.send(reply(200, b"ok"))

    async def six_at_once(url: str) -> tuple[list[HttpResponse], int]:
        transport = HttpTransport(endpoint())
        try:
            responses = await asyncio.gather(*(transport.send(get(url)) for _ in range(6)))
            return responses, transport.pool.idle
        finally:
            await transport.aclose()

    with ScriptedServer(script) as server:
        responses, idle = asyncio.run(six_at_once(server.url))
    assert [r.status for r in responses] == [200] * 6
    assert server.connections == 4 and len(server.requests) == 6
    assert idle == 2


# -- hostile or broken servers ---------------------------------------------------------------


def test_a_declared_length_over_the_cap_is_refused_before_the_body_is_read() -> None:
    """The server announces 100 MB, sends a few bytes and waits: reading on would wait forever."""

    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n" + b"x" * 10)
        peer.wait_hang_up()

    with ScriptedServer(script) as server:
        result = one(get(server.url))
        assert server.peers[0].hung_up.wait(30)
    assert isinstance(result, VendorProtocolError) and result.status == 200
    assert str(result) == f"reply larger than {CAP} bytes"


def test_a_chunked_body_past_the_cap_is_refused_as_it_comes() -> None:
    """Five times the cap, and the body never ends: a transport that counted only at the end
    would still be waiting (and keeping it all)."""

    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(5 * CAP // 1000):
            peer.send(b"3e8\r\n" + b"x" * 1000 + b"\r\n")
        peer.wait_hang_up()

    with ScriptedServer(script) as server:
        result = one(get(server.url))
    assert isinstance(result, VendorProtocolError) and str(result) == f"reply larger than {CAP} bytes"


def test_a_gzip_bomb_is_refused_without_being_inflated() -> None:
    """10 MB of zeros in 10 KB of gzip: refused at the cap, and never 10 MB in memory."""
    bomb = gzip.compress(b"\0" * 10_000_000)
    assert len(bomb) < CAP

    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(reply(200, bomb, (("Content-Encoding", "gzip"),)))
        peer.wait_hang_up()

    with ScriptedServer(script) as server:
        result, peak = with_peak_memory(lambda: one(get(server.url)))
    assert isinstance(result, VendorProtocolError) and str(result) == f"reply larger than {CAP} bytes"
    assert peak < 3_000_000, f"{peak} bytes at the peak: the bomb was inflated"


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "pack"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),  # as the RFC says: zlib-wrapped
        ("deflate", _raw_deflate),  # as some servers send it: raw
        ("identity", lambda data: data),
    ],
)
def test_a_compressed_reply_is_decoded(encoding: str, pack: Callable[[bytes], bytes]) -> None:
    text = b'{"status": "ok", "padding": "' + b"abc" * 5000 + b'"}'

    def script(peer: Peer) -> None:
        while peer.read_request() is not None:
            peer.send(reply(200, pack(text), (("Content-Encoding", encoding),)))

    with ScriptedServer(script) as server:
        results = exchange([get(server.url), get(server.url)])
    assert [r.body for r in results] == [text, text] and server.connections == 1


@pytest.mark.parametrize(("encoding", "body"), [("br", b"\x1b\x03\x00"), ("gzip", b"not gzip at all")])
def test_a_reply_that_cannot_be_decoded_says_so(encoding: str, body: bytes) -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(reply(503, body, (("Content-Encoding", encoding),)))
        peer.wait_hang_up()

    with ScriptedServer(script) as server:
        result = one(get(server.url))
    assert isinstance(result, VendorProtocolError) and result.status == 503
    assert f"reply from 127.0.0.1:{server.port} cannot be decoded" in str(result)


def test_a_header_block_that_never_ends_is_refused_before_it_fills_the_memory() -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.1 200 OK\r\n")
        line = 0
        while True:  # until the client hangs up
            line += 1
            peer.send(f"X-Pad-{line}: {'a' * 1000}\r\n".encode())

    with ScriptedServer(script) as server:
        result, peak = with_peak_memory(lambda: one(get(server.url)))
    assert isinstance(result, VendorTransportError)
    assert str(result).startswith(f"cannot reach 127.0.0.1:{server.port}: RemoteProtocolError:")
    assert peak < 3_000_000, f"{peak} bytes at the peak: the header block was kept"


def test_garbage_instead_of_http_is_a_transport_error() -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(b"\x00\xff<html>certainly not HTTP</html>\r\n\r\n")
        peer.wait_hang_up()

    with ScriptedServer(script) as server:
        result = one(get(server.url))
    assert isinstance(result, VendorTransportError)
    assert str(result).startswith(f"cannot reach 127.0.0.1:{server.port}: RemoteProtocolError:")


def test_a_body_cut_short_by_the_server_says_so() -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b'{"half": ')

    with ScriptedServer(script) as server:
        result = one(get(server.url))
    assert isinstance(result, VendorTransportError)
    assert str(result).startswith(f"reply cut short 127.0.0.1:{server.port}: RemoteProtocolError:")


def test_a_server_that_never_answers_is_given_up_at_the_deadline() -> None:
    def script(peer: Peer) -> None:
        peer.read_request()
        peer.wait_hang_up()

    with ScriptedServer(script) as server:
        result = one(get(server.url), timeout=0.5)
        assert server.peers[0].hung_up.wait(30), "the connection was dropped at the deadline"
    assert isinstance(result, VendorTransportError)
    assert str(result) == f"no reply from 127.0.0.1:{server.port} within 0.5 s (ReadTimeout)"


def test_a_refused_connection_says_it_cannot_reach() -> None:
    port = free_port()
    result = one(get(f"http://127.0.0.1:{port}/hb"))
    assert isinstance(result, VendorTransportError)
    assert str(result).startswith(f"cannot reach 127.0.0.1:{port}: ConnectError: ")
