"""Value checks several config tables share: URLs, host names, action type names.

They live here, not in the models, so that each rule (and its error text) is written once.
The built-in action types are listed here rather than imported from
:mod:`edge_agent.actions.schema`: the config is the bottom layer, which the actions
package itself imports; ``tests/test_config.py`` keeps the two lists equal.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

# The types edge_agent.actions.schema.FIELDS knows; any other type is a custom command.
BUILTIN_ACTION_TYPES: tuple[str, ...] = (
    "DUMP",
    "MESSAGE",
    "REBOOT",
    "START_APP",
    "UPDATE_APP",
    "UPDATE_FIRMWARE",
    "VIDEO",
)

# "TYPE/VARIANT" keys of [actions.commands]: MESSAGE's notify levels (see docs/actions.md).
ACTION_VARIANTS: dict[str, tuple[str, ...]] = {"MESSAGE": ("READ", "SOUND")}

# What actions.schema accepts as a type name before normalising it.
_TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


def normalise_action_type(name: str) -> str:
    """The one spelling of an action type: the rule of ``actions.schema.normalise_type``."""
    if not _TYPE_NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not an action type name (a letter, then letters, digits, _ . -; at most 64)"
        )
    return name.upper().replace("-", "_").replace(".", "_")


def unknown_types_reason(names: list[str], custom: Iterable[str] = ()) -> str:
    """Why ``names`` are refused: each with the closest valid name, then every valid one."""
    custom = sorted(set(custom) - set(BUILTIN_ACTION_TYPES))
    valid = list(BUILTIN_ACTION_TYPES) + custom
    shown = ", ".join(f"{name!r}{_suggestion(name, valid)}" for name in names)
    verb = "is not a known action type" if len(names) == 1 else "are not known action types"
    known = ", ".join(BUILTIN_ACTION_TYPES)
    if custom:
        known += f"; custom commands of [actions.commands]: {', '.join(custom)}"
    else:
        known += ", or a custom command defined in [actions.commands]"
    return f"{shown} {verb} (valid: {known})"


def _suggestion(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``; did you mean 'X'?`` for the closest of ``choices`` (by difflib), or nothing."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def http_url(url: str, what: str = "the URL") -> str:
    """A vendor endpoint: ``http://`` or ``https://`` with a host (``htp://x`` is a typo, not a path)."""
    return checked_url(url, ("http", "https"), what)


def checked_url(url: str, schemes: tuple[str, ...], what: str = "the URL") -> str:
    if any(ch.isspace() for ch in url):
        raise ValueError(f"{what} {url!r} contains white space")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{what} {url!r} is not a valid URL ({exc})") from exc
    allowed = " or ".join(f"{scheme}://" for scheme in schemes)
    if "://" not in url or parts.scheme.lower() not in schemes:
        if "://" not in url:
            raise ValueError(f"{what} {url!r} has no scheme; it must start with {allowed}")
        hint = did_you_mean(parts.scheme.lower(), schemes)
        raise ValueError(f"{what} {url!r} must start with {allowed}, not {parts.scheme}://{hint}")
    if not parts.hostname:
        raise ValueError(f"{what} {url!r} has no host (e.g. {schemes[-1]}://example.com/...)")
    if port == 0:
        raise ValueError(f"{what} {url!r} has port 0")
    return url


_HOST = re.compile(r"^[A-Za-z0-9_.:%-]{1,253}$")


def host_name(host: str) -> str:
    """A host name or IP address (IPv6 without brackets), not a URL or host:port/path."""
    if "://" in host:
        raise ValueError(f"{host!r} is a URL; give only the host name or IP address (and port = ...)")
    if not _HOST.match(host):
        raise ValueError(f"{host!r} is not a host name or IP address")
    return host
