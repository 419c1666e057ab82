"""The demo's stand-in for notify-send, gtk-launch, cvlc, journalctl and reboot.

``edge-agent demo`` points every ``[actions.commands]`` entry at this program, so each
action the vendors send is run by the real action runner as a real process, yet nothing
on the user's machine is touched: the program only says what it would have done, on
stdout (the runner puts it in the event's ``stdout_tail``) and as one JSON line appended
to a log file, and exits 0.

It is started by path (``python .../act.py LOG TYPE [--] [ARG...]``), not with ``-m``, so
it runs the same whether or not edge-agent is installed; for that reason it imports only
the standard library.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

SAYINGS: dict[str, str] = {
    "MESSAGE": "would show message: {0}",
    "START_APP": "would start app {0}",
    "VIDEO": "would play video {0}",
    "DUMP": "would collect the last 200 log lines",
    "REBOOT": "would reboot the device (the demo reboots nothing)",
}


def describe(action_type: str, args: Sequence[str]) -> str:
    """One sentence saying what the real program for ``action_type`` would have done."""
    template = SAYINGS.get(action_type)
    if template is None:
        return f"would run {action_type} {' '.join(args)}".rstrip()
    return template.format(*(list(args) or [""]))


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2:
        print("usage: act.py LOG TYPE [--] [ARG...]", file=sys.stderr)
        return 2
    log_path, action_type, *args = argv
    if args and args[0] == "--":  # the template's "--" keeps a message starting with "-" inert
        args = args[1:]
    said = describe(action_type, args)
    print(said)
    line = json.dumps({"type": action_type, "args": args, "said": said}, ensure_ascii=False)
    # One short line in append mode: lines of actions running side by side do not interleave.
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
