"""The xyte vendor: adapter, config model, simulator, endpoint description (see docs/adding-a-vendor.md).

Nothing is imported here, so importing the simulator does not load the agent.
"""
