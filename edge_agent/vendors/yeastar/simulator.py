"""The Yeastar S-Series PBX API v1.1.0 (vendor 003): login, token lifetime, heartbeat, reports.

The agent is the PBX's "application server": it logs in with the API user and the MD5
of the API password, keeps its token alive with heartbeats, and receives event reports
that the PBX POSTs to it. This simulator enforces what the PBX enforces:

* POST only (otherwise errno 20001), JSON only (20000); every answer is HTTP 200 with
  ``{"status": "Success", ...}`` or ``{"status": "Failed", "errno": "<string>"}`` and the
  CORS headers of the vendor's examples;
* login: ``password`` must be the lowercase 32-hex MD5 of the API password (20003
  otherwise); 5 consecutive failures from one source IP lock that IP out for 10 minutes
  (20002); success gives a 32-hex token and records the report target (the login's
  source IP, ``port``, ``url``, ``urltag``);
* a token is erased 30 minutes after the last interaction (then 20004; a blank one is
  20005). Any accepted call and any delivered report extends it; a heartbeat sets it to
  now + 30 minutes. Time comes from a :class:`SimClock` that tests move;
* heartbeat: ``ipaddr`` and ``port`` are required (10004 if blank), the port must be
  1-65535 as a string or a number (20008), ``urltag`` or ``urlflag`` choose a relative or
  absolute report URL (``urltag`` wins when both are sent and differ);
* :meth:`YeastarSimulator.push_report` POSTs a report with ``User-Agent: WebAPI`` to the
  current target and retries until the receiver answers 200, while a valid token exists.

Rules of ours, not the vendor's [INFERRED]: the 5th consecutive failure itself answers
20002 (the lock starts there); a blank username or password (10004) or a bad port (20008)
does not count as a failure; a ``urltag`` other than 0 or 1, or an absolute target without a URL, is
20011; only a call answered "Success" extends the token (a failed delivery attempt does
not); an unknown API path is 10003; reports go to the target most recently set by a
login or heartbeat of a still-valid token.

Reports are pushed to loopback only: a target host other than 127.0.0.1, localhost or
::1 is refused, recorded in :meth:`~YeastarSimulator.report_attempts`, and skipped, so a
test or ``edge-agent simulate`` can never send traffic to another machine.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Optional

from edge_agent.simulators.base import SimClock, SimRequest, SimResponse
from edge_agent.vendors.yeastar.simulator_reports import ReportPush, ReportTarget, post_report

API_PREFIX = "/api/v1.1.0/"
TOKEN_LIFETIME = timedelta(minutes=30)
LOCKOUT_AFTER_FAILURES = 5
LOCKOUT_DURATION = timedelta(minutes=10)
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS, PUT, DELETE",
}

ERRNO_UNSUPPORTED_API = "10003"
ERRNO_PARAMETER_BLANK = "10004"
ERRNO_JSON_ONLY = "20000"
ERRNO_POST_ONLY = "20001"
ERRNO_LOCKED_OUT = "20002"
ERRNO_BAD_CREDENTIALS = "20003"
ERRNO_NO_SUCH_TOKEN = "20004"
ERRNO_TOKEN_BLANK = "20005"
ERRNO_PORT = "20008"
ERRNO_HEARTBEAT_CONFIG = "20011"


@dataclass(frozen=True)
class LoginCall:
    """One login attempt: ``outcome`` is "Success" or the errno answered."""

    source_ip: str
    username: Optional[str]
    outcome: str


@dataclass
class _Session:
    token: str
    expires_at: datetime
    target: ReportTarget
    target_order: int  # higher = set more recently; reports follow the latest target


class _Failed(Exception):
    def __init__(self, errno: str) -> None:
        super().__init__(errno)
        self.errno = errno


class YeastarSimulator:
    """The PBX side of the Yeastar API; a :class:`~edge_agent.simulators.base.SimApp`.

    ``new_token`` makes tokens (random 32-hex by default), ``sleep`` waits between report
    attempts and ``report_timeout`` bounds each one; all three are there for tests.
    """

    def __init__(
        self,
        clock: Optional[SimClock] = None,
        *,
        new_token: Callable[[], str] = lambda: secrets.token_hex(16),
        sleep: Callable[[float], None] = time.sleep,
        report_timeout: float = 5.0,
    ) -> None:
        self.clock = clock or SimClock()
        self._new_token = new_token
        self._sleep = sleep
        self._report_timeout = report_timeout
        self._lock = threading.Lock()
        self._pushes_changed = threading.Condition(self._lock)
        self._username: Optional[str] = None
        self._password_md5 = ""
        self._sessions: dict[str, _Session] = {}
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, datetime] = {}
        self._target_counter = 0
        self._pushes: list[ReportPush] = []
        self.login_calls: list[LoginCall] = []
        self.heartbeats: list[dict[str, Any]] = []

    # -- hooks ------------------------------------------------------------------------------

    def set_credentials(self, username: str, password: str) -> None:
        """The API user and its plain password (the PBX compares against its MD5)."""
        with self._lock:
            self._username = username
            self._password_md5 = hashlib.md5(password.encode("utf-8")).hexdigest()

    def tokens(self) -> dict[str, datetime]:
        """The tokens still valid now, with the instant each will be erased."""
        with self._lock:
            self._erase_expired()
            return {token: session.expires_at for token, session in self._sessions.items()}

    def report_target(self) -> Optional[ReportTarget]:
        """Where the next report would go (None when no valid token exists)."""
        with self._lock:
            session = self._current_session()
            return session.target if session is not None else None

    def report_attempts(self) -> list[ReportPush]:
        """A snapshot of every pushed report: its attempts, outcome and any refusal."""
        with self._lock:
            return [replace(push, attempts=list(push.attempts)) for push in self._pushes]

    def wait_reports_delivered(self, timeout: float) -> bool:
        """Wait until every pushed report is finished; True if all of them were delivered."""
        with self._pushes_changed:
            self._pushes_changed.wait_for(lambda: all(p.finished for p in self._pushes), timeout)
            return all(p.delivered for p in self._pushes)

    def push_report(self, report: dict[str, Any], attempts: int = 5, interval: float = 1.0) -> None:
        """POST ``report`` to the current target from a background thread.

        Up to ``attempts`` tries, ``interval`` seconds apart, until one is answered 200;
        stops early (recorded as refused) when no valid token exists or the target is not
        on loopback.
        """
        push = ReportPush(report=dict(report))
        with self._lock:
            self._pushes.append(push)
        worker = threading.Thread(
            target=self._deliver, args=(push, attempts, interval), name="yeastar-report", daemon=True
        )
        worker.start()

    # -- the API ----------------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimResponse:
        try:
            if request.method != "POST":
                raise _Failed(ERRNO_POST_ONLY)
            if not request.path.startswith(API_PREFIX):
                raise _Failed(ERRNO_UNSUPPORTED_API)
            api = request.path[len(API_PREFIX) :]
            body = _json_body(request)
            with self._lock:
                self._erase_expired()
                if api == "login":
                    return _success({"token": self._login(request.client_ip, body)})
                if api == "heartbeat":
                    self._heartbeat(request, body)
                    return _success()
                if api == "logout":
                    del self._sessions[self._authorize(request).token]
                    return _success()
            raise _Failed(ERRNO_UNSUPPORTED_API)
        except _Failed as failed:
            return SimResponse.json({"status": "Failed", "errno": failed.errno}, headers=_HEADERS)

    def _login(self, source_ip: str, body: dict[str, Any]) -> str:
        now = self.clock.now()
        username = body.get("username")
        try:
            locked_until = self._locked_until.get(source_ip)
            if locked_until is not None and now < locked_until:
                raise _Failed(ERRNO_LOCKED_OUT)
            self._locked_until.pop(source_ip, None)
            password = body.get("password")
            if _blank(username) or _blank(password):
                raise _Failed(ERRNO_PARAMETER_BLANK)
            target = _report_target(source_ip, body, body.get("urltag"), body.get("version"))
            if not self._credentials_match(username, password):
                raise self._count_failure(source_ip, now)
        except _Failed as failed:
            self.login_calls.append(LoginCall(source_ip, _string_or_none(username), failed.errno))
            raise
        self._failures.pop(source_ip, None)
        token = self._new_token()
        self._sessions[token] = _Session(token, now + TOKEN_LIFETIME, target, self._next_target_order())
        self.login_calls.append(LoginCall(source_ip, username, "Success"))
        return token

    def _credentials_match(self, username: Any, password: Any) -> bool:
        if self._username is None or not isinstance(username, str) or not isinstance(password, str):
            return False
        # The PBX stores the MD5 as lowercase hex; an upper-case or plain password is wrong.
        user_ok = hmac.compare_digest(username.encode("utf-8"), self._username.encode("utf-8"))
        password_ok = hmac.compare_digest(password.encode("utf-8"), self._password_md5.encode("ascii"))
        return user_ok and password_ok

    def _count_failure(self, source_ip: str, now: datetime) -> _Failed:
        failures = self._failures.get(source_ip, 0) + 1
        if failures >= LOCKOUT_AFTER_FAILURES:
            self._failures.pop(source_ip, None)
            self._locked_until[source_ip] = now + LOCKOUT_DURATION
            return _Failed(ERRNO_LOCKED_OUT)
        self._failures[source_ip] = failures
        return _Failed(ERRNO_BAD_CREDENTIALS)

    def _heartbeat(self, request: SimRequest, body: dict[str, Any]) -> None:
        session = self._authorize(request)
        self.heartbeats.append(body)
        ipaddr = body.get("ipaddr")
        if _blank(ipaddr):
            raise _Failed(ERRNO_PARAMETER_BLANK)
        url_tag = body.get("urltag")
        if _blank(url_tag):
            url_tag = body.get("urlflag")
        session.target = _report_target(str(ipaddr).strip(), body, url_tag, session.target.version)
        session.target_order = self._next_target_order()
        session.expires_at = self.clock.now() + TOKEN_LIFETIME

    def _authorize(self, request: SimRequest) -> _Session:
        """The session of ``?token=`` (the caller extends it once the call has succeeded)."""
        token = request.arg("token")
        if _blank(token):
            raise _Failed(ERRNO_TOKEN_BLANK)
        session = self._sessions.get(str(token))
        if session is None:
            raise _Failed(ERRNO_NO_SUCH_TOKEN)
        return session

    def _erase_expired(self) -> None:
        now = self.clock.now()
        for token in [t for t, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[token]

    def _current_session(self) -> Optional[_Session]:
        self._erase_expired()
        return max(self._sessions.values(), key=lambda s: s.target_order, default=None)

    def _next_target_order(self) -> int:
        self._target_counter += 1
        return self._target_counter

    # -- the report pusher ------------------------------------------------------------------

    def _deliver(self, push: ReportPush, attempts: int, interval: float) -> None:
        try:
            for attempt in range(attempts):
                if attempt:
                    self._sleep(interval)
                with self._lock:
                    session = self._current_session()
                    if session is None:
                        push.refused = "no valid token: the PBX only reports while a token is valid"
                        return
                    target = session.target
                    push.target = target.address
                refusal = target.loopback_refusal()
                if refusal is not None:
                    with self._lock:
                        push.refused = refusal
                    return
                status = post_report(target, push.report, self._report_timeout)
                with self._lock:
                    push.attempts.append(status)
                    if status == 200:
                        push.delivered = True
                        live = self._sessions.get(session.token)
                        if live is not None:
                            live.expires_at = self.clock.now() + TOKEN_LIFETIME
                        return
        finally:
            with self._pushes_changed:
                push.finished = True
                self._pushes_changed.notify_all()


_HEADERS = {"Content-Type": "application/json; charset=utf-8", **CORS_HEADERS}


def _success(extra: Optional[dict[str, Any]] = None) -> SimResponse:
    return SimResponse.json({"status": "Success", **(extra or {})}, headers=_HEADERS)


def _json_body(request: SimRequest) -> dict[str, Any]:
    """The body as a JSON object ({} when empty, as logout sends); 20000 for anything else."""
    content_type = request.headers.get("content-type", "application/json")
    if "json" not in content_type.lower():
        raise _Failed(ERRNO_JSON_ONLY)
    if not request.body.strip():
        return {}
    try:
        body = request.json()
    except ValueError as exc:
        raise _Failed(ERRNO_JSON_ONLY) from exc
    if not isinstance(body, dict):
        raise _Failed(ERRNO_JSON_ONLY)
    return body


def _report_target(host: str, body: dict[str, Any], url_tag: Any, version: Any) -> ReportTarget:
    """The target a login or heartbeat describes; an absolute one needs its URL (20011)."""
    target = ReportTarget(
        host=host,
        port=_parse_port(body.get("port")),
        url=_optional_string(body.get("url")),
        url_tag=_parse_url_tag(url_tag),
        version=_optional_string(version) or None,
    )
    if target.url_tag == 1 and not target.url:
        raise _Failed(ERRNO_HEARTBEAT_CONFIG)
    return target


def _parse_port(value: Any) -> int:
    if _blank(value):
        raise _Failed(ERRNO_PARAMETER_BLANK)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _Failed(ERRNO_PORT)
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise _Failed(ERRNO_PORT)
    return int(text)


def _parse_url_tag(value: Any) -> int:
    if _blank(value):
        return 0
    text = str(value).strip()
    if isinstance(value, bool) or text not in ("0", "1"):
        raise _Failed(ERRNO_HEARTBEAT_CONFIG)
    return int(text)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _optional_string(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _string_or_none(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


# -- the registry convention (see edge_agent/simulators/__init__.py) -----------------------

DEMO_USERNAME = "api"
DEMO_PASSWORD = "edge-agent-demo"


def create(clock: Optional[SimClock] = None) -> YeastarSimulator:
    """A PBX with no API user: tests add one with :meth:`YeastarSimulator.set_credentials`."""
    return YeastarSimulator(clock)


def describe(base_url: str) -> str:
    return (
        f'Yeastar PBX API v1.1.0: set url = "{base_url}" in a [heartbeats.<name>] table with '
        'vendor = "yeastar"; it logs in at /api/v1.1.0/login and reports go to report_ip:report_port'
    )


def seed_demo(app: YeastarSimulator) -> dict[str, str]:
    app.set_credentials(DEMO_USERNAME, DEMO_PASSWORD)
    return {"username": DEMO_USERNAME, "password": DEMO_PASSWORD}
