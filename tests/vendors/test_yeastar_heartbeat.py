"""Yeastar PBX heartbeats over real HTTP against the simulated PBX, with its reports pushed to the
agent's real :class:`ReportListener`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Iterator
from typing import Any, Callable

import pytest
from support.clock import FakeClock
from vendor_helpers import Harness

from edge_agent.errors import StoreError, VendorAuthError, VendorProtocolError
from edge_agent.heartbeat import BeatResult
from edge_agent.heartbeat.context import state_namespace
from edge_agent.simulators.base import Fault, SimulatorServer
from edge_agent.vendors.yeastar.report_listener import ReportListener
from edge_agent.vendors.yeastar.simulator import YeastarSimulator

USER, PASSWORD = "api", "Pbx-Secret-1"
EXTENSION_IDLE = {"action": "ExtensionStatus", "extension": "1001", "status": "Idle"}
CDR = {"action": "NewCdr", "callid": "1723456789.42", "callfrom": "1001", "callto": "1002", "duration": "31"}


@pytest.fixture
def pbx() -> Iterator[tuple[YeastarSimulator, SimulatorServer]]:
    app = YeastarSimulator()
    app.set_credentials(USER, PASSWORD)
    with SimulatorServer(app) as server:
        yield app, server


class Mirror:
    """What the agent does with a report: here, keep it (and fail on demand, like a full disk)."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, dict[str, Any]]] = []
        self.failures_left = 0

    def __call__(self, endpoint: str, report: dict[str, Any]) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise StoreError("disk full")
        self.reports.append((endpoint, report))


