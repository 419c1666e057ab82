"""The live view: a subscriber to the device's topics, and the terminal it draws on.

The subscriber is an ordinary MQTT client (:class:`~edge_agent.mqtt.bridge.MqttBridge`,
like any dashboard would use) on ``<prefix>/<id>/#``: what it shows is what the agent
really wrote to the broker. It stays until the agent, asked to stop, has said
``offline``: by then the goodbye heartbeats (Telecom X ``turnedOff``) have been mirrored
too, and the view leaves before the embedded broker closes.

On a terminal the frame is redrawn in place a few times per second on the alternate
screen (ANSI), which is left at the end so the summary stays on the normal screen.
Anywhere else (a pipe, a log, a test) a plain frame is printed every few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from typing import Callable, TextIO

from edge_agent.demo.picture import DemoPicture
from edge_agent.errors import MqttConnectError, MqttError
from edge_agent.loops import pause
from edge_agent.mqtt.bridge import MqttBridge

log = logging.getLogger(__name__)

TTY_REDRAW_S = 0.25
PLAIN_FRAME_S = 4.0
CONNECT_RETRY_S = 0.2
POLL_S = 0.2

_ALT_SCREEN_ON, _ALT_SCREEN_OFF = "\x1b[?1049h", "\x1b[?1049l"
_HIDE_CURSOR, _SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
_HOME, _CLEAR_LINE_END, _CLEAR_BELOW = "\x1b[H", "\x1b[K", "\x1b[J"


async def follow(
    bridge: MqttBridge,
    picture: DemoPicture,
    topic: str,
    *,
    stop: asyncio.Event,
    agent_done: asyncio.Event,
) -> None:
    """Feed ``picture`` every message on ``topic`` until the agent's goodbye (or its end)."""
    if not await _connect(bridge, stop=stop, agent_done=agent_done):
        return
    try:
        await bridge.subscribe([(topic, 0)])  # a view needs no delivery guarantee
        while not (stop.is_set() and (picture.offline_after_stop or agent_done.is_set())):
            if not bridge.connected and bridge.messages.empty():
                return  # the broker went away (an external one, or the agent's on a crash)
            try:
                message = await asyncio.wait_for(bridge.messages.get(), POLL_S)
            except asyncio.TimeoutError:
                continue
            if stop.is_set():
                picture.stopping()
            picture.take(message.topic, message.payload)
    except MqttError as exc:
        log.warning("the demo's view lost the broker: %s", exc)
    finally:
        while not bridge.messages.empty():  # what arrived while we were deciding to leave
            message = bridge.messages.get_nowait()
            picture.take(message.topic, message.payload)
        await bridge.disconnect()


async def _connect(bridge: MqttBridge, *, stop: asyncio.Event, agent_done: asyncio.Event) -> bool:
    """Connect once the broker listens (the embedded one starts with the agent)."""
    while not (stop.is_set() or agent_done.is_set()):
        try:
            await bridge.connect()
        except MqttConnectError as exc:
            log.debug("the view waits for the broker: %s", exc)
            await pause(agent_done, CONNECT_RETRY_S)
        else:
            return True
    return False


class Terminal:
    """Where frames go: redrawn in place on a TTY, printed one after another elsewhere."""

    def __init__(
        self,
        out: TextIO,
        *,
        tty: bool,
        size: Callable[[], tuple[int, int]] = lambda: _terminal_size(),
    ) -> None:
        self.out = out
        self.tty = tty
        self._size = size
        self._open = False

    @property
    def interval(self) -> float:
        return TTY_REDRAW_S if self.tty else PLAIN_FRAME_S

    def open(self) -> None:
        if self.tty and not self._open:
            self.out.write(_ALT_SCREEN_ON + _HIDE_CURSOR)
            self.out.flush()
        self._open = True

    def draw(self, lines: list[str], elapsed: float) -> None:
        if self.tty:
            columns, rows = self._size()
            width, height = max(20, columns), max(5, rows - 1)
            if len(lines) > height:  # a line past the bottom would scroll the screen
                lines = [
                    *lines[: height - 1],
                    f"... {len(lines) - height + 1} more lines: enlarge the terminal",
                ]
            body = "".join(line[:width] + _CLEAR_LINE_END + "\n" for line in lines)
            self.out.write(_HOME + body + _CLEAR_BELOW)
        else:
            self.out.write(f"---- after {elapsed:.0f} s ----\n" + "\n".join(lines) + "\n")
        self.out.flush()

    def close(self) -> None:
        """Back to the normal screen (the summary is printed there)."""
        if self.tty and self._open:
            self.out.write(_SHOW_CURSOR + _ALT_SCREEN_OFF)
            self.out.flush()
        self._open = False

    def say(self, lines: list[str]) -> None:
        """Lines printed once, outside the frames (the plan at start, the summary at the end)."""
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()


async def keep_drawing(
    terminal: Terminal,
    render: Callable[[float], list[str]],
    elapsed: Callable[[], float],
    until: asyncio.Event,
) -> None:
    """Draw ``render(elapsed)`` every ``terminal.interval`` seconds until ``until`` is set."""
    terminal.open()
    while True:
        await pause(until, terminal.interval)
        if until.is_set():
            return
        terminal.draw(render(elapsed()), elapsed())


def _terminal_size() -> tuple[int, int]:
    size = shutil.get_terminal_size()
    return size.columns, size.lines
