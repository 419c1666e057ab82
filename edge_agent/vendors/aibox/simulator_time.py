"""The ISO 8601 flavours the AI-box vendor writes, read and written by its simulator.

The vendor's pages use several forms for one instant: extended ``2020-03-31T10:10:01+08``,
basic ``20200331T101002+08`` (in the Ack), ``2020-03-31T10:10:01+08:00`` and the hybrid
``20200331T10:10:01+08:00``, with offsets ``±hh``, ``±hhmm`` or ``±hh:mm``. The simulator
must accept all of them from a device, and reject anything else, so that a client sending
nonsense is caught here rather than by the real platform.

[INFERRED] An offset (or ``Z``) is required: every vendor example carries one, and a
local time without it cannot be placed. Fractional seconds are accepted (ISO 8601 allows
them; harmless). Within the date, and within the time of day, the separators must be
used consistently (``2020-0331`` is rejected).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_EVENT_TIME = re.compile(
    r"(?P<year>\d{4})(?P<dsep>-?)(?P<month>\d{2})(?P=dsep)(?P<day>\d{2})"
    r"T(?P<hour>\d{2})(?P<tsep>:?)(?P<minute>\d{2})(?P=tsep)(?P<second>\d{2})(?:\.(?P<fraction>\d{1,6}))?"
    r"(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)",
    re.ASCII,  # \d must not match other scripts' digits
)
_MAX_OFFSET_HOURS = 14


def parse_event_time(text: str) -> datetime:
    """The instant ``text`` names, timezone-aware; ValueError for anything the vendor never sends."""
    match = _EVENT_TIME.fullmatch(text)
    if match is None:
        raise ValueError("expected YYYY-MM-DDThh:mm:ss±hh[:mm] or its basic form")
    microseconds = int((match["fraction"] or "0").ljust(6, "0"))
    return datetime(
        int(match["year"]),
        int(match["month"]),
        int(match["day"]),
        int(match["hour"]),
        int(match["minute"]),
        int(match["second"]),
        microseconds,
        tzinfo=_parse_offset(match["offset"]),
    )


def _parse_offset(text: str) -> timezone:
    if text == "Z":
        return timezone.utc
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or "0")
    if hours > _MAX_OFFSET_HOURS or minutes >= 60:
        raise ValueError(f"offset {text} is out of range")
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def format_ack_time(instant: datetime, utc_offset: timedelta, style: str) -> str:
    """``instant`` in the zone ``utc_offset``, as ``basic`` (20200331T101002+08) or ``extended``.

    The basic form shortens a whole-hour offset to ``±hh``, as the seed's Ack does.
    """
    local = instant.astimezone(timezone(utc_offset))
    sign = "-" if utc_offset < timedelta(0) else "+"
    total_minutes = int(abs(utc_offset).total_seconds()) // 60
    hours, minutes = divmod(total_minutes, 60)
    if style == "basic":
        offset = f"{sign}{hours:02d}" + (f"{minutes:02d}" if minutes else "")
        return local.strftime("%Y%m%dT%H%M%S") + offset
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{hours:02d}:{minutes:02d}"
