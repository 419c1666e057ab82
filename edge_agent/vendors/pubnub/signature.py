"""PubNub Access Manager request signature v2 (protocols.md 5.4), as the agent signs its requests.

The agent's own signer: it shares no code with the simulator's verifier, so a mistake in
one is caught by the other instead of being copied into both. Checked against every
vector of protocols.md 5.5 (S-1 to S-4, S-HB-1, S-HB-2, S-5, H-1, E-1, E-2).

* string to sign: ``METHOD\\npublish_key\\npath\\nquery\\nbody``; the path exactly as sent
  (already percent-encoded), the body empty for GET, the last ``\\n`` always there;
* query: every parameter that is sent except ``signature`` (``timestamp`` included),
  sorted by key in code-point order, each value percent-encoded as UTF-8 so that only
  ``A-Za-z0-9_.-`` stay literal (``~`` too is encoded, space is ``%20``, never ``+``);
* signature: HMAC-SHA256 under the secret key, URL-safe Base64, padding stripped,
  prefixed ``v2.``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def pam_encode(value: str) -> str:
    """Percent-encode ``value`` (UTF-8, upper-case hex), keeping only ``A-Za-z0-9_.-`` literal."""
    return "".join(chr(byte) if byte in _UNRESERVED else f"%{byte:02X}" for byte in value.encode("utf-8"))


def signed_query(params: Mapping[str, str]) -> str:
    """The query as it is signed, and as the agent also sends it: sorted ``k=enc(v)`` pairs."""
    return "&".join(f"{key}={pam_encode(params[key])}" for key in sorted(params) if key != "signature")


def message_to_sign(
    method: str, publish_key: str, path: str, params: Mapping[str, str], body: str = ""
) -> str:
    return f"{method.upper()}\n{publish_key}\n{path}\n{signed_query(params)}\n{body}"


def hmac_sha256_b64(secret: str, message: str) -> str:
    """HMAC-SHA256 as URL-safe Base64 with padding (the building block of vector H-1)."""
    mac = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii")


def signature_v2(
    secret: str, method: str, publish_key: str, path: str, params: Mapping[str, str], body: str = ""
) -> str:
    """The ``signature`` parameter for a request with these parts."""
    message = message_to_sign(method, publish_key, path, params, body)
    return "v2." + hmac_sha256_b64(secret, message).rstrip("=")
