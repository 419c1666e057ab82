"""The wall clock jumping under a running agent: an hour forward, a day back, then right again.

That is what a Raspberry Pi without a real-time clock lives through: it boots with the
time it shut down at (fake-hwclock), and NTP steps the clock when the network comes.
The jumps are made with libfaketime (Debian's ``libfaketime``, which ``.ci/run``
installs), read from a file the test rewrites while the agent runs. Only the wall clock
jumps (``FAKETIME_DONT_FAKE_MONOTONIC``), as with a real NTP step. libfaketime 0.9.10
mistranslates absolute sleeps on the monotonic clock (``time.sleep`` fails with EINVAL),
which costs only the first CPU sample of the first cycle here; asyncio's waits are
relative and unaffected.

In every stretch the agent must keep beating the interval-1 vendors at their pace (no
stall waiting for a time that went back, no burst catching up with one that went
forward) without spinning (CPU under half of one core), keep running what vendors
queue, and once the clock is right again every vendor, PubNub included (it refuses
signatures whose timestamp is a minute off), must be beaten successfully.
"""

from __future__ import annotations

import glob
import time
from pathlib import Path

import pytest
from fault_rig import Rig
from mqtt_brokers import have_mosquitto
from support.waiting import wait_until

LIBFAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))), None)
STRETCH_S = 6.0
MEMORY_GROWTH_MB = 10.0
JUMPS = {"on time": "+0", "an hour ahead": "+3600", "a day behind": "-86400"}

pytestmark = [
    pytest.mark.skipif(not have_mosquitto(), reason="mosquitto is not installed (.ci/run installs it)"),
    pytest.mark.skipif(LIBFAKETIME is None, reason="libfaketime is not installed (.ci/run installs it)"),
]


def test_the_agent_neither_stalls_nor_spins_when_the_wall_clock_jumps(tmp_path: Path) -> None:
    offset = tmp_path / "faketime.rc"
    offset.write_text("+0\n")
    rig = Rig(
        tmp_path,
        agent_env={
            "LD_PRELOAD": str(LIBFAKETIME),
            "FAKETIME_TIMESTAMP_FILE": str(offset),
            "FAKETIME_CACHE_DURATION": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        },
    )
    telecomx = rig.world.apps["telecomx"]
    token = rig.world.credentials["telecomx"]["token"]
    try:
        agent = rig.start_agent()
        rig.wait_every_vendor_ok()
        time.sleep(3)
        rss_before = rig.rss_mb()
        for stretch, (name, jump) in enumerate([*JUMPS.items(), ("right again", "+0")]):
            offset.write_text(f"{jump}\n")
            time.sleep(1.5)  # libfaketime reads the file at most once a second
            telecomx.queue_action(token, {"type": "MESSAGE", "message": f"during {name}"})
            before, cpu_before = rig.marks(), rig.cpu_s()
            time.sleep(STRETCH_S)
            after, cpu = rig.marks(), rig.cpu_s() - cpu_before
            for endpoint in ("iptv", "hub"):
                beats = after[endpoint] - before[endpoint]
                assert STRETCH_S / 2 <= beats <= 2 * STRETCH_S + 1, f"{name}: {endpoint} beat {beats} times"
            assert cpu < STRETCH_S / 2, f"{name}: {cpu:.1f} CPU seconds in {STRETCH_S:g} s"
            wait_until(
                f"the action queued {name} to run", lambda n=stretch: len(rig.world.actions_run()) >= n + 2
            )
        rig.wait_every_vendor_ok(since=rig.marks(), timeout=20)
        assert rig.rss_mb() - rss_before < MEMORY_GROWTH_MB
        assert agent.process.poll() is None
        assert rig.stop_agent() == 0
    finally:
        rig.close()
    messages = sorted(argv[1] for argv in rig.world.actions_run())
    assert messages == sorted(
        ["Hello from the Telecom X simulator", *(f"during {n}" for n in [*JUMPS, "right again"])]
    )
