"""What the watch view writes: only the lines that changed on a terminal, changes on a pipe, NDJSON."""

from __future__ import annotations

import io
import json

from fleet_helpers import T0, event, state
from support.clock import FakeClock

from edge_agent.fleet.table import ChangeLog, JsonLines, TerminalTable, age, table_lines
from edge_agent.fleet.view import FleetView


def fleet_of(count: int, clock: FakeClock) -> FleetView:
    fleet = FleetView("edge", clock)
    for n in range(count):
        fleet.feed(f"edge/dev-{n:03d}/status", b"online", retain=True)
        fleet.feed(f"edge/dev-{n:03d}/state", state(cpu_percent=10.0), retain=True)
    return fleet


def test_ages_are_short_and_unknown_is_a_dash() -> None:
    assert [age(None), age(0), age(59.9), age(60), age(3 * 3600 + 5), age(2 * 86400)] == [
        "-",
        "0s",
        "59s",
        "1m",
        "3h",
        "2d",
    ]


def test_the_table_shows_every_column_a_person_reads() -> None:
    clock = FakeClock(T0)
    fleet = FleetView("edge", clock)
    fleet.feed(
        "edge/pi-lobby/state",
        state(
            cpu_percent=37.4,
            memory_free_percent=61.2,
            temperatures={"cpu-thermal": 58.24},
            battery_percent=84,
            charging=True,
            wifi_signal_dbm=-67,
            heartbeats={"iptv": {"ok": True, "status": 200}, "hub": {"ok": False, "status": 503}},
        ),
    )
    fleet.feed("edge/pi-lobby/status", b"online")
    fleet.feed(
        "edge/pi-lobby/events",
        event(
            "action.failed", action_id="a1", action_type="VIDEO", state="failed", reason="exited with code 1"
        ),
    )
    clock.advance(125)
    titles, line = table_lines(fleet.rows(), clock.now())
    assert titles.split()[:4] == ["DEVICE", "STATUS", "SINCE", "SEEN"]
    for shown in ["pi-lobby", "online", "2m", "37%", "61%", "cpu-ther 58.2C", "84%+", "-67", "VIDEO failed"]:
        assert shown in line
    assert line.endswith("hub ERR 503, iptv ok")


def test_a_terminal_gets_only_the_lines_that_changed() -> None:
    clock = FakeClock(T0)
    fleet = fleet_of(20, clock)
    screen = io.StringIO()
    table = TerminalTable(screen, lambda: (160, 40))
    table.draw(fleet, 0.0, clock.now())
    assert table.lines_written == 22  # header, titles, 20 rows

    screen.seek(0)
    screen.truncate()
    fleet.feed("edge/dev-007/state", state(cpu_percent=93.0))
    table.draw(fleet, 0.0, clock.now())
    assert table.lines_written == 23
    written = screen.getvalue()
    assert "\x1b[10;1H" in written  # dev-007 is the 8th row, under the header and the titles
    assert "93%" in written
    assert "dev-006" not in written and "dev-008" not in written

    screen.seek(0)
    screen.truncate()
    table.draw(fleet, 0.0, clock.now())  # nothing new
    assert screen.getvalue() == ""


def test_a_fleet_taller_than_the_terminal_shows_what_fits_and_counts_the_rest() -> None:
    clock = FakeClock(T0)
    fleet = fleet_of(100, clock)
    screen = io.StringIO()
    TerminalTable(screen, lambda: (120, 24)).draw(fleet, 0.0, clock.now())
    written = screen.getvalue()
    assert "dev-020" in written and "dev-021" not in written
    assert "79 more devices below" in written


def test_a_pipe_gets_the_changed_rows_each_period_and_the_whole_table_at_exit() -> None:
    clock = FakeClock(T0)
    fleet = fleet_of(5, clock)
    out = io.StringIO()
    log = ChangeLog(out)
    log.draw(fleet, 0.0, clock.now())
    assert sum(line.startswith("dev-") for line in out.getvalue().splitlines()) == 5

    out.seek(0)
    out.truncate()
    fleet.feed("edge/dev-003/status", b"offline")
    log.draw(fleet, 0.0, clock.now())
    rows = [line for line in out.getvalue().splitlines() if not line.startswith("#")]
    assert len(rows) == 1 and rows[0].startswith("dev-003") and "offline" in rows[0]

    out.seek(0)
    out.truncate()
    log.draw(fleet, 0.0, clock.now())
    assert out.getvalue() == ""  # nothing changed, nothing printed
    log.close(fleet, clock.now())
    assert sum(line.startswith("dev-") for line in out.getvalue().splitlines()) == 5


def test_json_lines_are_one_object_per_changed_row() -> None:
    clock = FakeClock(T0)
    fleet = fleet_of(3, clock)
    out = io.StringIO()
    lines = JsonLines(out)
    lines.draw(fleet, 0.0, clock.now())
    fleet.feed("edge/dev-001/state", state(cpu_percent=55.0))
    fleet.feed("edge/dev-001/status", b"offline")
    lines.draw(fleet, 0.0, clock.now())
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [row["device_id"] for row in rows] == ["dev-000", "dev-001", "dev-002", "dev-001"]
    assert (rows[-1]["cpu_percent"], rows[-1]["status"]) == (55.0, "offline")
