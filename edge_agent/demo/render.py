"""Turning a :class:`~edge_agent.demo.picture.DemoPicture` into lines of text: live frames and the summary.

Pure functions of the picture and a few facts, so the terminal loop (``view.py``) only
decides when and how to write them. Plain ASCII: the output may go to a pipe, a log or a
terminal without UTF-8.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from edge_agent.demo.picture import DemoPicture

ACTIONS_SHOWN = 10


@dataclass(frozen=True)
class Setting:
    """What the header says about the run: where things listen and how long it lasts."""

    device_id: str
    broker: str
    embedded_broker: bool
    duration: Optional[float]


def header(setting: Setting, picture: DemoPicture, elapsed: float) -> list[str]:
    kind = "embedded" if setting.embedded_broker else "external"
    ends = f"ends in {max(0.0, setting.duration - elapsed):.0f} s" if setting.duration else "Ctrl-C ends it"
    return [
        f"edge-agent demo | {elapsed:.0f} s, {ends} | {setting.device_id} {picture.status or '-'} | "
        f"broker {setting.broker} ({kind})"
    ]


def frame(setting: Setting, picture: DemoPicture, elapsed: float) -> list[str]:
    """One live frame: everything the view knows now."""
    return [
        *header(setting, picture, elapsed),
        "",
        *heartbeats_section(picture),
        *actions_section(picture),
        *metrics_section(picture),
        *scenario_section(picture),
        *events_section(picture),
        *topics_section(picture),
    ]


def summary(
    setting: Setting, picture: DemoPicture, elapsed: float, vendor_facts: list[str], teardown: list[str]
) -> list[str]:
    """What the run did, printed once at the end."""
    lines = [
        f"== edge-agent demo summary: {elapsed:.1f} s, device {setting.device_id}, "
        f"{picture.messages} MQTT messages seen ==",
        "",
        *heartbeats_section(picture),
        *actions_section(picture, limit=None),
        *metrics_section(picture),
        *topics_section(picture),
        "Vendors' side (read from the simulators)",
        *(f"  {fact}" for fact in vendor_facts),
        "",
    ]
    return lines + teardown


def metrics_section(picture: DemoPicture) -> list[str]:
    state = picture.state
    title = f"Metrics ({picture.topics.state})"
    if not state:
        return [title, "  (no snapshot yet)", ""]
    first = [
        _metric("cpu", state.get("cpu_percent"), "{:.1f} %"),
        _load(state),
        _memory(state),
        _metric("uptime", state.get("uptime_s"), None, _duration),
    ]
    second = [
        _temperatures(state.get("temperatures")),
        _battery(state),
        _metric("wifi", state.get("wifi_signal_dbm"), "{:.0f} dBm"),
        _metric("ip", state.get("ip"), "{}"),
        _metric("rtt", state.get("rtt_ms"), "{:.1f} ms"),
    ]
    lines = [title, "  " + "   ".join(part for part in first if part)]
    lines.append("  " + "   ".join(part for part in second if part))
    missing = sorted(state.get("unavailable") or {})
    if missing:
        lines.append("  unavailable here: " + ", ".join(missing))
    return [*lines, ""]


def heartbeats_section(picture: DemoPicture) -> list[str]:
    # columns as wide as their longest entry: a vendor's name may be longer than "telecomx"
    wide = max([9, *(len(name) + 1 for name in picture.heartbeats)])
    vwide = max([9, *(len(seen.vendor) + 1 for seen in picture.heartbeats.values())])
    lines = [
        f"Heartbeats ({picture.topics.base}/heartbeat/<name>)",
        f"  {'endpoint':<{wide}}{'vendor':<{vwide}}{'last':<7}{'HTTP':<6}{'latency':>10}{'age':>7}  beats",
    ]
    if not picture.heartbeats:
        lines.append("  (none yet)")
    for name, seen in sorted(picture.heartbeats.items()):
        last = seen.last
        result = "ok" if last.get("ok") else "error"
        status = str(last.get("status") if last.get("status") is not None else "-")
        latency = f"{float(last.get('latency_ms') or 0):.1f} ms"
        age = f"{max(0.0, picture.now() - seen.seen_at):.0f} s"
        line = f"  {name:<{wide}}{seen.vendor:<{vwide}}{result:<7}{status:<6}{latency:>10}{age:>7}  "
        line += f"{seen.beats} ({seen.ok_beats} ok)"
        if not last.get("ok") and last.get("error"):
            line += f"  {_clip(str(last['error']), 60)}"
        lines.append(line)
    return [*lines, ""]


def actions_section(picture: DemoPicture, limit: Optional[int] = ACTIONS_SHOWN) -> list[str]:
    lines = [f"Actions (action.* events on {picture.topics.events})"]
    actions = list(picture.actions.values())
    if not actions:
        lines.append("  (none yet)")
    hidden = len(actions) - limit if limit is not None and len(actions) > limit else 0
    for action in actions[hidden:]:
        result = action.said or str(action.detail.get("reason") or "")
        exit_code = action.detail.get("exit_code")
        code = f"exit {exit_code}" if exit_code is not None else ""
        row = f"  {action.action_type:<11}{action.source:<16}{action.state:<12}{code:<8}{_clip(result, 56)}"
        lines.append(row.rstrip())
    if hidden:
        lines.insert(1, f"  ... {hidden} earlier")
    return [*lines, ""]


def scenario_section(picture: DemoPicture) -> list[str]:
    if not picture.notes:
        return []
    return ["Scenario (what the demo did on the simulators)", *(f"  {n}" for n in picture.notes), ""]


def events_section(picture: DemoPicture) -> list[str]:
    if not picture.recent_events:
        return []
    return ["Other events (latest)", *(f"  {_clip(e, 96)}" for e in picture.recent_events), ""]


def topics_section(picture: DemoPicture) -> list[str]:
    """Messages per topic; the one-per-metric topics are folded into one line."""
    metrics_prefix = f"{picture.topics.base}/metrics/"
    rows: dict[str, list[int]] = {}  # shown name -> [topics, messages]
    for topic, count in picture.topic_counts.items():
        shown = metrics_prefix + "<key>" if topic.startswith(metrics_prefix) else topic
        row = rows.setdefault(shown, [0, 0])
        row[0] += 1
        row[1] += count
    lines = [f"MQTT topics written ({picture.messages} messages)"]
    if not rows:
        lines.append("  (none yet)")
    width = max((len(name) for name in rows), default=0)
    for name, (topics, messages) in sorted(rows.items()):
        several = f"  ({topics} topics)" if topics > 1 else ""
        lines.append(f"  {name:<{width}}  {messages:>5}{several}")
    return [*lines, ""]


# -- formatting helpers ---------------------------------------------------------------------


def _metric(label: str, value: Any, pattern: Optional[str], fmt: Any = None) -> str:
    if value is None:
        return ""
    try:
        text = fmt(value) if fmt is not None else str(pattern).format(value)
    except (TypeError, ValueError):
        text = str(value)
    return f"{label} {text}"


def _load(state: dict[str, Any]) -> str:
    loads = [state.get(key) for key in ("load_1m", "load_5m", "load_15m")]
    if any(value is None for value in loads):
        return ""
    return "load " + " ".join(f"{float(value):.2f}" for value in loads if value is not None)


def _memory(state: dict[str, Any]) -> str:
    free, total = state.get("memory_free_percent"), state.get("memory_total_bytes")
    if free is None:
        return ""
    of = f" of {float(total) / 2**30:.1f} GiB" if total else ""
    return f"memory {float(free):.1f} % free{of}"


def _temperatures(temperatures: Any) -> str:
    if not isinstance(temperatures, dict) or not temperatures:
        return ""
    return "temp " + ", ".join(f"{name} {float(value):.1f} C" for name, value in sorted(temperatures.items()))


def _battery(state: dict[str, Any]) -> str:
    percent = state.get("battery_percent")
    if percent is None:
        return ""
    charging = " (charging)" if state.get("charging") else ""
    return f"battery {float(percent):.0f} %{charging}"


def _duration(seconds: Any) -> str:
    minutes = int(float(seconds) // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
