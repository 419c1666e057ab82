"""edge-agent: an MQTT-bridged IoT edge agent.

Reads hardware metrics, sends vendor HTTP heartbeats, mirrors its state to MQTT and
runs the actions it receives, safely and exactly once.
"""

__version__ = "0.1.0"
