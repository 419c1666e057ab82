"""One demo run: start the world, the agent, the scenario and the view; stop them all; sum up.

The order of leaving matters, and is the agent's own: asked to stop (``--duration`` or
Ctrl-C), it sends its goodbye heartbeats (Telecom X ``turnedOff``, Yeastar logout, Xyte
``offline``), says ``offline`` on MQTT and stops the embedded broker. The view leaves when
it has seen that ``offline``; then the simulators close and the temporary folder (store,
config, action log) is removed. The summary is printed last, with a check that nothing
the demo opened on 127.0.0.1 still listens.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edge_agent.assembly import build_agent
from edge_agent.demo.picture import DemoPicture
from edge_agent.demo.render import Setting, frame, summary
from edge_agent.demo.scenario import DemoScenario
from edge_agent.demo.view import Terminal, follow, keep_drawing
from edge_agent.demo.world import ENDPOINTS, BrokerAddress, DemoWorld
from edge_agent.errors import EdgeAgentError
from edge_agent.model import Clock, SystemClock
from edge_agent.mqtt.bridge import MqttBridge

GOODBYE_WAIT_S = 10.0
"""How long the view may wait for the agent's ``offline`` once the agent has returned."""


@dataclass(frozen=True)
class DemoOptions:
    duration: Optional[float] = None  # None: until Ctrl-C or SIGTERM
    broker: Optional[BrokerAddress] = None  # None: the agent's embedded broker on a free port


@dataclass(frozen=True)
class _Run:
    summary: list[str]
    error: Optional[str]


def run_demo(options: DemoOptions, terminal: Terminal, *, clock: Optional[Clock] = None) -> int:
    """Run the demo to its end; 0 when the agent ran and stopped cleanly, 1 when it failed."""
    clock = clock or SystemClock()
    workdir = Path(tempfile.mkdtemp(prefix="edge-agent-demo-"))
    try:
        world = DemoWorld.start(workdir, options.broker)
        try:
            run = asyncio.run(_run(world, options, terminal, clock))
        finally:
            world.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    terminal.say(run.summary + _teardown(world, workdir))
    if run.error is not None:
        terminal.say([f"error: {run.error}"])
        return 1
    return 0


async def _run(world: DemoWorld, options: DemoOptions, terminal: Terminal, clock: Clock) -> _Run:
    config = world.config()
    agent = build_agent(config, clock=clock)
    topics = agent.topics
    picture = DemoPicture(topics, clock.monotonic)
    setting = Setting(config.device.id, str(world.broker), world.broker.embedded, options.duration)
    started = clock.monotonic()

    def elapsed() -> float:
        return clock.monotonic() - started

    stop, agent_done, view_done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    _stop_on_signals(loop, stop)
    timer = loop.call_later(options.duration, stop.set) if options.duration else None
    terminal.say(_plan(world, topics.base, options))

    bridge = MqttBridge(
        host=world.broker.host,
        port=world.broker.port,
        client_id=f"edge-agent-demo-view-{os.getpid()}",
        keepalive=10,
        connect_timeout=2.0,
    )
    agent_task = asyncio.ensure_future(agent.run(stop))
    agent_task.add_done_callback(lambda _: agent_done.set())
    follower = asyncio.ensure_future(
        follow(bridge, picture, f"{topics.base}/#", stop=stop, agent_done=agent_done)
    )
    scenario = asyncio.ensure_future(DemoScenario(world, picture.note).run(stop))
    drawing = asyncio.ensure_future(
        keep_drawing(terminal, lambda t: frame(setting, picture, t), elapsed, view_done)
    )
    error: Optional[str] = None
    try:
        try:
            await agent_task
        except EdgeAgentError as exc:
            error = str(exc)
        stop.set()
        await asyncio.wait({follower, scenario}, timeout=GOODBYE_WAIT_S)
    finally:
        stop.set()
        if timer is not None:
            timer.cancel()
        for task in (follower, scenario):
            task.cancel()
        view_done.set()
        await asyncio.gather(follower, scenario, drawing, return_exceptions=True)
        terminal.close()
    return _Run(summary(setting, picture, elapsed(), world.vendor_facts(), []), error)


def _stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """The first Ctrl-C (or SIGTERM) stops the demo cleanly; a second Ctrl-C interrupts at once."""

    def first_signal() -> None:
        stop.set()
        loop.remove_signal_handler(signal.SIGINT)  # back to KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, first_signal)


def _plan(world: DemoWorld, base: str, options: DemoOptions) -> list[str]:
    """Where everything listens, printed once at the start."""
    broker = world.broker
    kind = "embedded in the agent (amqtt)" if broker.embedded else "external (--broker)"
    lines = [
        "edge-agent demo: the real agent, every vendor simulator and an MQTT broker, on this machine",
        f"  broker     {broker} {kind}",
        f"  watch it   mosquitto_sub -h {broker.host} -p {broker.port} -t '{base}/#' -v",
    ]
    for vendor, endpoint in ENDPOINTS.items():
        line = f"  {vendor:<10} {world.url(vendor):<24} [heartbeats.{endpoint}]"
        line += world.demo_note(vendor)
        lines.append(line)
    lines.append(f"  folder     {world.workdir} (store, action log; removed at the end)")
    if options.duration:
        lines.append(f"  runs for {options.duration:g} s (Ctrl-C ends it sooner)")
    else:
        lines.append("  runs until Ctrl-C")
    return [*lines, ""]


def _teardown(world: DemoWorld, workdir: Path) -> list[str]:
    """What was stopped, checked: nothing the demo opened on loopback may still listen."""
    ports = [server.port for server in world.servers.values()] + [world.report_port]
    if world.broker.embedded:
        ports.insert(0, world.broker.port)
    still = [port for port in ports if _listening("127.0.0.1", port)]
    lines = [
        "Stopped: the agent"
        + (f", its embedded broker {world.broker}" if world.broker.embedded else "")
        + f", {len(world.servers)} simulators, the PBX report listener 127.0.0.1:{world.report_port}",
    ]
    if still:
        lines.append("Still listening on 127.0.0.1 ports: " + ", ".join(map(str, still)))
    else:
        lines.append("Nothing listens any more on 127.0.0.1 ports " + ", ".join(map(str, ports)))
    lines.append(f"Removed {workdir}" if not workdir.exists() else f"Could not remove {workdir}")
    return lines


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        try:
            sock.connect((host, port))
        except OSError:
            return False
        return True
