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
# versionName, Debian (1:2.3-4~bpo1), PEP 440 (1!1.2.3rc1+local), "v1.0.0". UPDATE_APP's is
# checked again, strictly, in its installer's syntax (see debian_version, pep440_version).
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~:_!-]{0,63}")
# Hex digest, optionally prefixed by its algorithm ("sha256:ab12...").
_CHECKSUM = re.compile(r"(?:[a-z0-9]{2,10}:)?[A-Fa-f0-9]{16,128}")
# Control characters except newline and tab; NUL and ESC are the ones that matter most.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# Debian policy 5.6.12: [epoch:]upstream[-revision]. The epoch is digits; upstream starts
# with a digit and holds alphanumerics and ". + ~" (and "-" only when a revision follows);
# the revision holds alphanumerics and ". + ~".
_DEB_EPOCH = re.compile(r"[0-9]{1,9}")
_DEB_UPSTREAM = re.compile(r"[0-9][A-Za-z0-9.+~-]*")
_DEB_REVISION = re.compile(r"[A-Za-z0-9.+~]+")
# Debian policy 5.6.1: lower case, digits, "+ - ."; at least two characters. apt reads a
# name ending in "+" or "-" as "install" / "remove", so those are refused too.
_DEB_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]{0,126}[a-z0-9.]")
# PEP 440's public and local version (the canonical form's grammar, as in its appendix B,
# anchored; no wildcard, no leading "v" or spaces: pip gets exactly one version to pin).
_PEP440 = re.compile(
    r"""
    (?:[0-9]+!)?                                   # epoch
    [0-9]+(?:\.[0-9]+)*                            # release
    (?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?    # pre-release
    (?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?  # post-release
    (?:[-_.]?dev[-_.]?[0-9]*)?                     # development release
    (?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?            # local version
    """,
    re.VERBOSE | re.IGNORECASE,
)
# PEP 508 / the core metadata "Name" field.
_PYPI_PACKAGE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9])?")
MAX_VERSION_CHARS = 128

# RFC 3986: what a URI may hold at all (unreserved, reserved, and %-escapes) ...
_URI = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# ... and its first parts: scheme "://" authority, the authority ending at the first / ? #.
_URI_HEAD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)")
# An authority without userinfo: a reg-name or an IP literal, then an optional port.
_AUTHORITY = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+)(?::(?P<port>[0-9]{0,5}))?"
)


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


def debian_version(name: str, value: Any) -> str:
    """A Debian version, ``[epoch:]upstream[-revision]`` (Debian policy 5.6.12), nothing else.

    Stricter than :func:`version` because apt gives meaning to what the looser check lets
    through: ``less=590-2.1~deb12u2-`` (a trailing ``-``) is read as "remove less".
    """
    text_value = _version_text(name, value)
    epoch, colon, rest = text_value.partition(":") if ":" in text_value else ("", "", text_value)
    if colon and not _DEB_EPOCH.fullmatch(epoch):
        raise ActionRejected(f"{name}: {_shown(value)} is not a Debian version (the epoch must be digits)")
    upstream, dash, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    if dash and not _DEB_REVISION.fullmatch(revision):
        raise ActionRejected(
            f"{name}: {_shown(value)} is not a Debian version (after the last '-' must come a revision "
            "of letters, digits and . + ~)"
        )
    if not _DEB_UPSTREAM.fullmatch(upstream):
        raise ActionRejected(
            f"{name}: {_shown(value)} is not a Debian version ([epoch:]upstream[-revision], the upstream "
            "part starting with a digit and holding letters, digits and . + ~ -)"
        )
    return text_value


def pep440_version(name: str, value: Any) -> str:
    """A PEP 440 version (``1.2.3``, ``2.0rc1``, ``1.0.post2``, ``1!2.0+local.7``), nothing else."""
    text_value = _version_text(name, value)
    if not _PEP440.fullmatch(text_value):
        raise ActionRejected(f"{name}: {_shown(value)} is not a PEP 440 version (e.g. 1.2.3, 2.0rc1)")
    return text_value


def debian_package(name: str, value: Any) -> str:
    """A Debian package name (policy 5.6.1) that apt cannot read as a request to remove or install."""
    if not isinstance(value, str) or not _DEB_PACKAGE.fullmatch(value):
        raise ActionRejected(
            f"{name}: {_shown(value)} is not a Debian package name (lower case letters, digits, + - ., "
            "at least two characters, not ending in + or -)"
        )
    return value


def pypi_package(name: str, value: Any) -> str:
    """A Python distribution name (PEP 508): letters, digits, ``. _ -``, starting and ending alphanumeric."""
    if not isinstance(value, str) or not _PYPI_PACKAGE.fullmatch(value):
        raise ActionRejected(f"{name}: {_shown(value)} is not a Python package name")
    return value


def _version_text(name: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > MAX_VERSION_CHARS:
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
        """``value`` if it is a plain RFC 3986 URL this policy allows; ActionRejected says why not.

        Plain means: only the characters RFC 3986 allows (no ``\\``, spaces, control or
        non-ASCII characters), ``scheme://host``, and no userinfo (``user@``). Python's
        parser and a browser's (WHATWG) read ``https://evil.com\\@media.example.com/``
        differently; on a plain URL they agree, so the host checked is the host fetched.
        """
        if not isinstance(value, str) or not value:
            raise ActionRejected(f"{name}: must be a URL")
        if len(value) > MAX_URL_CHARS:
            raise ActionRejected(f"{name}: longer than {MAX_URL_CHARS} characters")
        if _CONTROL.search(value) or any(ch.isspace() for ch in value):
            raise ActionRejected(f"{name}: a URL must not contain spaces or control characters")
        if "\\" in value:
            raise ActionRejected(f"{name}: a URL must not contain a backslash")
        scheme_match = _SCHEME.match(value)
        scheme = scheme_match.group(1).lower() if scheme_match else ""
        if scheme not in {allowed.lower() for allowed in self.schemes}:
            allowed = ", ".join(self.schemes) or "none"
            raise ActionRejected(f"{name}: scheme {scheme or '(none)'!r} is not allowed (allowed: {allowed})")
        if not _URI.fullmatch(value):
            raise ActionRejected(
                f"{name}: {_shown(value)} holds characters RFC 3986 does not allow (escape them as %XX)"
            )
        head = _URI_HEAD.match(value)
        if head is None:
            raise ActionRejected(f"{name}: {_shown(value)} names no host (it must be scheme://host/...)")
        authority = head.group("authority")
        if "@" in authority:
            raise ActionRejected(f"{name}: {_shown(value)} carries a user name or password (user@host)")
        plain = _AUTHORITY.fullmatch(authority)
        if plain is None:
            raise ActionRejected(f"{name}: {_shown(value)} names no valid host")
        try:
            parts = urlsplit(value)
            host = (parts.hostname or "").lower()
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError as exc:
            raise ActionRejected(f"{name}: {_shown(value)} is not a valid URL ({exc})") from exc
        if not host or host != plain.group("host").lower().strip("[]"):
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
