"""The fleet as ``edge-agent watch`` shows it: the pure model of every device seen under a
prefix (:mod:`edge_agent.fleet.view`) and the ways to print it (:mod:`edge_agent.fleet.table`).
"""
