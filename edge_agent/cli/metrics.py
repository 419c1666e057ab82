"""``edge-agent metrics [-c FILE] [--json]``: print one metric snapshot.

The table is for a person at a console; ``--json`` prints ``Snapshot.to_json()``, the
same object the agent mirrors to MQTT, for scripts and for comparing with a fixture.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Optional

from edge_agent.cli.common import add_config_argument, load_kept_or_report

_GIB = 1024**3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def run(args: argparse.Namespace) -> int:
    config = load_kept_or_report(args)  # what `run` validated and kept: no pydantic when unchanged
    if config is None:
        return 2
    from edge_agent import startup_cpu
    from edge_agent.collectors import MetricsCollector

    # the first CPU figure is measured over this command's start-up: no 0.2 s sample to wait for
    collector = MetricsCollector.from_config(config, cpu_start=startup_cpu.consume())
    snapshot = collector.collect().to_json()
    if args.json:
        print(json.dumps(snapshot, indent=2, ensure_ascii=False))
    else:
        print(format_table(snapshot, degrees=_degree_sign()))
    return 0


def _degree_sign() -> str:
    """``°C`` where the console can print it, ``C`` where it cannot (a C locale on 3.6-era setups)."""
    try:
        "°".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return " C"
    return " °C"


def _number(unit: str, digits: int = 1) -> Callable[[Any], str]:
    return lambda value: f"{value:.{digits}f}{unit}"


def _bytes(value: Any) -> str:
    return f"{value / _GIB:.2f} GiB ({value} bytes)"


def _duration(value: Any) -> str:
    seconds = int(value)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{days}d {hours:02d}:{minutes:02d}:{seconds:02d} ({value} s)"


def _yes_no(value: Any) -> str:
    return "yes" if value else "no"


# JSON key -> how a person reads it. Keys not listed here print as they are.
_FORMATS: dict[str, Callable[[Any], str]] = {
    "cpu_percent": _number(" %"),
    "load_1m": _number("", 2),
    "load_5m": _number("", 2),
    "load_15m": _number("", 2),
    "memory_total_bytes": _bytes,
    "memory_available_bytes": _bytes,
    "memory_free_percent": _number(" %"),
    "battery_percent": _number(" %", 0),
    "charging": _yes_no,
    "wifi_signal_dbm": _number(" dBm", 0),
    "wifi_link_mbps": _number(" Mbit/s"),
    "uptime_s": _duration,
    "rtt_ms": _number(" ms"),
    "packet_loss_percent": _number(" %"),
}


def format_table(snapshot: dict[str, Any], degrees: str = " °C") -> str:
    """Two columns, metric and value; an unavailable metric shows its reason."""
    unavailable: dict[str, str] = snapshot.get("unavailable", {})
    rows: list[tuple[str, str]] = [("timestamp", str(snapshot.get("timestamp")))]
    for key, value in snapshot.items():
        if key in ("timestamp", "unavailable"):
            continue
        if key in unavailable:
            rows.append((key, f"unavailable: {unavailable[key]}"))
        elif key == "temperatures":
            rows.extend((f"temperature {name}", f"{celsius:.1f}{degrees}") for name, celsius in value.items())
        elif key == "cpu_temperature" and value is not None:
            rows.append((key, f"{value:.1f}{degrees}"))
        elif key == "apps":
            rows.extend((f"app {package}", _app(info)) for package, info in value.items())
        elif value is None:
            rows.append((key, "-"))
        else:
            rows.append((key, _FORMATS.get(key, str)(value)))
    rows.extend((key, f"unavailable: {reason}") for key, reason in unavailable.items() if key not in snapshot)
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {text}" for name, text in rows)


def _app(info: dict[str, Optional[Any]]) -> str:
    if not info.get("installed"):
        return "not installed"
    version = info.get("versionName") or "version unknown"
    code = info.get("versionCode")
    return f"{version} (versionCode {code})" if code is not None else str(version)
