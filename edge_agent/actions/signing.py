"""Signed MQTT commands: HMAC-SHA256 over the command's canonical JSON, naming its device.

With ``[actions] mqtt_secret`` (or ``mqtt_secret_file`` / ``mqtt_secret_env``) set,
anyone who can publish on ``<prefix>/<id>/cmd`` still cannot make the device act: a
command must carry

* ``device``: the ``[device] id`` it is meant for, so a command signed for one device
  does not run on another that shares the secret (a fleet usually does);
* ``expires_at``, so a captured command stops working, and no further ahead than
  ``[actions] max_command_lifetime`` (24 h by default), so it cannot be made to last;
* ``signature``: the lower-case hex HMAC-SHA256, keyed with the secret (UTF-8), of the
  command without its ``signature`` key, serialised as canonical JSON: keys sorted, no
  spaces, UTF-8 (``json.dumps(obj, sort_keys=True, separators=(",", ":"),
  ensure_ascii=False)``, which is what ``jq -cS`` prints for strings, integers,
  booleans and nested objects). ``device`` is inside what is signed.

The MAC is computed as before; only ``device`` is new. So a command signed the old way
(valid, but without ``device``) is told apart from a forgery, and its reason says to
re-sign it per device.

A replay (the same id again, signed or not) is caught by the action journal, not here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Optional

from edge_agent.actions.schema import parse_expires_at
from edge_agent.errors import ActionRejected
from edge_agent.model import format_utc

SIGNATURE_KEY = "signature"
DEVICE_KEY = "device"
DEFAULT_MAX_LIFETIME = 86400.0
"""How far ahead ``expires_at`` may lie, in seconds, unless ``[actions] max_command_lifetime`` says."""


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: the document without ``signature``, keys sorted, compact, UTF-8."""
    unsigned = {key: value for key, value in document.items() if key != SIGNATURE_KEY}
    try:
        text = json.dumps(
            unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError, RecursionError) as exc:
        raise ActionRejected(f"the command cannot be put in canonical JSON: {exc}") from exc
    return text.encode("utf-8")


def signature_for(document: Mapping[str, Any], secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), canonical_json(document), hashlib.sha256).hexdigest()


def sign(
    document: Mapping[str, Any], secret: str, *, expires_at: datetime, device: Optional[str] = None
) -> dict[str, Any]:
    """A signed copy of ``document`` for ``device``; ``expires_at`` is used only when the document has none.

    ``device`` is required unless the document names it already; a document naming
    another device is an :class:`ActionRejected` (a mistake worth stopping).
    """
    signed = {key: value for key, value in document.items() if key != SIGNATURE_KEY}
    named = signed.get(DEVICE_KEY)
    if device is not None and named is not None and named != device:
        raise ActionRejected(f"the command names device {named!r}, not {device!r}")
    if device is None and not (isinstance(named, str) and named):
        raise ActionRejected("say which device the command is for (--device ID): the signature covers it")
    signed[DEVICE_KEY] = device if device is not None else named
    signed.setdefault("expires_at", format_utc(expires_at))
    signed[SIGNATURE_KEY] = signature_for(signed, secret)
    return signed


def verify(
    document: Mapping[str, Any],
    secret: str,
    *,
    device_id: Optional[str] = None,
    now: Optional[datetime] = None,
    max_lifetime: float = DEFAULT_MAX_LIFETIME,
) -> None:
    """Raise ActionRejected unless ``document`` is signed with ``secret`` for ``device_id``.

    It must carry ``expires_at``, at most ``max_lifetime`` seconds after ``now`` (when
    ``now`` is given). Whether ``expires_at`` is still in the future is checked where
    every action's is, so an authentic but late command is recorded and reported as
    expired. ``device_id`` None skips the device check (for callers that sign-check a
    document not addressed to a device).
    """
    given = document.get(SIGNATURE_KEY)
    if given is None:
        raise ActionRejected("unsigned: commands must carry a signature (see docs/actions.md)")
    expires = document.get("expires_at")
    if expires is None:
        raise ActionRejected("missing expires_at: a signed command must say when it stops being valid")
    if not isinstance(given, str):
        raise ActionRejected("bad signature: it must be a hex string")
    expected = signature_for(document, secret)
    if not hmac.compare_digest(expected.encode("ascii"), given.strip().lower().encode("utf-8")):
        raise ActionRejected("bad signature: it does not match the command and the secret")
    if device_id is not None:
        named = document.get(DEVICE_KEY)
        if named is None:
            raise ActionRejected(
                "signature does not cover the device id: re-sign it for this device with an "
                f"edge-agent that signs per device (edge-agent sign --device {device_id}, "
                "or the recipe in docs/actions.md)"
            )
        if named != device_id:
            raise ActionRejected(
                f"wrong device: the command is signed for {str(named)[:128]!r}, not for this device"
            )
    if now is not None:
        try:
            lifetime = (parse_expires_at(expires) - now).total_seconds()
        except (OverflowError, ValueError) as exc:  # a zone pushing year 1 or 9999 past the range
            raise ActionRejected(f"expires_at: {str(expires)[:40]!r} is not a time") from exc
        if lifetime > max_lifetime:
            raise ActionRejected(
                f"expires_at too far ahead: {lifetime:.0f} s from now, more than "
                f"[actions] max_command_lifetime ({max_lifetime:.0f} s)"
            )
