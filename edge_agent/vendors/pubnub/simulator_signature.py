"""PubNub Access Manager request signature v2, as the server checks it (protocols.md 5.4).

Written here from the vendor's documentation and checked against every published vector
in protocols.md 5.5; deliberately independent of the agent's own signer, so that a bug
in one is caught by the other rather than copied into both.

The string to sign is ``METHOD\\npublish_key\\npath\\nquery\\nbody``: the path exactly as
sent (percent-encoding kept), the query built from the *decoded* values of every
parameter but ``signature``, sorted by key, each value re-encoded so that only
``[A-Za-z0-9_.-]`` stay literal. The MAC is HMAC-SHA256 with the secret key, written as
URL-safe Base64 without padding, prefixed with ``v2.``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote

SIGNATURE_PREFIX = "v2."


def enc(value: str) -> str:
    """Percent-encode ``value`` as UTF-8, leaving only ``A-Za-z0-9_.-`` literal (upper-case hex)."""
    return quote(value, safe="").replace("~", "%7E")


def canonical_query(params: Mapping[str, str]) -> str:
    """``k=enc(v)`` pairs sorted by key (code-point order), joined by ``&``; ``signature`` left out."""
    return "&".join(f"{key}={enc(params[key])}" for key in sorted(params) if key != "signature")


def string_to_sign(
    method: str, publish_key: str, path: str, params: Mapping[str, str], body: str = ""
) -> str:
    return f"{method.upper()}\n{publish_key}\n{path}\n{canonical_query(params)}\n{body}"


def hmac_sha256_urlsafe(secret: str, message: str) -> str:
    """HMAC-SHA256 of ``message`` under ``secret``, URL-safe Base64 *with* its padding."""
    digest = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def sign_string(secret: str, message: str) -> str:
    """``v2.`` and the unpadded URL-safe HMAC of an already built string to sign."""
    return SIGNATURE_PREFIX + hmac_sha256_urlsafe(secret, message).rstrip("=")


def sign_v2(
    method: str, publish_key: str, path: str, params: Mapping[str, str], body: str, secret: str
) -> str:
    """The ``signature`` query value a correctly signed request carries."""
    return sign_string(secret, string_to_sign(method, publish_key, path, params, body))


def signatures_match(expected: str, received: str) -> bool:
    """Constant-time comparison, so the check leaks nothing about how much of a guess was right."""
    return hmac.compare_digest(expected.encode("utf-8"), received.encode("utf-8"))
