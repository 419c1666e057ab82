"""The Yeastar PBX simulator, driven over real HTTP on loopback as an application server would."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import httpx
import pytest
from support.http import loopback_client

from edge_agent.simulators.base import SimClock, SimRequest, SimResponse, SimulatorServer
from edge_agent.vendors.yeastar.simulator import YeastarSimulator

USERNAME = "api"
PASSWORD = "s3cret-pbx"
PASSWORD_MD5 = hashlib.md5(PASSWORD.encode()).hexdigest()
MINUTE = 60.0


class Pbx:
    """The simulator behind a real loopback server, and an application server's client."""

    def __init__(self, sim: YeastarSimulator, server: SimulatorServer, client: httpx.Client) -> None:
        self.sim, self.server, self.client = sim, server, client

    def call(
        self, api: str, body: Optional[dict[str, Any]] = None, token: Optional[str] = None
    ) -> dict[str, Any]:
        params = {"token": token} if token is not None else None
        response = self.client.post(f"{self.server.url}/api/v1.1.0/{api}", json=body or {}, params=params)
        assert response.status_code == 200  # the PBX answers every call with HTTP 200
        return response.json()

    def login(self, password: str = PASSWORD_MD5, **extra: Any) -> dict[str, Any]:
        body = {"username": USERNAME, "password": password, "port": "8260", "version": "1.0.2", **extra}
        return self.call("login", body)

    def token(self, **extra: Any) -> str:
        answer = self.login(**extra)
        assert answer["status"] == "Success", answer
        return answer["token"]

    def heartbeat(self, token: str, **body: Any) -> dict[str, Any]:
        return self.call("heartbeat", {"ipaddr": "127.0.0.1", "port": "8260", **body}, token=token)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc))


@pytest.fixture
def pbx(clock: SimClock) -> Iterator[Pbx]:
    """A PBX with the API user provisioned; report retries do not wait."""
    sim = YeastarSimulator(clock, sleep=lambda seconds: None)
    sim.set_credentials(USERNAME, PASSWORD)
    with SimulatorServer(sim) as server, loopback_client() as client:
        yield Pbx(sim, server, client)


