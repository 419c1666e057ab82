"""A minimal agent process for the crash tests: the real runner over a store file.

    python runner_harness.py STORE BIN_DIR CONFIG_JSON [ACTION_JSON]

Reports interrupted actions, submits ACTION_JSON (as an MQTT command) when given, runs
everything waiting, and prints every ``action.*`` event as one JSON line (the intake's
``command.*`` events are about the MQTT message, not the action's life). The tests SIGKILL it (or
let a fake ``systemctl reboot`` do so) and start it again on the same store.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from edge_agent.actions import ActionRunner
from edge_agent.config import ActionsConfig
from edge_agent.model import Event, SystemClock
from edge_agent.store import Store


def print_event(event: Event) -> None:
    if not event.type.startswith("action."):
        return
    print(json.dumps(event.to_json()), flush=True)


async def main(store_path: str, bin_dir: str, config_json: str, action_json: str = "") -> None:
    store = Store(Path(store_path))
    config = ActionsConfig.model_validate(json.loads(config_json))
    env = {"PATH": bin_dir}
    if "EDGE_AGENT_HOST_ROOT" in os.environ:  # the device's fixture tree, when the test gives one
        env["EDGE_AGENT_HOST_ROOT"] = os.environ["EDGE_AGENT_HOST_ROOT"]
    runner = ActionRunner(config, store, SystemClock(), print_event, device_id="pi-crash", env=env)
    runner.recover()
    if action_json:
        runner.intake.take_command(action_json.encode())
    await runner.drain()
    store.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
