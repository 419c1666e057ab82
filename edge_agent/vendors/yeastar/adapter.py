"""Yeastar S-Series PBX API v1.1.0 (seed 003, protocols.md section 4): token login and heartbeat.

The agent is the PBX's "application server". A beat keeps its token alive and re-asserts
where the PBX sends event reports:

* no token yet: ``POST /api/v1.1.0/login`` with the API user and the *lowercase MD5 hex*
  of the password (plus the report port, URL and ``version`` 1.0.2, which makes the PBX
  send well-formed JSON reports); the token goes to the store;
* ``POST /api/v1.1.0/heartbeat?token=...`` with ``ipaddr``, ``port`` (a string), ``url``
  and the URL type under both ``urlflag`` (the English page) and ``urltag`` (login, the
  Chinese page, v2), which also extends the token by 30 minutes;
* errno 20004, 20005 or 20006 (the token is gone, blank or timed out): log in again and
  repeat the heartbeat, once per beat, never in a loop;
* errno 20002 (5 failed logins lock this address out for 10 minutes): no login until the
  lock has passed, however often the engine asks; a ``yeastar.locked_out`` event says so;
* on a clean shutdown the final beat logs out.

Every answer is HTTP 200 with ``status`` ``Success`` or ``Failed`` and a *string* errno;
another HTTP status means the URL is not the PBX's API (or the PBX is failing), and a body
that is not that JSON is a :class:`VendorProtocolError`.

With ``url_tag = 1`` (absolute) the PBX posts reports to ``url`` itself, which must then
name host and port: a ``report_url`` that does not (``"report"``) is sent as
``"<report_ip>:<report_port>/report"`` [INFERRED: the doc's example has that shape].
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar, Optional

from edge_agent.errors import (
    VendorAuthError,
    VendorError,
    VendorProtocolError,
    VendorRejectedError,
    VendorTransportError,
)
from edge_agent.model import Snapshot, format_utc
from edge_agent.vendors.types import (
    JSON_CONTENT_TYPE,
    MASK,
    HttpRequest,
    HttpResponse,
    Reply,
    Send,
    VendorContext,
    error_for_status,
)

if TYPE_CHECKING:
    from edge_agent.vendors.yeastar.config import YeastarConfig

log = logging.getLogger(__name__)

VENDOR = "yeastar"
API_PATH = "/api/v1.1.0"
REPORT_FORMAT_VERSION = "1.0.2"
LOCKOUT = timedelta(minutes=10)
RELOGIN_ERRNOS = frozenset({"20004", "20005", "20006"})
ERRNO_LOCKED_OUT = "20002"
ERRNO_BAD_CREDENTIALS = "20003"
_CONFIG_ERRNOS = frozenset({"10004", "20008", "20011"})  # our report_ip, port or url is refused
_BUSY_ERRNOS = frozenset({"20010", "30001", "30003"})  # the PBX's API service is not working
ERRNO_MEANINGS = {
    "10002": "unsupported XML data packet format",
    "10003": "unsupported API request",
    "10004": "a required parameter is blank",
    "20000": "only JSON is supported",
    "20001": "only POST is supported",
    "20002": "login locked out after 5 failures (10 minutes)",
    "20003": "invalid username or password",
    "20004": "no such token",
    "20005": "token is blank",
    "20006": "token timeout",
    "20007": "data empty",
    "20008": "port error",
    "20009": "request number empty",
    "20010": "the request could not be handed to apisrv",
    "20011": "heartbeat configuration failed",
    "30001": "JSON allocation failed",
    "30003": "apisrv is not running",
}
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True)
class Answer:
    """One PBX answer: Success, or Failed with its errno (always a string)."""

    success: bool
    errno: Optional[str]
    body: dict[str, Any]

    def meaning(self) -> str:
        errno = self.errno or "?"
        return f"errno {errno} ({ERRNO_MEANINGS.get(errno, 'undocumented')})"


def password_md5(password: str) -> str:
    """What the login sends for ``password``: its MD5 as 32 lowercase hex digits."""
    return hashlib.md5(password.encode("utf-8")).hexdigest()


def report_url(config: YeastarConfig) -> str:
    """The ``url`` the PBX is told: a path for ``url_tag`` 0, ``host:port/path`` for 1."""
    if config.url_tag == 0 or re.match(r"^[^/]+:\d+(/|$)", config.report_url):
        return config.report_url
    host = f"[{config.report_ip}]" if ":" in config.report_ip else config.report_ip
    return f"{host}:{config.report_port}/{config.report_url.lstrip('/')}"


def _api(config: YeastarConfig, call: str, token: Optional[str] = None) -> str:
    url = f"{config.url.rstrip('/')}{API_PATH}/{call}"
    return f"{url}?token={token}" if token is not None else url


def _post(
    url: str, body: Optional[dict[str, Any]], secret_fields: frozenset[str] = frozenset()
) -> HttpRequest:
    headers = {"Content-Type": f"{JSON_CONTENT_TYPE}; charset=utf-8", "Accept": JSON_CONTENT_TYPE}
    return HttpRequest("POST", url, headers, body if body is not None else {}, secret_fields=secret_fields)


def login_request(config: YeastarConfig) -> HttpRequest:
    body = {
        "username": config.username,
        "password": password_md5(config.password.get_secret_value()),
        "port": str(config.report_port),
        "version": REPORT_FORMAT_VERSION,
        "url": report_url(config),
        "urltag": str(config.url_tag),
    }
    return _post(_api(config, "login"), body, frozenset({"password"}))


def heartbeat_request(config: YeastarConfig, token: str) -> HttpRequest:
    tag = str(config.url_tag)
    body = {
        "ipaddr": config.report_ip,
        "port": str(config.report_port),
        "url": report_url(config),
        "urlflag": tag,
        "urltag": tag,
    }
    return _post(_api(config, "heartbeat", token), body)


def logout_request(config: YeastarConfig, token: str) -> HttpRequest:
    return _post(_api(config, "logout", token), None)


def decode(response: HttpResponse) -> Answer:
    """The PBX's answer; a VendorError when it is not an HTTP 200 with Yeastar's JSON."""
    if response.status != 200:
        error = error_for_status(response.status, response.excerpt())
        if isinstance(error, VendorTransportError):
            raise error
        raise VendorProtocolError(
            f"HTTP {response.status}: the PBX API answers every call with 200; is url the PBX's base "
            "address (https://<pbx>:8088)?",
            status=response.status,
        )
    body = response.json()
    status = body.get("status") if isinstance(body, dict) else None
    if not isinstance(status, str) or status.lower() not in ("success", "failed"):
        raise VendorProtocolError(f"not a Yeastar API answer: {response.excerpt()!r}", status=200)
    errno = body.get("errno")
    errno_text = str(errno) if isinstance(errno, (str, int)) and not isinstance(errno, bool) else None
    return Answer(status.lower() == "success", errno_text, body)


def error_for_errno(answer: Answer, call: str) -> VendorError:
    """The VendorError a Failed answer stands for; ``call`` names the API call for the message."""
    message = f"{call}: {answer.meaning()}"
    if answer.errno in (ERRNO_LOCKED_OUT, ERRNO_BAD_CREDENTIALS):
        return VendorAuthError(message)
    if answer.errno in _CONFIG_ERRNOS:
        return VendorRejectedError(f"{message}; check report_ip, report_port and report_url")
    if answer.errno in _BUSY_ERRNOS:
        return VendorTransportError(message)
    return VendorProtocolError(message)


class YeastarAdapter:
    """One Yeastar PBX: a token kept alive, the report target re-asserted, a logout at the end."""

    vendor: ClassVar[str] = VENDOR
    sends_final: ClassVar[bool] = True

    def __init__(self, endpoint: str, config: YeastarConfig, context: VendorContext) -> None:
        self.endpoint = endpoint
        self.config = config
        self.context = context

    def token(self) -> Optional[str]:
        token = self.context.get("token")
        return token if isinstance(token, str) and token else None

    def preview(self, snapshot: Optional[Snapshot], *, final: bool = False) -> tuple[HttpRequest, str]:
        token = self.token()
        if final:
            if token is None:
                return logout_request(self.config, MASK), "no token: a final beat sends nothing"
            return logout_request(self.config, MASK), "logout (token masked)"
        if token is None:
            return login_request(self.config), "not logged in: this is the login; the heartbeat follows"
        return heartbeat_request(self.config, MASK), "heartbeat (token masked)"

    async def beat(self, snapshot: Optional[Snapshot], send: Send, *, final: bool = False) -> Reply:
        if final:
            return await self._logout(send)
        steps: list[str] = []
        token = self.token() or await self._login(send, steps)
        answer = decode(await send(heartbeat_request(self.config, token)))
        if not answer.success and answer.errno in RELOGIN_ERRNOS:
            steps.append(f"heartbeat refused the token ({answer.meaning()}): logging in again")
            log.info("%s: the PBX dropped our token (%s); logging in again", self.endpoint, answer.meaning())
            self.context.delete("token")
            token = await self._login(send, steps)
            answer = decode(await send(heartbeat_request(self.config, token)))
        if not answer.success:
            if answer.errno in RELOGIN_ERRNOS:
                self.context.delete("token")
            raise error_for_errno(answer, "heartbeat")
        steps.append("heartbeat: token extended, report target set")
        summary = {
            "steps": steps,
            "report_target": {"ipaddr": self.config.report_ip, "port": self.config.report_port,
                              "url": report_url(self.config), "urltag": self.config.url_tag},
        }  # fmt: skip
        return Reply(status=200, summary=summary)

    async def _login(self, send: Send, steps: list[str]) -> str:
        now = self.context.clock.now()
        locked_until = self._locked_until()
        if locked_until is not None and now < locked_until:
            raise VendorAuthError(
                f"login: this address is locked out by the PBX until {format_utc(locked_until)} "
                "(errno 20002); not trying before then"
            )
        answer = decode(await send(login_request(self.config)))
        if not answer.success:
            if answer.errno == ERRNO_LOCKED_OUT:
                self._lock_out(now)
            raise error_for_errno(answer, "login")
        token = answer.body.get("token")
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise VendorProtocolError("login: the PBX answered Success without a usable token")
        self.context.update({"token": token, "logged_in_at": format_utc(now)})
        self.context.delete("locked_until")
        steps.append("logged in")
        return token

    def _locked_until(self) -> Optional[datetime]:
        value = self.context.get("locked_until")
        if not isinstance(value, (int, float)):
            return None
        return datetime.fromtimestamp(value, timezone.utc)

    def _lock_out(self, now: datetime) -> None:
        until = now + LOCKOUT
        with self.context.atomic():  # the lock-out is kept only together with the event owed for it
            self.context.update({"locked_until": until.timestamp()})
            self.context.emit(
                "yeastar.locked_out",
                {"endpoint": self.endpoint, "until": format_utc(until), "username": self.config.username},
            )
        log.error(
            "%s: the PBX locked us out after repeated failed logins; no login before %s",
            self.endpoint,
            format_utc(until),
        )

    async def _logout(self, send: Send) -> Reply:
        token = self.token()
        if token is None:
            return Reply(summary={"steps": ["no token: nothing to log out"]})
        answer = decode(await send(logout_request(self.config, token)))
        if not answer.success and answer.errno not in RELOGIN_ERRNOS:
            raise error_for_errno(answer, "logout")
        self.context.delete("token")
        return Reply(status=200, summary={"steps": ["logged out"]})