class ScriptedReceiver:
    """An application server's report endpoint: answers the scripted statuses, then 200."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.received: list[SimRequest] = []
        self.lock = threading.Lock()

    def handle(self, request: SimRequest) -> SimResponse:
        with self.lock:
            self.received.append(request)
            status = self.statuses.pop(0) if self.statuses else 200
        return SimResponse(status, b"")


def failed(errno: str) -> dict[str, Any]:
    return {"status": "Failed", "errno": errno}


def test_a_login_with_the_md5_of_the_password_gets_a_32_hex_token(pbx: Pbx) -> None:
    token = pbx.token()
    assert len(token) == 32
    int(token, 16)
    assert set(pbx.sim.tokens()) == {token}


def test_every_answer_carries_the_cors_headers_of_the_vendor_examples(pbx: Pbx) -> None:
    response = pbx.client.post(f"{pbx.server.url}/api/v1.1.0/login", json={})
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "GET, POST, OPTIONS, PUT, DELETE"


@pytest.mark.parametrize(
    "password",
    [PASSWORD, PASSWORD_MD5.upper(), hashlib.md5(b"wrong").hexdigest()],
    ids=["plain", "upper-case-md5", "md5-of-another"],
)
def test_a_password_that_is_not_the_lowercase_md5_is_refused_with_20003(pbx: Pbx, password: str) -> None:
    assert pbx.login(password=password) == failed("20003")
    assert pbx.sim.tokens() == {}


def test_five_failures_lock_the_source_ip_out_for_ten_minutes(pbx: Pbx, clock: SimClock) -> None:
    answers = [pbx.login(password="0" * 32)["errno"] for _ in range(5)]
    assert answers == ["20003"] * 4 + ["20002"]
    assert pbx.login() == failed("20002")  # even the right password
    clock.advance(9 * MINUTE)
    assert pbx.login() == failed("20002")
    clock.advance(1 * MINUTE)
    assert pbx.login()["status"] == "Success"


def test_a_success_resets_the_failure_count(pbx: Pbx) -> None:
    for _ in range(4):
        pbx.login(password="0" * 32)
    pbx.token()
    assert [pbx.login(password="0" * 32)["errno"] for _ in range(4)] == ["20003"] * 4


def test_the_lock_out_applies_to_the_failing_source_ip_only(pbx: Pbx) -> None:
    for _ in range(5):
        pbx.login(password="0" * 32)
    other_ip = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with other_ip:
        answer = other_ip.post(
            f"{pbx.server.url}/api/v1.1.0/login",
            json={"username": USERNAME, "password": PASSWORD_MD5, "port": "8260"},
        ).json()
    assert answer["status"] == "Success"
    assert [call.source_ip for call in pbx.sim.login_calls][-1] == "127.0.0.2"


def test_a_get_is_answered_200_with_errno_20001(pbx: Pbx) -> None:
    response = pbx.client.get(f"{pbx.server.url}/api/v1.1.0/login")
    assert response.status_code == 200
    assert response.json() == failed("20001")


def test_a_body_that_is_not_json_is_answered_with_errno_20000(pbx: Pbx) -> None:
    response = pbx.client.post(
        f"{pbx.server.url}/api/v1.1.0/login",
        content=b"username=api&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.json() == failed("20000")
    broken = pbx.client.post(
        f"{pbx.server.url}/api/v1.1.0/login",
        content=b'{"url": "x", urlflag: "1"}',
        headers={"Content-Type": "application/json"},
    )
    assert broken.json() == failed("20000")


def test_an_unknown_api_is_answered_with_errno_10003(pbx: Pbx) -> None:
    assert pbx.call("extensionlist/query", token=pbx.token()) == failed("10003")


def test_a_token_is_erased_thirty_minutes_after_the_last_interaction(pbx: Pbx, clock: SimClock) -> None:
    token = pbx.token()
    clock.advance(30 * MINUTE)
    assert pbx.heartbeat(token) == failed("20004")
    assert pbx.sim.tokens() == {}


def test_a_heartbeat_extends_the_token_by_thirty_minutes_from_now(pbx: Pbx, clock: SimClock) -> None:
    token = pbx.token()
    clock.advance(20 * MINUTE)
    assert pbx.heartbeat(token) == {"status": "Success"}
    clock.advance(20 * MINUTE)
    assert pbx.heartbeat(token) == {"status": "Success"}
    assert pbx.sim.tokens()[token] == clock.now() + timedelta(minutes=30)
    clock.advance(29 * MINUTE)
    assert token in pbx.sim.tokens()
    clock.advance(1 * MINUTE)
    assert token not in pbx.sim.tokens()


def test_a_call_without_a_token_is_answered_with_errno_20005(pbx: Pbx) -> None:
    assert pbx.call("heartbeat", {"ipaddr": "127.0.0.1", "port": "8260"}) == failed("20005")
    assert pbx.call("heartbeat", {"ipaddr": "127.0.0.1", "port": "8260"}, token="") == failed("20005")


@pytest.mark.parametrize("missing", ["ipaddr", "port"])
def test_a_heartbeat_without_ipaddr_or_port_is_answered_with_errno_10004(pbx: Pbx, missing: str) -> None:
    body = {"ipaddr": "127.0.0.1", "port": "8260"}
    body[missing] = ""
    assert pbx.call("heartbeat", body, token=pbx.token()) == failed("10004")


@pytest.mark.parametrize("port", ["0", "65536", "80a", -1, 1.5, True, "\uff18\uff10"])
def test_a_heartbeat_port_outside_1_to_65535_is_answered_with_errno_20008(pbx: Pbx, port: Any) -> None:
    assert pbx.heartbeat(pbx.token(), port=port) == failed("20008")


@pytest.mark.parametrize("port", ["1", "65535", 8261])
def test_a_heartbeat_port_is_accepted_as_a_string_or_a_number(pbx: Pbx, port: Any) -> None:
    token = pbx.token()
    assert pbx.heartbeat(token, port=port) == {"status": "Success"}
    target = pbx.sim.report_target()
    assert target is not None and target.port == int(port)


def test_the_login_source_ip_port_and_url_are_the_first_report_target(pbx: Pbx) -> None:
    pbx.token(port="8299", url="report", urltag="0")
    assert pbx.sim.report_target().address == "http://127.0.0.1:8299/report"  # type: ignore[union-attr]


def test_a_heartbeat_updates_the_report_target(pbx: Pbx) -> None:
    token = pbx.token()
    pbx.heartbeat(token, ipaddr="localhost", port="9000", url="events", urlflag="0")
    assert pbx.sim.report_target().address == "http://localhost:9000/events"  # type: ignore[union-attr]
    assert pbx.sim.heartbeats[-1]["url"] == "events"


def test_urltag_wins_over_urlflag_when_they_differ(pbx: Pbx) -> None:
    token = pbx.token()
    pbx.heartbeat(token, port="9000", url="127.0.0.1:9001/abs", urltag="1", urlflag="0")
    assert pbx.sim.report_target().address == "http://127.0.0.1:9001/abs"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "body", [{"urltag": "2"}, {"urltag": "1", "url": ""}], ids=["tag-2", "absolute-no-url"]
)
def test_a_report_url_that_cannot_be_used_is_answered_with_errno_20011(
    pbx: Pbx, body: dict[str, str]
) -> None:
    token = pbx.token()
    assert pbx.heartbeat(token, **body) == failed("20011")
    assert pbx.sim.report_target().address == "http://127.0.0.1:8260/"  # type: ignore[union-attr]


def test_a_logout_invalidates_the_token(pbx: Pbx) -> None:
    token = pbx.token()
    assert pbx.call("logout", token=token) == {"status": "Success"}
    assert pbx.heartbeat(token) == failed("20004")


def test_a_report_is_resent_until_the_application_server_answers_200(pbx: Pbx, clock: SimClock) -> None:
    receiver = ScriptedReceiver([500, 503])
    with SimulatorServer(receiver) as app_server:
        token = pbx.token(port=str(app_server.port), url="report")
        clock.advance(20 * MINUTE)
        pbx.sim.push_report({"action": "BootUp", "sn": "369351034049"}, attempts=5, interval=0.0)
        assert pbx.sim.wait_reports_delivered(timeout=10)
    [push] = pbx.sim.report_attempts()
    assert push.attempts == [500, 503, 200]
    assert push.target == f"http://127.0.0.1:{app_server.port}/report"
    assert [r.path for r in receiver.received] == ["/report"] * 3
    assert {r.headers["user-agent"] for r in receiver.received} == {"WebAPI"}
    assert receiver.received[0].json() == {"action": "BootUp", "sn": "369351034049"}
    clock.advance(20 * MINUTE)  # 40 minutes after login, 20 after the delivered report
    assert pbx.heartbeat(token) == {"status": "Success"}


def test_a_report_gives_up_after_its_attempts(pbx: Pbx) -> None:
    receiver = ScriptedReceiver([500] * 10)
    with SimulatorServer(receiver) as app_server:
        pbx.token(port=str(app_server.port))
        pbx.sim.push_report({"action": "NewCdr", "callid": "1"}, attempts=3, interval=0.0)
        assert pbx.sim.wait_reports_delivered(timeout=10) is False
    [push] = pbx.sim.report_attempts()
    assert push.attempts == [500, 500, 500]
    assert not push.delivered


def test_no_report_is_pushed_without_a_valid_token(pbx: Pbx, clock: SimClock) -> None:
    receiver = ScriptedReceiver([])
    with SimulatorServer(receiver) as app_server:
        pbx.token(port=str(app_server.port))
        clock.advance(31 * MINUTE)
        pbx.sim.push_report({"action": "BootUp"}, attempts=3, interval=0.0)
        assert pbx.sim.wait_reports_delivered(timeout=10) is False
    [push] = pbx.sim.report_attempts()
    assert push.attempts == []
    assert push.refused is not None and "token" in push.refused
    assert receiver.received == []


def test_a_report_target_off_loopback_is_refused_and_recorded(pbx: Pbx) -> None:
    token = pbx.token()
    pbx.heartbeat(token, ipaddr="192.0.2.10", port="8260")
    pbx.sim.push_report({"action": "BootUp"}, attempts=3, interval=0.0)
    assert pbx.sim.wait_reports_delivered(timeout=10) is False
    [push] = pbx.sim.report_attempts()
    assert push.attempts == []
    assert push.refused is not None and "192.0.2.10" in push.refused
