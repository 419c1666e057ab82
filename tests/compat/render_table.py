"""Print the broker compatibility table (markdown) from a run of the compatibility suite.

    EDGE_AGENT_COMPAT_RESULTS=compat.json .venv/bin/pytest tests/compat
    .venv/bin/python tests/compat/render_table.py compat.json

Each cell is what the suite saw: ``yes``, ``degraded`` or ``no`` (with a numbered note
saying how), ``FAILED`` (the agent broke a promise there), or ``not run`` (the engine
was absent). Standalone (standard library only), so it runs without the test helpers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ENGINE_TITLES = {
    "mosquitto": "mosquitto",
    "amqtt": "amqtt",
    "rabbitmq": "RabbitMQ (MQTT plugin)",
    "nats": "NATS",
}
WORST_FIRST = ("fail", "unsupported", "degraded", "pass")
WORDS = {"pass": "yes", "degraded": "degraded", "unsupported": "no", "fail": "**FAILED**"}


def render(results: dict[str, Any]) -> str:
    """The table and its numbered notes, from the JSON the suite writes."""
    versions: dict[str, str] = results["versions"]
    engines = [name for name in ENGINE_TITLES if name in versions] + sorted(
        set(versions) - set(ENGINE_TITLES)
    )
    outcomes: dict[tuple[str, str], dict[str, str]] = {}
    for observation in results["observations"]:
        key = (observation["feature"], observation["engine"])
        known = outcomes.get(key)
        if known is None or WORST_FIRST.index(observation["outcome"]) < WORST_FIRST.index(known["outcome"]):
            outcomes[key] = observation
    notes: list[str] = []
    header = ["What the agent does"] + [f"{ENGINE_TITLES.get(e, e)} {versions[e]}" for e in engines]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for feature, title in results["features"].items():
        cells = [title]
        for engine in engines:
            observation = outcomes.get((feature, engine))
            if observation is None:
                cells.append("not run")
                continue
            cell = WORDS[observation["outcome"]]
            if observation.get("note"):
                note = f"{ENGINE_TITLES.get(engine, engine)} {versions[engine]}: {observation['note']}"
                if note not in notes:
                    notes.append(note)
                cell += f" ({notes.index(note) + 1})"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"({number}) {note}." for number, note in enumerate(notes, 1)]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="the JSON file written by the suite")
    args = parser.parse_args(argv)
    sys.stdout.write(render(json.loads(args.results.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
