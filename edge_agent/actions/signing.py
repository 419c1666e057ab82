"""Signed MQTT commands: HMAC-SHA256 over the command's canonical JSON.

With ``[actions] mqtt_secret`` (or ``mqtt_secret_file`` / ``mqtt_secret_env``) set,
anyone who can publish on ``<prefix>/<id>/cmd`` still cannot make the device act: a
command must carry

* ``expires_at``, so a captured command stops working, and
* ``signature``: the lower-case hex HMAC-SHA256, keyed with the secret (UTF-8), of the
  command without its ``signature`` key, serialised as canonical JSON: keys sorted, no
  spaces, UTF-8 (``json.dumps(obj, sort_keys=True, separators=(",", ":"),
  ensure_ascii=False)``, which is what ``jq -cS`` prints for strings, integers,
  booleans and nested objects).

A replay (the same id again, signed or not) is caught by the action journal, not here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from edge_agent.errors import ActionRejected
from edge_agent.model import format_utc

SIGNATURE_KEY = "signature"


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: the document without ``signature``, keys sorted, compact, UTF-8."""
    unsigned = {key: value for key, value in document.items() if key != SIGNATURE_KEY}
    try:
        text = json.dumps(
            unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise ActionRejected(f"the command cannot be put in canonical JSON: {exc}") from exc
    return text.encode("utf-8")


def signature_for(document: Mapping[str, Any], secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), canonical_json(document), hashlib.sha256).hexdigest()


def sign(document: Mapping[str, Any], secret: str, *, expires_at: datetime) -> dict[str, Any]:
    """A signed copy of ``document``; ``expires_at`` is used only when the document has none."""
    signed = {key: value for key, value in document.items() if key != SIGNATURE_KEY}
    signed.setdefault("expires_at", format_utc(expires_at))
    signed[SIGNATURE_KEY] = signature_for(signed, secret)
    return signed


def verify(document: Mapping[str, Any], secret: str) -> None:
    """Raise ActionRejected unless ``document`` is signed with ``secret`` and carries ``expires_at``.

    Whether ``expires_at`` is still in the future is checked where every action's is, so
    an authentic but late command is recorded and reported as expired.
    """
    given = document.get(SIGNATURE_KEY)
    if given is None:
        raise ActionRejected("unsigned: commands must carry a signature (see docs/actions.md)")
    if document.get("expires_at") is None:
        raise ActionRejected("missing expires_at: a signed command must say when it stops being valid")
    if not isinstance(given, str):
        raise ActionRejected("bad signature: it must be a hex string")
    expected = signature_for(document, secret)
    if not hmac.compare_digest(expected.encode("ascii"), given.strip().lower().encode("utf-8")):
        raise ActionRejected("bad signature: it does not match the command and the secret")
