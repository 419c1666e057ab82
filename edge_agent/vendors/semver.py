"""Semantic Versioning 2.0.0 precedence, so "1.10.0" is newer than "1.9.9".

Xyte requires SemVer firmware versions (model API v1.0.4), and its firmware rule
("notify when latest_fw_version is higher than latest_ver") needs a real comparison:
string order would call "1.9.9" newer than "1.10.0". A leading "v" and missing minor or
patch parts ("2", "v1.4") are accepted, because firmware teams write them.
"""

from __future__ import annotations

import re
from typing import Optional, Union

_SEMVER = re.compile(
    r"^[vV]?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>0|[1-9]\d*))?(?:\.(?P<patch>0|[1-9]\d*))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)

# A sort key: the release numbers, then whether it is a release (True sorts above any
# pre-release of the same numbers), then the pre-release identifiers.
VersionKey = tuple[tuple[int, int, int], bool, tuple[tuple[int, Union[int, str]], ...]]


def version_key(text: str) -> Optional[VersionKey]:
    """The precedence key of ``text``, or None when it is not a SemVer version."""
    found = _SEMVER.match(text.strip()) if len(text) <= 256 else None
    if found is None:
        return None
    numbers = (int(found["major"]), int(found["minor"] or 0), int(found["patch"] or 0))
    pre = found["pre"]
    if pre is None:
        return numbers, True, ()
    # Numeric identifiers sort below alphanumeric ones, and among themselves by value.
    parts = tuple((0, int(part)) if part.isdigit() else (1, part) for part in pre.split("."))
    return numbers, False, parts


def is_newer(candidate: str, than: str) -> bool:
    """True when ``candidate`` has higher SemVer precedence than ``than``.

    False when either is not a version: an unreadable version never triggers anything.
    """
    new, old = version_key(candidate), version_key(than)
    if new is None or old is None:
        return False
    return new > old
