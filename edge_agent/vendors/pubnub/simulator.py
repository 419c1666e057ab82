"""PubNub Presence "announce heartbeat" (vendor 004): signatures, access grants and presence.

``GET /v2/presence/sub-key/{sub_key}/channel/{channels}/heartbeat?uuid=...`` tells
Presence a client is still there. This simulator answers it as the service does:

* a keyset with a secret key requires ``signature`` and ``timestamp``; the timestamp must
  be within ±60 s of the (simulated) clock and the signature must be v2 over the raw
  path and the once-decoded, re-encoded query (see :mod:`.pubnub_signature`), compared in
  constant time; any failure is 403 "Signature does not match";
* with grants (:meth:`PubNubSimulator.grant`), the ``auth`` key must be granted every
  channel and channel group of the request, else 403 "Forbidden" naming them;
* presence: each (channel, uuid) stays present until ``now + heartbeat`` (default 300 s);
  the first heartbeat, or the first after a timeout, is a ``join`` event, and expiry is a
  ``timeout`` event. Timeouts are found lazily on each request, or by
  :meth:`~PubNubSimulator.check_timeouts` after a test moves the clock;
* success is exactly ``{"status": 200, "message": "OK", "service": "Presence"}`` with
  ``Content-Type: text/javascript; charset="UTF-8"``. A request for channel groups only
  uses the literal ``,`` as its channel segment.

Rules of ours [INFERRED], where the vendor documents nothing for this endpoint: an
unknown sub_key, a missing or over-long ``uuid`` (over 92 characters), a ``heartbeat``
that is not a positive integer, a repeated query key, a ``state`` that is not a JSON
object, and a request naming neither a channel nor a group are 400 with a
``{"status": 400, "error": true, "message": ..., "service": "Presence"}`` body; another
method is 405 and another path 404; a malformed timestamp counts as a signature failure.
``state`` must be an object keyed by channel or channel-group name, each value an object
(the seed: "an object with root keys associated with each channel you are setting state
for", even for one channel; the Python SDK's ``StateManager.state_payload`` keys by channel
and by group alike [SRC]); a key naming neither a channel nor a group of the request, or a
value that is not an object, is 400 (the unkeyed ``{"mood": "calm"}`` form included). A
name that is both a channel and a group of the request sets both. State is dropped on
timeout.

Clock: the ±60 s window is checked against the simulator's own clock, and every answer
carries a ``Date`` header from that same clock (the live service sends one; a client whose
clock is off can correct its ``timestamp`` from it).

Replay rejection (the same timestamp and signature twice) is off unless
``add_keyset(..., reject_replays=True)``. JSONP ``callback`` is not supported.

Query values are taken as the base server decodes them (``+`` reads as a space), so a
client must percent-encode ``+`` (as ``enc`` does) for its signature to match.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any, NoReturn, Optional
from urllib.parse import unquote

from edge_agent.simulators.base import SimClock, SimRequest, SimResponse
from edge_agent.vendors.pubnub.simulator_signature import sign_string, signatures_match, string_to_sign

DEFAULT_PRESENCE_TIMEOUT = 300
TIMESTAMP_WINDOW_SECONDS = 60
MAX_UUID_LENGTH = 92
CHANNEL = "channel"
CHANNEL_GROUP = "channel-group"

_HEARTBEAT_PATH = re.compile(r"/v2/presence/sub-key/(?P<sub_key>[^/]+)/channel/(?P<channels>[^/]+)/heartbeat")
_HEADERS = {
    "Content-Type": 'text/javascript; charset="UTF-8"',
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "OPTIONS, GET, POST",
}
SUCCESS_BODY = {"status": 200, "message": "OK", "service": "Presence"}
SIGNATURE_MISMATCH_BODY = {
    "message": "Signature does not match",
    "error": True,
    "service": "Access Manager",
    "status": 403,
}


@dataclass
class _Keyset:
    sub_key: str
    publish_key: str
    secret_key: Optional[str]
    reject_replays: bool
    grants: Optional[dict[tuple[str, str], set[str]]] = None  # (kind, name) -> auth keys
    seen_signatures: dict[tuple[str, str], float] = field(default_factory=dict)


@dataclass(frozen=True)
class PresenceEvent:
    """A join or a timeout of ``uuid`` on a channel (``kind`` "channel") or a channel group."""

    action: str  # "join" | "timeout"
    sub_key: str
    kind: str
    name: str
    uuid: str
    at: datetime


@dataclass(frozen=True)
class SignatureFailure:
    """Why a signed request was refused; ``signed`` is the string the server signed, if it got that far."""

    reason: str
    raw_path: str
    signed: Optional[str] = None


class _Refused(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message"))
        self.status = status
        self.body = body


class PubNubSimulator:
    """The Presence service for heartbeats; a :class:`~edge_agent.simulators.base.SimApp`."""

    def __init__(self, clock: Optional[SimClock] = None) -> None:
        self.clock = clock or SimClock()
        self._lock = threading.Lock()
        self._keysets: dict[str, _Keyset] = {}
        self._present_until: dict[tuple[str, str, str, str], datetime] = {}  # (sk, kind, name, uuid)
        self._states: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self._events: list[PresenceEvent] = []
        self.signature_failures: list[SignatureFailure] = []

    # -- hooks ------------------------------------------------------------------------------

    def add_keyset(
        self,
        sub_key: str,
        publish_key: str,
        secret_key: Optional[str] = None,
        *,
        reject_replays: bool = False,
    ) -> None:
        with self._lock:
            self._keysets[sub_key] = _Keyset(sub_key, publish_key, secret_key, reject_replays)

    def grant(
        self,
        sub_key: str,
        auth_key: str,
        channels: tuple[str, ...] = (),
        channel_groups: tuple[str, ...] = (),
    ) -> None:
        """Let ``auth_key`` heartbeat on these channels and groups; from the first grant on,
        the keyset refuses every channel or group not granted to the request's ``auth``."""
        with self._lock:
            keyset = self._keysets[sub_key]
            if keyset.grants is None:
                keyset.grants = {}
            for kind, names in ((CHANNEL, channels), (CHANNEL_GROUP, channel_groups)):
                for name in names:
                    keyset.grants.setdefault((kind, name), set()).add(auth_key)

    def check_timeouts(self) -> None:
        """Emit a ``timeout`` event for every occupant whose heartbeat window has passed."""
        with self._lock:
            self._expire(self.clock.now())

    def occupants(self, channel: str, *, kind: str = CHANNEL, sub_key: Optional[str] = None) -> list[str]:
        """The uuids present now on ``channel`` (or on a group, with ``kind="channel-group"``)."""
        self.check_timeouts()
        with self._lock:
            return sorted(
                uuid
                for (sk, k, name, uuid) in self._present_until
                if k == kind and name == channel and sub_key in (None, sk)
            )

    def presence_events(self) -> list[PresenceEvent]:
        """Every join and timeout so far, in the order they happened."""
        self.check_timeouts()
        with self._lock:
            return list(self._events)

    def state(
        self, channel: str, uuid: str, *, kind: str = CHANNEL, sub_key: Optional[str] = None
    ) -> Optional[dict[str, Any]]:
        """The state ``uuid`` last set on ``channel``, while it is present there."""
        self.check_timeouts()
        with self._lock:
            for (sk, k, name, who), value in self._states.items():
                if (k, name, who) == (kind, channel, uuid) and sub_key in (None, sk):
                    return dict(value)
            return None

    # -- the endpoint -----------------------------------------------------------------------

    def handle(self, request: SimRequest) -> SimResponse:
        now = self.clock.now()
        match = _HEARTBEAT_PATH.fullmatch(request.raw_path)
        if match is None:
            return _answer(404, _error(404, "Not Found"), now)
        if request.method != "GET":
            return _answer(405, _error(405, "Method Not Allowed"), now)
        try:
            with self._lock:
                self._expire(now)
                self._heartbeat(request, unquote(match["sub_key"]), match["channels"], now)
        except _Refused as refused:
            return _answer(refused.status, refused.body, now)
        return _answer(200, SUCCESS_BODY, now)

    def _heartbeat(self, request: SimRequest, sub_key: str, channel_segment: str, now: datetime) -> None:
        keyset = self._keysets.get(sub_key)
        if keyset is None:
            raise _Refused(400, _error(400, "Invalid Subscribe Key"))
        if any(len(values) > 1 for values in request.query.values()):
            raise _Refused(400, _error(400, "Invalid Arguments: a query parameter is repeated"))
        params = {key: values[0] for key, values in request.query.items()}
        if keyset.secret_key is not None:
            self._verify_signature(keyset, request, params, now)
        uuid = params.get("uuid", "")
        if not uuid or len(uuid) > MAX_UUID_LENGTH:
            raise _Refused(400, _error(400, "Invalid Arguments: uuid is required (1-92 characters)"))
        resources = _resources(channel_segment, params.get(CHANNEL_GROUP, ""))
        if keyset.grants is not None:
            _check_grants(keyset.grants, params.get("auth", ""), resources)
        timeout = _presence_timeout(params.get("heartbeat"))
        states = _states_by_resource(params.get("state"), resources)
        for kind, name in resources:
            key = (sub_key, kind, name, uuid)
            if key not in self._present_until:
                self._events.append(PresenceEvent("join", sub_key, kind, name, uuid, now))
            self._present_until[key] = now + timedelta(seconds=timeout)
            if (kind, name) in states:
                self._states[key] = states[(kind, name)]

    def _verify_signature(
        self, keyset: _Keyset, request: SimRequest, params: dict[str, str], now: datetime
    ) -> None:
        signature = params.get("signature", "")
        timestamp = params.get("timestamp", "")
        if not signature or not timestamp:
            self._refuse_signature("signature and timestamp are required", request.raw_path)
        if not (timestamp.isascii() and timestamp.isdigit()):
            self._refuse_signature(f"timestamp {timestamp!r} is not Unix seconds", request.raw_path)
        if abs(now.timestamp() - int(timestamp)) > TIMESTAMP_WINDOW_SECONDS:
            self._refuse_signature(f"timestamp {timestamp} is more than 60 s from now", request.raw_path)
        signed = string_to_sign(request.method, keyset.publish_key, request.raw_path, params)
        if not signatures_match(sign_string(keyset.secret_key or "", signed), signature):
            self._refuse_signature("signature does not match", request.raw_path, signed)
        if keyset.reject_replays:
            horizon = now.timestamp() - 2 * TIMESTAMP_WINDOW_SECONDS
            keyset.seen_signatures = {k: t for k, t in keyset.seen_signatures.items() if t >= horizon}
            if (timestamp, signature) in keyset.seen_signatures:
                self._refuse_signature("replayed timestamp and signature", request.raw_path, signed)
            keyset.seen_signatures[(timestamp, signature)] = float(timestamp)

    def _refuse_signature(self, reason: str, raw_path: str, signed: Optional[str] = None) -> NoReturn:
        self.signature_failures.append(SignatureFailure(reason, raw_path, signed))
        raise _Refused(403, dict(SIGNATURE_MISMATCH_BODY))

    def _expire(self, now: datetime) -> None:
        expired = sorted((until, key) for key, until in self._present_until.items() if until <= now)
        for until, key in expired:
            sub_key, kind, name, uuid = key
            del self._present_until[key]
            self._states.pop(key, None)
            self._events.append(PresenceEvent("timeout", sub_key, kind, name, uuid, until))


