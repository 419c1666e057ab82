"""What a vendor adapter deals in: HTTP requests and responses as plain data, and its reply.

Adapters never touch a socket. They build an :class:`HttpRequest`, hand it to a
:data:`Send` function (the transport seam: the engine's HTTP transport, or anything else
that answers a request), and read the :class:`HttpResponse` it returns. State that must
outlive a restart and the action journal are reached through :class:`VendorContext`, so
an adapter never imports the store.

:func:`error_for_status` is the one place where an HTTP status becomes one of our
:class:`~edge_agent.errors.VendorError` subclasses; adapters call it with their own
vendor-specific wording of the error body.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Optional, Protocol

from edge_agent.errors import (
    VendorAuthError,
    VendorError,
    VendorProtocolError,
    VendorRejectedError,
    VendorTransportError,
)
from edge_agent.jsonsafe import DEFAULT_MAX_DEPTH, loads
from edge_agent.model import Action, Clock, Snapshot

MASK = "****"
JSON_CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class HttpRequest:
    """One request to a vendor, exactly as it will be sent.

    ``secret_headers`` and ``secret_fields`` (top-level keys of the JSON body) name what
    :meth:`to_display` masks, so a dry-run or a log line never shows a token.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json_body: Any = None
    secret_headers: frozenset[str] = frozenset()
    secret_fields: frozenset[str] = frozenset()
    text_body: Optional[str] = None  # a plain-text body (a ping's log), instead of JSON
    secret_url_parts: tuple[str, ...] = ()  # secrets inside the URL itself (a ping UUID, a push token)

    def body_bytes(self) -> Optional[bytes]:
        """The body on the wire: the text body, compact UTF-8 JSON, or None for a request without one."""
        if self.text_body is not None:
            return self.text_body.encode("utf-8")
        if self.json_body is None:
            return None
        return json.dumps(self.json_body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def to_display(self, extra_headers: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
        """Method, URL, headers and body as JSON-able data, with every secret masked."""
        secret_names = {name.lower() for name in self.secret_headers}
        headers = dict(extra_headers or {})
        headers.update(self.headers)
        shown_headers = {
            name: (MASK if name.lower() in secret_names else value) for name, value in headers.items()
        }
        body = self.json_body if self.text_body is None else self.text_body
        if isinstance(body, dict):
            body = {key: (MASK if key in self.secret_fields else value) for key, value in body.items()}
        url = self.url
        for secret in self.secret_url_parts:
            if secret:
                url = url.replace(secret, MASK)
        return {"method": self.method, "url": url, "headers": shown_headers, "body": body}


def parse_json(body: bytes) -> Any:
    """A vendor's JSON body; ValueError for what strict JSON refuses, though Python's json reads it.

    ``NaN``, ``Infinity`` and numbers past a float's range (read as infinity) are not JSON:
    passed on in an event or a retained strategy, they would make the agent's own MQTT
    messages unreadable to strict parsers (JavaScript, Go). Nesting is capped at
    :data:`~edge_agent.jsonsafe.DEFAULT_MAX_DEPTH` levels (a :class:`JsonTooDeep`): a reply
    nested ~1000 levels parses, but every later ``json.dumps`` of it (store, outbox,
    digest) raises RecursionError, which would end the endpoint's loop.
    """
    return loads(body, max_depth=DEFAULT_MAX_DEPTH)


@dataclass(frozen=True)
class HttpResponse:
    """One answer from a vendor: status, lower-case headers, and the body (already capped)."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body parsed as JSON; a :class:`VendorProtocolError` when it is not JSON."""
        try:
            return parse_json(self.body)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise VendorProtocolError(
                f"reply is not JSON ({type(exc).__name__}: {str(exc)[:80]}): {self.excerpt()!r}",
                status=self.status,
            ) from exc

    def excerpt(self, limit: int = 120) -> str:
        """The start of the body as text, for an error message a person can read."""
        return self.body[:limit].decode("utf-8", errors="replace")


Send = Callable[[HttpRequest], Awaitable[HttpResponse]]
"""The transport seam: send one request, return its response or raise a VendorError."""


@dataclass(frozen=True)
class Reply:
    """What one heartbeat brought back, after the adapter read it.

    ``actions`` are the work items the reply asked for (already queued through the
    context); ``next_interval`` overrides the configured interval when the vendor says
    so; ``summary`` is the parsed reply as JSON-able data, printed by ``edge-agent
    heartbeat`` and useful in logs; ``skipped`` lists what was ignored and why;
    ``over_limit`` counts the actions past ``[actions] max_per_reply`` that were not read.
    """

    status: Optional[int] = None
    actions: tuple[Action, ...] = ()
    next_interval: Optional[float] = None
    summary: Any = None
    skipped: tuple[str, ...] = ()
    over_limit: int = 0


@dataclass(frozen=True)
class BacklogItem:
    """One entry of an endpoint's durable backlog: its id, the item as pushed, and its sends so far."""

    id: int
    item: Any
    attempts: int


class VendorContext(Protocol):
    """What an adapter may reach beyond its own config: its durable state, the journal, events.

    ``device_id`` is the ``[device] id`` (a vendor identity may default to it). The
    backlog is an ordered, durable list of work owed to the vendor (AI-box events awaiting
    their Ack): written before it is sent, removed only once the vendor confirmed it.
    """

    endpoint: str
    clock: Clock
    device_id: str
    max_actions_per_reply: int

    def get(self, key: str, default: Any = None) -> Any:
        """A value this endpoint stored earlier (survives restarts)."""

    def update(self, values: dict[str, Any]) -> None:
        """Store several values at once (all or none)."""

    def delete(self, *keys: str) -> None:
        """Forget these keys."""

    def queue_action(self, action: Action) -> bool:
        """Journal ``action`` for the action runner; False when it was seen before."""

    def queue_actions(self, actions: Sequence[Action], *, over_limit: int = 0) -> list[bool]:
        """Journal a reply's actions in one transaction (at most ``max_actions_per_reply``)."""

    def action_state(self, action_id: str) -> Optional[tuple[str, dict[str, Any]]]:
        """The journal state and details of an action queued earlier, or None."""

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        """Publish an event (``firmware.available``, ``config.applied`` ...)."""

    def failing_endpoints(self) -> dict[str, str]:
        """The device's other heartbeat endpoints whose last beat failed: name -> why."""
        ...

    def atomic(self) -> AbstractContextManager[None]:
        """State written and events emitted inside happen together: a crash keeps all or none.

        For state that records "already told": saved without its event, a restart would
        never tell again; the event without the state, it would tell twice.
        """

    def backlog_push(self, item: dict[str, Any]) -> int:
        """Append ``item`` to this endpoint's backlog (durable when this returns); its id."""

    def backlog_items(self, limit: int = 100) -> list[BacklogItem]:
        """The oldest ``limit`` backlog entries, in the order they were pushed."""

    def backlog_attempted(self, item_id: int) -> None:
        """Count one more send of entry ``item_id``."""

    def backlog_remove(self, item_id: int) -> None:
        """The vendor confirmed entry ``item_id``: forget it."""

    def backlog_len(self) -> int:
        """How many entries wait in the backlog."""


def error_for_status(status: int, detail: str) -> VendorError:
    """The VendorError an unsuccessful HTTP status stands for; ``detail`` says what the vendor said.

    401/403 mean "you are not allowed" (long backoff); 408, 425, 429 and 5xx are worth
    retrying; any other 4xx means the request itself is wrong and retrying will not help;
    anything else (1xx, a redirect we do not follow) is not a reply we understand.
    """
    message = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    if status in (401, 403):
        return VendorAuthError(message, status=status)
    if status in (408, 425, 429) or 500 <= status < 600:
        return VendorTransportError(message, status=status)
    if 400 <= status < 500:
        return VendorRejectedError(message, status=status)
    return VendorProtocolError(message, status=status)


def error_detail(response: HttpResponse) -> str:
    """A vendor's error body in one line: ``key: text`` from a JSON object, else the text.

    Vendors rarely document their error bodies, so this reads the common shapes
    (``{"error": ..., "message": ...}``) and falls back to the raw text.
    """
    try:
        body = parse_json(response.body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return response.excerpt()
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("error", "message") if isinstance(body.get(key), (str, int))]
        if parts:
            return ": ".join(dict.fromkeys(parts))
    return response.excerpt()


class VendorAdapter(Protocol):
    """What the engine needs of a vendor: a preview of its next request, and one beat.

    ``beat`` sends through ``send`` as many requests as one heartbeat takes (one for
    Telecom X; register, telemetry and follow-ups for Xyte), queues the actions it
    brings through the context, and returns the :class:`Reply`; it raises a VendorError
    when the heartbeat failed. ``final=True`` is the last beat before a clean shutdown,
    sent only when ``sends_final`` is true.
    """

    vendor: ClassVar[str]
    sends_final: ClassVar[bool]

    def __init__(self, endpoint: str, config: Any, context: VendorContext) -> None: ...

    def preview(self, snapshot: Optional[Snapshot], *, final: bool = False) -> tuple[HttpRequest, str]:
        """The first request the next beat would send, and a note for a person ("" if none)."""

    async def beat(self, snapshot: Optional[Snapshot], send: Send, *, final: bool = False) -> Reply:
        """One heartbeat; raises a VendorError when it failed."""
