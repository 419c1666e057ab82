"""Everything that speaks MQTT: the topic contract, the paho door and its options, the
embedded broker, Home Assistant discovery, the outbox drain and the mirror.

Empty on purpose: importing ``edge_agent.mqtt.topics`` must not load paho or the mirror,
so a command that only needs topic names stays small (see docs/architecture.md).
"""