def _resources(channel_segment: str, groups_param: str) -> list[tuple[str, str]]:
    """The (kind, name) pairs a heartbeat names: path channels (``,`` = none) and groups."""
    channels = [] if channel_segment == "," else [unquote(name) for name in channel_segment.split(",")]
    groups = groups_param.split(",") if groups_param else []
    if any(not name for name in channels + groups):
        raise _Refused(400, _error(400, "Invalid Arguments: empty channel or channel group name"))
    if not channels and not groups:
        raise _Refused(400, _error(400, "Invalid Arguments: no channel or channel group"))
    return [(CHANNEL, name) for name in channels] + [(CHANNEL_GROUP, name) for name in groups]


def _check_grants(
    grants: dict[tuple[str, str], set[str]], auth: str, resources: list[tuple[str, str]]
) -> None:
    denied = [(kind, name) for kind, name in resources if auth not in grants.get((kind, name), set())]
    if denied:
        payload: dict[str, list[str]] = {}
        for kind, name in denied:
            payload.setdefault("channels" if kind == CHANNEL else "channel-groups", []).append(name)
        raise _Refused(
            403,
            {
                "message": "Forbidden",
                "payload": payload,
                "error": True,
                "service": "Access Manager",
                "status": 403,
            },
        )


def _presence_timeout(value: Optional[str]) -> int:
    if value is None or value == "":
        return DEFAULT_PRESENCE_TIMEOUT
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise _Refused(400, _error(400, "Invalid Arguments: heartbeat must be a positive integer"))
    return int(value)


