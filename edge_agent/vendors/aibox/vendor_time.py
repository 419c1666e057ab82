"""The AI-box vendor's ISO 8601 times: the one form the device writes, every form it may read.

The vendor's pages write one instant several ways (protocols.md 3.6.2): extended
``2020-03-31T10:10:01+08`` in the request, basic ``20200331T101002+08`` in the Ack, and
``2020-03-31T10:10:01+08:00`` or the hybrid ``20200331T10:10:01+08:00`` on sibling pages,
with offsets ``±hh``, ``±hhmm`` or ``±hh:mm`` (or ``Z``). :func:`parse_vendor_time` reads all
of them; :func:`format_event_time` writes the extended form with a full ``±hh:mm`` offset,
which every reader of ISO 8601 understands.

Written for the agent from the vendor's examples, independently of the simulator's parser,
so that the two check each other.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Optional

_VENDOR_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2}|\d{8})"
    r"T(?P<clock>\d{2}:\d{2}:\d{2}|\d{6})(?:[.,](?P<fraction>\d{1,9}))?"
    r"(?P<offset>Z|[+-]\d{2}(?::\d{2}|\d{2})?)",
    re.ASCII,  # \d must not match other scripts' digits
)
MAX_OFFSET = timedelta(hours=14)


def parse_vendor_time(text: str) -> datetime:
    """The instant ``text`` names, timezone-aware; ValueError when it is none of the vendor's forms.

    An offset is required: a local time without one cannot be placed on the timeline.
    """
    match = _VENDOR_TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text[:40]!r} is not an ISO 8601 date and time with an offset")
    date = match["date"].replace("-", "")
    clock = match["clock"].replace(":", "")
    fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
    zone = _offset(match["offset"])
    return datetime(
        int(date[:4]),
        int(date[4:6]),
        int(date[6:8]),
        int(clock[:2]),
        int(clock[2:4]),
        int(clock[4:6]),
        int(fraction),
        tzinfo=zone,
    )


def _offset(text: str) -> timezone:
    if text == "Z":
        return timezone.utc
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or "0")
    if minutes >= 60 or timedelta(hours=hours, minutes=minutes) > MAX_OFFSET:
        raise ValueError(f"offset {text} is out of range")
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def format_event_time(moment: datetime, zone: Optional[tzinfo] = None) -> str:
    """``moment`` as ``YYYY-MM-DDThh:mm:ss±hh:mm`` in ``zone`` (default: the device's local zone).

    The device's own offset is what the vendor's examples show (+08 for a device in
    China); whole seconds, because no example carries a fraction.
    """
    local = moment.astimezone(zone) if zone is not None else moment.astimezone()
    offset = local.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = int(abs(offset).total_seconds()) // 60
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
