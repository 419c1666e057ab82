"""Checks for every value an action carries, before it may become one element of an argv.

A value never reaches a shell and is never split: it becomes exactly one argument (or
part of one). What is checked here is what could still go wrong after that:

* **structured fields** (package names, versions, URLs, checksums) must look like what
  they claim to be, so a payload cannot smuggle in a path, a second package, a version
  pin, or a value that starts with ``-`` (all of them start with a letter or digit, and
  a URL with its scheme), which a program would read as an option;
* **free text** (a MESSAGE, a custom command's fields) may hold anything a person writes,
  newlines and tabs included, but no NUL (it would cut the argument short) and no other
  control character (terminal escapes in a notification or a log). Free text that starts
  with ``-`` is made inert by the template, not here: see :mod:`edge_agent.actions.templates`.

Every check raises :class:`ActionRejected` with a reason a person can act on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union
from urllib.parse import urlsplit

from edge_agent.errors import ActionRejected

MAX_TEXT_CHARS = 4096
MAX_URL_CHARS = 2048

# Android packages (com.example.app), Debian packages (libc6, g++), PyPI names (foo-bar).
_PACKAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
# versionName, Debian (1:2.3-4~bpo1), PEP 440 (1.2.3rc1+local), "v1.0.0".
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~:_-]{0,63}")
# Hex digest, optionally prefixed by its algorithm ("sha256:ab12...").
_CHECKSUM = re.compile(r"(?:[a-z0-9]{2,10}:)?[A-Fa-f0-9]{16,128}")
# Control characters except newline and tab; NUL and ESC are the ones that matter most.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def text(name: str, value: Any) -> str:
    """Free text: one argv element, any printable text with newlines and tabs."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ActionRejected(f"{name}: not a finite number")
        return str(value)
    if not isinstance(value, str):
        raise ActionRejected(f"{name}: must be a single text value, not {type(value).__name__}")
    if "\x00" in value:
        raise ActionRejected(f"{name}: contains a NUL byte")
    if _CONTROL.search(value):
        raise ActionRejected(f"{name}: contains a control character")
    if len(value) > MAX_TEXT_CHARS:
        raise ActionRejected(f"{name}: longer than {MAX_TEXT_CHARS} characters")
    return value


def package(name: str, value: Any) -> str:
    """A package or application name: letters, digits and ``. _ + -``, starting with a letter or digit."""
    if not isinstance(value, str) or not _PACKAGE.fullmatch(value):
        raise ActionRejected(f"{name}: {_shown(value)} is not a package name")
    return value


def version(name: str, value: Any) -> str:
    """A version string (no spaces, no ``/``, no ``=``), starting with a letter or digit."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _VERSION.fullmatch(value):
        raise ActionRejected(f"{name}: {_shown(value)} is not a version")
    return value


def checksum(name: str, value: Any) -> str:
    """A hex digest, optionally ``algorithm:``-prefixed."""
    if not isinstance(value, str) or not _CHECKSUM.fullmatch(value):
        raise ActionRejected(f"{name}: {_shown(value)} is not a hex checksum")
    return value


def flag(name: str, value: Any) -> bool:
    """A yes/no field: JSON true/false (0 and 1 are accepted, as some vendors send them)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ActionRejected(f"{name}: {_shown(value)} is not true or false")


def number(name: str, value: Any) -> float:
    """A finite, non-negative number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ActionRejected(f"{name}: {_shown(value)} is not a number")
    if not math.isfinite(value) or value < 0:
        raise ActionRejected(f"{name}: {_shown(value)} is not a finite number >= 0")
    return float(value)


def notify_level(name: str, value: Any) -> str:
    """Telecom X ``notify``: 'SOUND', 'READ', or 0 / absent (no notification) as ``""``."""
    if value is None or value is False or value == 0 or value in ("", "0"):
        return ""
    if isinstance(value, str) and value.upper() in ("SOUND", "READ"):
        return value.upper()
    raise ActionRejected(f"{name}: {_shown(value)} is not 'SOUND', 'READ' or 0")


@dataclass(frozen=True)
class UrlPolicy:
    """Which URLs an action may point the device at: ``[actions] allowed_url_schemes / allowed_hosts``.

    An empty ``hosts`` allows any host; an entry ``*.example.com`` allows every
    subdomain of example.com (not example.com itself, which needs its own entry).
    """

    schemes: Sequence[str]
    hosts: Sequence[str] = ()

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ActionRejected(f"{name}: must be a URL")
        if len(value) > MAX_URL_CHARS:
            raise ActionRejected(f"{name}: longer than {MAX_URL_CHARS} characters")
        if _CONTROL.search(value) or any(ch.isspace() for ch in value):
            raise ActionRejected(f"{name}: a URL must not contain spaces or control characters")
        try:
            parts = urlsplit(value)
            host = (parts.hostname or "").lower()
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError as exc:
            raise ActionRejected(f"{name}: {_shown(value)} is not a valid URL ({exc})") from exc
        scheme = parts.scheme.lower()
        if scheme not in {allowed.lower() for allowed in self.schemes}:
            allowed = ", ".join(self.schemes) or "none"
            raise ActionRejected(f"{name}: scheme {scheme or '(none)'!r} is not allowed (allowed: {allowed})")
        if not host:
            raise ActionRejected(f"{name}: {_shown(value)} names no host")
        if self.hosts and not any(_host_matches(host, pattern) for pattern in self.hosts):
            raise ActionRejected(f"{name}: host {host!r} is not in [actions] allowed_hosts")
        return value


def _host_matches(host: str, pattern: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def _shown(value: Union[str, Any]) -> str:
    """A value quoted for a reason string, cut short so a hostile payload cannot flood the log."""
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."