def yeastar_table(url: str, report_port: int, password: str = PASSWORD, **extra: str) -> str:
    lines = [
        "[heartbeats.pbx]", 'vendor = "yeastar"', f'url = "{url}"', f'username = "{USER}"',
        f'password = "{password}"', 'report_ip = "127.0.0.1"', f"report_port = {report_port}",
        'report_url = "report"',
    ]  # fmt: skip
    lines += [f"{key} = {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n\n"


def with_listener(
    harness_factory: Any,
    url: str,
    clock: FakeClock,
    test: Callable[[Harness, Mirror], Awaitable[None]],
    **extra: str,
) -> Mirror:
    """Run ``test`` in one event loop, with a listener on a free port and the engine pointed at it."""
    mirror = Mirror()

    async def main() -> None:
        listener = ReportListener("127.0.0.1", 0, mirror, "pbx", clock, pbx_host="127.0.0.1")  # the simulator
        await listener.start()
        harness = harness_factory(yeastar_table(url, listener.port, **extra))
        try:
            await test(harness, mirror)
        finally:
            await harness.engine.aclose()
            await listener.close()

    asyncio.run(main())
    return mirror


async def delivered(app: YeastarSimulator) -> bool:
    return await asyncio.get_running_loop().run_in_executor(None, app.wait_reports_delivered, 20.0)


def test_login_sends_the_lowercase_md5_and_the_heartbeat_names_the_report_target_both_ways(
    pbx: tuple[YeastarSimulator, SimulatorServer], harness_factory: Any, clock: FakeClock
) -> None:
    app, server = pbx

    async def test(harness: Harness, _mirror: Mirror) -> None:
        first: BeatResult = await harness.engine.beat_once("pbx")
        second: BeatResult = await harness.engine.beat_once("pbx")
        assert first.ok and second.ok, (first.error, second.error)

    with_listener(harness_factory, server.url, clock, test)
    login = json.loads(server.requests[0].body)
    assert server.requests[0].path == "/api/v1.1.0/login"
    assert login["password"] == hashlib.md5(PASSWORD.encode()).hexdigest()
    assert [call.outcome for call in app.login_calls] == ["Success"]  # the token is kept, not renewed
    port = json.loads(server.requests[0].body)["port"]
    assert (
        app.heartbeats
        == [{"ipaddr": "127.0.0.1", "port": port, "url": "report", "urlflag": "0", "urltag": "0"}] * 2
    )
    assert isinstance(port, str)


def test_an_expired_token_is_renewed_by_logging_in_again_and_no_report_is_lost(
    pbx: tuple[YeastarSimulator, SimulatorServer], harness_factory: Any, clock: FakeClock
) -> None:
    app, server = pbx

    async def test(harness: Harness, mirror: Mirror) -> None:
        assert (await harness.engine.beat_once("pbx")).ok
        app.push_report(EXTENSION_IDLE, interval=0.05)
        assert await delivered(app)
        old_token = harness.store.state.get(state_namespace("pbx"), "token")
        app.clock.advance(31 * 60)  # the agent was away past the token's 30 minutes
        clock.advance(31 * 60)
        assert app.tokens() == {}
        renewed = await harness.engine.beat_once("pbx")
        assert renewed.ok, renewed.error
        assert renewed.reply is not None and any(
            "logging in again" in s for s in renewed.reply.summary["steps"]
        )
        assert harness.store.state.get(state_namespace("pbx"), "token") not in (None, old_token)
        app.push_report(CDR, interval=0.05)
        assert await delivered(app)

    mirror = with_listener(harness_factory, server.url, clock, test)
    assert [report for _, report in mirror.reports] == [EXTENSION_IDLE, CDR]
    assert [endpoint for endpoint, _ in mirror.reports] == ["pbx", "pbx"]
    assert [call.outcome for call in app.login_calls] == ["Success", "Success"]


def test_heartbeats_every_twenty_minutes_keep_one_token_alive_past_thirty(
    pbx: tuple[YeastarSimulator, SimulatorServer], harness_factory: Any, clock: FakeClock
) -> None:
    app, server = pbx

    async def test(harness: Harness, _mirror: Mirror) -> None:
        for _ in range(4):  # 60 minutes in all
            assert (await harness.engine.beat_once("pbx")).ok
            app.clock.advance(harness.config.heartbeats["pbx"].interval)
        app.push_report(EXTENSION_IDLE, interval=0.05)
        assert await delivered(app)

    mirror = with_listener(harness_factory, server.url, clock, test)
    assert len(app.login_calls) == 1 and len(app.heartbeats) == 4
    assert len(mirror.reports) == 1


def test_resent_reports_are_mirrored_once_and_a_report_we_failed_to_keep_is_taken_on_the_resend(
    pbx: tuple[YeastarSimulator, SimulatorServer], harness_factory: Any, clock: FakeClock
) -> None:
    app, server = pbx

    async def test(harness: Harness, mirror: Mirror) -> None:
        assert (await harness.engine.beat_once("pbx")).ok
        app.push_report(CDR, interval=0.05)
        assert await delivered(app)
        app.push_report(dict(reversed(list(CDR.items()))), interval=0.05)  # the PBX sends it again
        assert await delivered(app)
        mirror.failures_left = 1
        app.push_report(EXTENSION_IDLE, interval=0.05)
        assert await delivered(app)

    mirror = with_listener(harness_factory, server.url, clock, test)
    assert [report for _, report in mirror.reports] == [CDR, EXTENSION_IDLE]
    assert [push.attempts for push in app.report_attempts()] == [[200], [200], [503, 200]]


def test_an_absolute_report_url_is_built_from_report_ip_and_port_and_reports_arrive_there(
    pbx: tuple[YeastarSimulator, SimulatorServer], harness_factory: Any, clock: FakeClock
) -> None:
    app, server = pbx

    async def test(harness: Harness, _mirror: Mirror) -> None:
        assert (await harness.engine.beat_once("pbx")).ok
        app.push_report(EXTENSION_IDLE, interval=0.05)
        assert await delivered(app)

    mirror = with_listener(harness_factory, server.url, clock, test, url_tag="1")
    sent = app.heartbeats[-1]
    assert sent["urlflag"] == sent["urltag"] == "1"
    assert sent["url"] == f"127.0.0.1:{sent['port']}/report"
    assert app.report_attempts()[0].target == f"http://127.0.0.1:{sent['port']}/report"
    assert len(mirror.reports) == 1


def test_a_locked_out_address_waits_ten_minutes_instead_of_hammering_the_login(
    pbx: tuple[YeastarSimulator, SimulatorServer], harness_factory: Any, clock: FakeClock
) -> None:
    app, server = pbx
    harness = harness_factory(yeastar_table(server.url, 18260, password="wrong"))
    for _ in range(4):
        error = harness.beat("pbx")["error"]
        assert "errno 20003 (invalid username or password)" in error
    locked = harness.beat("pbx")
    assert "errno 20002" in locked["error"]
    assert len(harness.recorder.events_of("yeastar.locked_out")) == 1
    calls = len(app.login_calls)
    clock.advance(9 * 60)
    waiting = harness.beat("pbx")
    assert "locked out by the PBX until" in waiting["error"]
    assert len(app.login_calls) == calls  # nothing was sent
    clock.advance(60)
    app.clock.advance(10 * 60)
    app.set_credentials(USER, "wrong")  # the operator fixed the PBX side meanwhile
    assert harness.beat("pbx")["ok"] is True
    assert app.login_calls[-1].outcome == "Success"


def test_a_clean_shutdown_logs_out(
    pbx: tuple[YeastarSimulator, SimulatorServer], harness_factory: Any, clock: FakeClock
) -> None:
    app, server = pbx
    harness = harness_factory(yeastar_table(server.url, 18260))
    assert harness.beat("pbx")["ok"] is True
    assert len(app.tokens()) == 1

    async def stop() -> None:
        await harness.engine.shutdown()

    asyncio.run(stop())
    assert app.tokens() == {}
    assert server.requests[-1].path == "/api/v1.1.0/logout"
    assert harness.store.state.get(state_namespace("pbx"), "token") is None
    requests = len(server.requests)
    harness.restart()
    asyncio.run(harness.engine.shutdown())  # no token: nothing to say goodbye with
    assert len(server.requests) == requests


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (Fault("status", status=404, body=b"<html>not here</html>"), "answers every call with 200"),
        (Fault("garbage", body=b"<html>login page</html>"), "not JSON"),
        (Fault("garbage", body=b'{"result": "ok"}'), "not a Yeastar API answer"),
    ],
)
def test_anything_but_an_http_200_with_yeastar_json_is_a_protocol_error(
    fault: Fault, words: str, pbx: tuple[YeastarSimulator, SimulatorServer], harness_factory: Any
) -> None:
    _, server = pbx
    harness = harness_factory(yeastar_table(server.url, 18260))
    server.inject(fault)

    async def once() -> BeatResult:
        try:
            return await harness.engine.beat_once("pbx")
        finally:
            await harness.engine.aclose()

    result = asyncio.run(once())
    assert isinstance(result.error, VendorProtocolError) and words in str(result.error)


def test_wrong_credentials_are_an_auth_error_not_a_retry_storm(
    pbx: tuple[YeastarSimulator, SimulatorServer], harness_factory: Any
) -> None:
    _, server = pbx
    harness = harness_factory(yeastar_table(server.url, 18260, password="nope"))

    async def once() -> BeatResult:
        try:
            return await harness.engine.beat_once("pbx")
        finally:
            await harness.engine.aclose()

    assert isinstance(asyncio.run(once()).error, VendorAuthError)
