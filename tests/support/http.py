"""One HTTP client factory for tests that play a device against a simulator on loopback.

``httpx.Client()`` builds a fresh verifying SSL context each time, loading the whole CA
bundle: about 40 ms of CPU per client, and the simulator suites make one per test. These
clients speak plain HTTP to 127.0.0.1, so the context is never used; sharing one (as the
agent's own transport does) keeps verification as it is and drops that cost.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any, Union

import httpx


@functools.cache
def _shared_roots() -> Union[bool, ssl.SSLContext]:
    """The context httpx makes for ``verify=True``, made once (httpx before 0.28: its own each)."""
    factory = getattr(httpx, "create_ssl_context", None)
    return True if factory is None else factory(trust_env=False)


def loopback_client(**options: Any) -> httpx.Client:
    """``httpx.Client(**options)`` verifying with the one shared context unless told otherwise."""
    options.setdefault("verify", _shared_roots())
    return httpx.Client(**options)
