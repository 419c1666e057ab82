"""Where a key path is written in a TOML text: the line an error or a path check points at.

Apart from the loader, so that the path checks (:mod:`edge_agent.config.preflight`) can
name lines in a ``run`` that reuses a cached config without loading pydantic.
"""

from __future__ import annotations

import re
from typing import Optional

# One part of a dotted TOML key: "quoted" (may hold . / ] and spaces), 'literal', or bare.
_PART = r"""(?:"(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)"""
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")


def _split_dotted(key: str) -> list[str]:
    parts = re.findall(_PART, key)
    return [part[1:-1] if part[:1] in "\"'" else part for part in parts]


def find_key_line(text: str, loc: list[str]) -> Optional[int]:
    """The 1-based line where the key path ``loc`` is written, or its nearest table.

    tomllib gives positions only for syntax errors, so validation errors are placed by
    this small scan of table headers and ``key =`` lines (enough for a hand-written file).
    """
    table: list[str] = []
    best: Optional[int] = None
    best_len = 0
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            table = _split_dotted(header.group(1))
            candidate = table
        else:
            key = _KEY.match(line)
            if not key:
                continue
            candidate = table + _split_dotted(key.group(1))
        if candidate == loc[: len(candidate)] and len(candidate) > best_len:
            best, best_len = number, len(candidate)
            if len(candidate) == len(loc):
                return number
    return best
