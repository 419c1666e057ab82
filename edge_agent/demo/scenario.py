"""What the demo does on the vendors' side while the agent runs, so a newcomer sees actions flow.

Each step waits until the agent has reached that vendor (its first Telecom X heartbeat,
its Xyte registration, its Yeastar login) and then uses the simulator's hooks, as the
vendor's operator would use its portal. The agent learns of each only as it would in the
field: from a heartbeat reply (Telecom X, Xyte) or a POST to its report listener (Yeastar).
Steps for different vendors run side by side, so a slow vendor delays only its own.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Optional, TypeVar

from edge_agent.demo.world import XYTE_SERIAL, DemoWorld
from edge_agent.loops import stopped_within

T = TypeVar("T")

DEMO_MESSAGE = "Lunch is served in the lobby"
DEMO_APP = "com.example.player"
XYTE_COMMAND = "dump"
PBX_REPORT: dict[str, Any] = {"action": "ExtensionStatus", "extension": "1001", "status": "Ringing"}


class DemoScenario:
    """A MESSAGE and a START_APP from Telecom X, a ``dump`` command from Xyte, a PBX event report."""

    def __init__(
        self, world: DemoWorld, note: Callable[[str], None], *, poll_s: float = 0.2, pause_s: float = 2.0
    ) -> None:
        self.world = world
        self.note = note
        self.poll_s = poll_s
        self.pause_s = pause_s

    async def run(self, stop: asyncio.Event) -> None:
        """Play every step once, unless ``stop`` comes first."""
        await asyncio.gather(self._telecomx(stop), self._xyte(stop), self._yeastar(stop))

    async def _telecomx(self, stop: asyncio.Event) -> None:
        iptv, token = self.world.app("telecomx"), self.world.telecomx_token
        self.note("Telecom X starts with its welcome MESSAGE queued for the first heartbeat")
        if await self._until(stop, lambda: iptv.heartbeats(token)) is None:
            return
        iptv.queue_action(token, {"type": "MESSAGE", "message": DEMO_MESSAGE, "notify": 0})
        self.note(f"Telecom X: queued MESSAGE {DEMO_MESSAGE!r} for the next heartbeat reply")
        if await stopped_within(stop, self.pause_s):
            return
        iptv.queue_action(token, {"type": "START_APP", "app": DEMO_APP})
        self.note(f"Telecom X: queued START_APP {DEMO_APP}")

    async def _xyte(self, stop: asyncio.Event) -> None:
        hub = self.world.app("xyte")
        device = await self._until(stop, lambda: hub.device_by_sn(XYTE_SERIAL))
        if device is None:
            return
        hub.queue_command(device.id, XYTE_COMMAND)
        self.note(f"Xyte: the device registered as {device.id}; queued command {XYTE_COMMAND!r}")

    async def _yeastar(self, stop: asyncio.Event) -> None:
        pbx = self.world.app("yeastar")
        if await self._until(stop, pbx.report_target) is None:
            return
        pbx.push_report(PBX_REPORT, attempts=5, interval=0.5)
        self.note("Yeastar: the agent logged in; the PBX pushes an ExtensionStatus report to its listener")

    async def _until(self, stop: asyncio.Event, check: Callable[[], Optional[T]]) -> Optional[T]:
        """``check()`` once it is truthy, polling; None when ``stop`` comes first."""
        while not stop.is_set():
            result = check()
            if result:
                return result
            await stopped_within(stop, self.poll_s)
        return None
