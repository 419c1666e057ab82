"""Round trip and loss by TCP connect, probing only 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from collector_helpers import Tree, collector_for


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listener whose accept queue is full: the kernel drops further SYNs, so connects time out."""
    with socket.socket() as server, socket.socket() as filler:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        filler.connect(server.getsockname())
        yield server.getsockname()[1]


def test_a_listening_target_answers_every_probe(tree: Tree, listening_port: int) -> None:
    snapshot = collector_for(tree.root, rtt_targets=[f"127.0.0.1:{listening_port}"], rtt_probes=3).collect()
    assert snapshot.packet_loss_percent == 0.0
    assert snapshot.rtt_ms is not None and 0.0 <= snapshot.rtt_ms < 1000.0


def test_a_refused_connect_is_a_round_trip_not_a_loss(tree: Tree, closed_port: int) -> None:
    snapshot = collector_for(tree.root, rtt_targets=[f"127.0.0.1:{closed_port}"], rtt_probes=2).collect()
    assert snapshot.packet_loss_percent == 0.0
    assert snapshot.rtt_ms is not None


def test_unanswered_probes_are_losses_over_all_targets(
    tree: Tree, listening_port: int, silent_port: int
) -> None:
    targets = [f"127.0.0.1:{listening_port}", f"127.0.0.1:{silent_port}"]
    snapshot = collector_for(tree.root, rtt_targets=targets, rtt_probes=2, rtt_timeout=0.2).collect()
    assert snapshot.packet_loss_percent == 50.0
    assert snapshot.rtt_ms is not None


def test_a_silent_target_alone_gives_full_loss_and_no_rtt(tree: Tree, silent_port: int) -> None:
    target = f"127.0.0.1:{silent_port}"
    snapshot = collector_for(tree.root, rtt_targets=[target], rtt_probes=1, rtt_timeout=0.2).collect()
    assert snapshot.packet_loss_percent == 100.0
    assert snapshot.rtt_ms is None
    assert snapshot.unavailable["rtt_ms"] == f"no reply from any target ({target}: no answer within 0.2 s)"


def test_no_targets_means_both_unavailable(tree: Tree) -> None:
    snapshot = collector_for(tree.root).collect()
    assert snapshot.unavailable["rtt_ms"] == "no rtt_targets configured"
    assert snapshot.unavailable["packet_loss_percent"] == "no rtt_targets configured"
