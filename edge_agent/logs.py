"""Logging set-up: one line per event on stderr, plain or JSON."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

# The agent speaks HTTP through its own heartbeat/transport.py (h11 logs nothing); what is left
# are the embedded broker's libraries.
QUIET_LIBRARIES = ("amqtt", "transitions", "websockets")


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line, for journald forwarders and log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "warning", *, json_lines: bool = False) -> None:
    """Send the agent's logs to stderr at ``level``; journald adds its own timestamps."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries that log every request would put vendor URLs, and the tokens some vendors
    # carry in them (Yeastar's ?token=), into the journal: they speak only when something is wrong.
    for chatty in QUIET_LIBRARIES:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
