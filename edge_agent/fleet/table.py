"""How ``edge-agent watch`` shows a :class:`~edge_agent.fleet.FleetView`: a terminal table, a log, NDJSON.

Each renderer is called once per refresh period with the view and the current time, and
writes to a text stream it was given (a terminal, a pipe, a ``StringIO`` in the bench):

* :class:`TerminalTable` (stdout is a TTY): the header line, the column titles and as many
  rows, sorted by device id, as the terminal has lines. It keeps the text of every line
  on screen and rewrites (with ANSI cursor addressing) only the lines whose text
  changed, so a fleet of thousands costs what one screen costs, and the ages ("5m")
  still move on when no message comes. Rows beyond the screen are counted in a footer.
* :class:`ChangeLog` (stdout is not a TTY: a pipe, a file, ``journalctl``): each refresh
  period that saw a change prints a header line and the rows that changed, and at exit
  the whole table. Reprinting thousands of rows every period would flood the pipe.
* :class:`JsonLines` (``--json``): one JSON object per row that changed, per period.

No I/O of its own beyond the stream, and the time is passed in.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Callable, Optional, TextIO

from edge_agent.fleet.view import DeviceRow, FleetView, parse_time

TITLES = ("DEVICE", "STATUS", "SINCE", "SEEN", "CPU", "MEMFREE", "HOTTEST", "BATTERY", "WIFI", "LAST ACTION")
WIDTHS = (0, 7, 5, 5, 4, 7, 14, 7, 5, 30)  # 0: sized to the device ids shown
MAX_ID_WIDTH = 28
HEARTBEATS_TITLE = "HEARTBEATS"

CLEAR_SCREEN = "\x1b[2J"
CLEAR_TO_EOL = "\x1b[K"
HIDE_CURSOR = "\x1b[?25l"
SHOW_CURSOR = "\x1b[?25h"


def age(seconds: Optional[float]) -> str:
    """A short duration: ``45s``, ``12m``, ``5h``, ``3d``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _since(moment: Optional[datetime], now: datetime) -> Optional[float]:
    return (now - moment).total_seconds() if moment is not None else None


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _event_age(time_text: Optional[str], now: datetime) -> str:
    moment = parse_time(time_text)
    return "" if moment is None else age((now - moment).total_seconds())


def cells(row: DeviceRow, now: datetime) -> list[str]:
    """The text of each column of ``row``, in the order of :data:`TITLES`, then the heartbeats."""
    hottest = "-"
    if row.hottest_zone is not None and row.hottest_celsius is not None:
        hottest = f"{row.hottest_zone[:8]} {row.hottest_celsius:.1f}C"
    battery = _percent(row.battery_percent)
    if row.battery_percent is not None and row.charging:
        battery += "+"
    wifi = "-" if row.wifi_signal_dbm is None else f"{row.wifi_signal_dbm:.0f}"
    action = "-"
    if row.last_action is not None:
        done = row.last_action
        action = " ".join(
            part for part in (done.action_type or "?", done.state, _event_age(done.time, now)) if part
        )
        if done.reason and done.state != "succeeded":
            action += f": {done.reason}"
    beats = []
    for name, cell in sorted(row.heartbeats.items()):
        verdict = "ok" if cell.ok else ("?" if cell.ok is None else "ERR")
        if cell.ok is False and cell.status is not None:
            verdict += f" {cell.status}"
        beats.append(f"{name} {verdict}")
    return [
        row.device_id,
        row.status or "?",
        age(_since(row.since, now)),
        age(_since(row.last_seen, now)),
        _percent(row.cpu_percent),
        _percent(row.memory_free_percent),
        hottest,
        battery,
        wifi,
        action,
        ", ".join(beats) or "-",
    ]


def format_line(texts: Sequence[str], id_width: int) -> str:
    """One table line: fixed-width columns, the device id column ``id_width`` wide."""
    widths = (id_width, *WIDTHS[1:])
    parts = []
    for text, width in zip(texts, widths):
        parts.append(text[:width].ljust(width))
    parts.extend(texts[len(widths) :])
    return " ".join(parts).rstrip()


def id_width(device_ids: Sequence[str]) -> int:
    return min(MAX_ID_WIDTH, max([len(TITLES[0]), *(len(device_id) for device_id in device_ids)]))