def _states_by_resource(
    value: Optional[str], resources: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    if value is None:
        return {}
    try:
        state = json.loads(value)
    except ValueError:
        raise _Refused(400, _error(400, "Invalid Arguments: state is not JSON")) from None
    if not isinstance(state, dict):
        raise _Refused(400, _error(400, "Invalid Arguments: state is not a JSON object"))
    by_name: dict[str, list[tuple[str, str]]] = {}
    for kind, name in resources:
        by_name.setdefault(name, []).append((kind, name))
    strays = [key for key in state if key not in by_name]
    if strays:
        raise _Refused(
            400,
            _error(
                400,
                "Invalid Arguments: state must be an object keyed by the channels and channel groups "
                f"of the request; {strays[0][:60]!r} is neither",
            ),
        )
    flat = [key for key, item in state.items() if not isinstance(item, dict)]
    if flat:
        raise _Refused(
            400, _error(400, f"Invalid Arguments: the state of {flat[0][:60]!r} is not a JSON object")
        )
    return {resource: item for key, item in state.items() for resource in by_name[key]}


def _error(status: int, message: str) -> dict[str, Any]:
    return {"status": status, "error": True, "message": message, "service": "Presence"}


def _answer(status: int, body: dict[str, Any], now: datetime) -> SimResponse:
    headers = {**_HEADERS, "Date": format_datetime(now.astimezone(timezone.utc), usegmt=True)}
    return SimResponse(status, json.dumps(body).encode("utf-8"), headers)


# -- the registry convention (see edge_agent/simulators/__init__.py) -----------------------

DEMO_SUBSCRIBE_KEY = "sub-c-edge-agent-demo"
DEMO_PUBLISH_KEY = "pub-c-edge-agent-demo"
DEMO_SECRET_KEY = "sec-c-edge-agent-demo"


def create(clock: Optional[SimClock] = None) -> PubNubSimulator:
    """A Presence service with no keysets: tests add theirs with :meth:`PubNubSimulator.add_keyset`."""
    return PubNubSimulator(clock)


def describe(base_url: str) -> str:
    return (
        f'PubNub Presence: set origin = "{base_url}" in a [heartbeats.<name>] table with '
        'vendor = "pubnub" and the demo keys below (requests must be signed with the secret key)'
    )


def seed_demo(app: PubNubSimulator) -> dict[str, str]:
    app.add_keyset(DEMO_SUBSCRIBE_KEY, DEMO_PUBLISH_KEY, DEMO_SECRET_KEY)
    return {
        "subscribe_key": DEMO_SUBSCRIBE_KEY,
        "publish_key": DEMO_PUBLISH_KEY,
        "secret_key": DEMO_SECRET_KEY,
    }
