"""The Uptime Kuma vendor (push monitors): adapter, config model, simulator, endpoint description.

Nothing is imported here, so importing the simulator does not load the agent.
"""
