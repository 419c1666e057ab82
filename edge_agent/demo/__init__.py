"""``edge-agent demo``: the real agent against every vendor simulator, with a live view.

One process holds it all: the simulators serve on 127.0.0.1 in their threads, and one
asyncio loop runs the agent exactly as ``edge-agent run`` builds it (embedded broker,
heartbeats, action runner, PBX report listener), the demo's scenario, and a view that
subscribes to the agent's topics like any dashboard. Every action runs the harmless
stand-in program :mod:`edge_agent.demo.act`.

- ``world.py``: the simulators and the agent's config for them
- ``scenario.py``: what the demo does on the vendors' side (actions, a command, a report)
- ``picture.py``: what the view has seen on the broker
- ``render.py``: frames and the summary, as text
- ``view.py``: the MQTT subscriber and the terminal
- ``session.py``: starts it all, stops it all, prints the summary
- ``act.py``: the stand-in for notify-send, gtk-launch, cvlc...

Nothing here is imported by the agent; only ``edge_agent.cli.demo`` imports it.
"""