def table_lines(rows: Sequence[DeviceRow], now: datetime) -> list[str]:
    """The whole table as lines: the column titles, then one line per row."""
    width = id_width([row.device_id for row in rows])
    titles = format_line((*TITLES, HEARTBEATS_TITLE), width)
    return [titles, *(format_line(cells(row, now), width) for row in rows)]


def header(view: FleetView, rate: float, now: datetime) -> str:
    """The summary line above the table."""
    unknown = len(view) - view.online - view.offline
    text = (
        f"{view.prefix}: devices {len(view)}  online {view.online}  offline {view.offline}"
        f"{f'  unknown {unknown}' if unknown else ''}  messages/s {rate:.0f}"
    )
    if view.malformed:
        text += f"  malformed {view.malformed}"
    return f"{text}  at {now.strftime('%H:%M:%S')} UTC"


class MessageRate:
    """Messages per second over the last few seconds, from the view's running count."""

    def __init__(self, window: float = 3.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, count: int, monotonic: float) -> float:
        self._samples.append((monotonic, count))
        while len(self._samples) > 2 and monotonic - self._samples[1][0] >= self.window:
            self._samples.popleft()
        first_time, first_count = self._samples[0]
        span = monotonic - first_time
        return (count - first_count) / span if span > 0 else 0.0


class TerminalTable:
    """The live table on a terminal: only the lines whose text changed are written again."""

    def __init__(self, out: TextIO, size: Callable[[], tuple[int, int]]) -> None:
        self.out = out
        self.size = size
        self._screen: list[str] = []
        self._shown_size: Optional[tuple[int, int]] = None
        self.lines_written = 0

    def draw(self, view: FleetView, rate: float, now: datetime) -> None:
        view.take_dirty()  # the screen is compared line by line, which also moves the ages on
        columns, lines = self.size()
        if (columns, lines) != self._shown_size:
            self.out.write(HIDE_CURSOR + CLEAR_SCREEN)
            self._screen, self._shown_size = [], (columns, lines)
        room = max(1, lines - 3)  # header, titles, footer
        shown = view.rows(room)
        width = id_width([row.device_id for row in shown])
        wanted = [header(view, rate, now), format_line((*TITLES, HEARTBEATS_TITLE), width)]
        wanted.extend(format_line(cells(row, now), width) for row in shown)
        if len(view) > room:
            wanted.append(f"... {len(view) - room} more devices below (use --json for all of them)")
        wanted = [line[: max(1, columns - 1)] for line in wanted]
        for number, line in enumerate(wanted):
            if number >= len(self._screen) or self._screen[number] != line:
                self.out.write(f"\x1b[{number + 1};1H{line}{CLEAR_TO_EOL}")
                self.lines_written += 1
        for number in range(len(wanted), len(self._screen)):
            self.out.write(f"\x1b[{number + 1};1H{CLEAR_TO_EOL}")
        self._screen = wanted
        self.out.flush()

    def close(self, view: FleetView, now: datetime) -> None:
        """Leave the last picture on screen and the cursor below it."""
        self.out.write(f"\x1b[{len(self._screen) + 1};1H{SHOW_CURSOR}")
        self.out.flush()


class ChangeLog:
    """Not a terminal: the rows that changed each period, and the whole table at exit."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lines_written = 0

    def draw(self, view: FleetView, rate: float, now: datetime) -> None:
        changed = view.take_dirty()
        if not changed:
            return
        lines = [f"# {header(view, rate, now)}", *table_lines(changed, now)[1:]]
        self.out.write("\n".join(lines) + "\n")
        self.lines_written += len(lines)
        self.out.flush()

    def close(self, view: FleetView, now: datetime) -> None:
        lines = table_lines(view.rows(), now)
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()


class JsonLines:
    """``--json``: one JSON object per changed row per period, for scripts (NDJSON)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lines_written = 0

    def draw(self, view: FleetView, rate: float, now: datetime) -> None:
        changed = view.take_dirty()
        if not changed:
            return
        self.out.write("".join(json.dumps(row.to_json(), ensure_ascii=False) + "\n" for row in changed))
        self.lines_written += len(changed)
        self.out.flush()

    def close(self, view: FleetView, now: datetime) -> None:
        self.draw(view, 0.0, now)
