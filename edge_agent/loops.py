"""What keeps the agent's long-running loops alive, and what tells systemd whether they are.

The one home of the waiting every loop does (the agent's, the mirror's, ``watch``'s and the
demo's):

* :func:`stopped_within` / :func:`pause`: sleep, but wake at once when ``stop`` is set.
* :func:`capped_exponential` and :class:`ReconnectBackoff`: how long to wait after failures.
* :func:`keep_connected`: connect, serve until the connection is lost, wait, connect again.

Two small parts every loop uses:

* :class:`FailureStreak`: one loop's run of consecutive failures. Each failure gives a
  capped, growing pause, and is logged only when a streak starts or its kind changes, so a
  disk that stays full for an hour is one log line, not thousands.
* :class:`Liveness`: each loop *beats* once per iteration (and while it waits idle), saying
  when it expects to beat again at the latest. The watchdog pinger feeds systemd only while
  no loop is overdue: a loop that died or hangs (a read of a wedged file, an await that
  never returns) stops the pings, and systemd restarts the agent.

:class:`Supervised` wraps a service whose own loop is not ours to change (the PBX report
listener, the action runner): it beats for it while it runs, and restarts it with capped
backoff when it fails, reporting each failure through ``on_error``.

:class:`Ticker` runs blocking work (the metrics collection) every interval on a thread
of its own and hands each outcome to the asyncio loop, which never runs the work itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random as _random
import threading
import time
from collections.abc import Awaitable
from typing import Any, Callable, Generic, Optional, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

IDLE_BEAT = 5.0
"""How often a loop that waits for work (a message, an acknowledgement, stop) beats anyway."""

ErrorReport = Callable[[str, BaseException, int, float], None]
"""``on_error(loop_name, exception, failures_in_a_row, retry_in_s)``: e.g. a ``loop.error`` event."""


class FailureStreak:
    """Backoff and log-once bookkeeping of one loop's consecutive failures."""

    def __init__(self, name: str, *, initial: float = 0.5, cap: float = 60.0) -> None:
        self.name = name
        self.initial = initial
        self.cap = cap
        self.failures = 0
        self._kind: Optional[str] = None

    def failed(self, exc: BaseException) -> float:
        """Count one failure and return how long to pause; logs once per streak and kind."""
        self.failures += 1
        kind = f"{type(exc).__name__}: {exc}"[:200]
        delay = capped_exponential(self.initial, self.cap, self.failures)
        if kind != self._kind:
            self._kind = kind
            log.error(
                "loop %s failed (%s); it goes on, retrying in %.1f s (logged once while it keeps failing so)",
                self.name,
                kind,
                delay,
                exc_info=not _expected(exc),
            )
        return delay

    def succeeded(self) -> None:
        if self.failures:
            log.warning("loop %s works again after %d failure(s)", self.name, self.failures)
        self.failures = 0
        self._kind = None


def _expected(exc: BaseException) -> bool:
    """Our own errors carry a clear message; anything else is a bug worth its traceback."""
    from edge_agent.errors import EdgeAgentError

    return isinstance(exc, EdgeAgentError)


class Liveness:
    """When each registered loop last beat, and when it promised to beat again.

    ``slack`` is added to every promise (the agent uses the watchdog period: systemd's own
    budget), so a loop that is only slow is not taken for a dead one.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic, *, slack: float = 0.0) -> None:
        self._monotonic = monotonic
        self.slack = slack
        self._deadlines: dict[str, float] = {}

    def beat(self, name: str, within: float) -> None:
        """Loop ``name`` is alive now and will beat again within ``within`` seconds."""
        self._deadlines[name] = self._monotonic() + max(0.0, within) + self.slack

    def retire(self, name: str) -> None:
        """Loop ``name`` ended on purpose (an endpoint stopped until the config changes)."""
        self._deadlines.pop(name, None)

    @property
    def names(self) -> list[str]:
        return sorted(self._deadlines)

    def overdue(self) -> dict[str, float]:
        """Every loop past its promise, with how many seconds it is late."""
        now = self._monotonic()
        return {name: now - deadline for name, deadline in self._deadlines.items() if now > deadline}


class Supervised:
    """Runs ``service`` (``run(stop)``/``shutdown()``) until stop; restarted after a failure; beats for it."""

    def __init__(
        self,
        name: str,
        service: Any,
        *,
        liveness: Optional[Liveness] = None,
        on_error: Optional[ErrorReport] = None,
        idle_beat: float = IDLE_BEAT,
    ) -> None:
        self.name = name
        self.service = service
        self._liveness = liveness
        self._on_error = on_error
        self._idle_beat = idle_beat
        self.streak = FailureStreak(name)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._beat()
            task = asyncio.ensure_future(self.service.run(stop))
            try:
                while not task.done():
                    await asyncio.wait({task}, timeout=self._idle_beat)
                    self._beat()
            finally:
                if not task.done():
                    task.cancel()
            if task.cancelled():
                raise asyncio.CancelledError()
            error = task.exception()
            if error is None:
                if stop.is_set():
                    break
                if self._liveness is not None:
                    self._liveness.retire(self.name)  # it ended on purpose
                return
            if not isinstance(error, Exception):  # KeyboardInterrupt, SystemExit: not ours to keep
                raise error
            # The service cleans up after itself in run() (its shutdown() is the agent's goodbye,
            # not a restart's): just wait, then run it again.
            delay = self.streak.failed(error)
            report(self._on_error, self.name, error, self.streak.failures, delay)
            self._beat(delay)
            await pause(stop, delay)

    async def shutdown(self) -> None:
        await self.service.shutdown()

    def _beat(self, extra: float = 0.0) -> None:
        if self._liveness is not None:
            self._liveness.beat(self.name, self._idle_beat + extra)


def report(
    on_error: Optional[ErrorReport], name: str, error: BaseException, failures: int, delay: float
) -> None:
    """Tell ``on_error`` of a loop's failure; a failure to tell is logged, never raised."""
    if on_error is None:
        return
    try:
        on_error(name, error, failures, delay)
    except Exception:
        log.debug("could not report the failure of loop %s", name, exc_info=True)


async def stopped_within(stop: asyncio.Event, seconds: Optional[float]) -> bool:
    """Wait ``seconds`` (``None``: for as long as it takes) or until ``stop`` is set; whether it is."""
    if stop.is_set():
        return True
    try:
        await asyncio.wait_for(stop.wait(), None if seconds is None else max(0.0, seconds))
    except asyncio.TimeoutError:
        return False
    return True


async def pause(stop: asyncio.Event, seconds: Optional[float]) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    await stopped_within(stop, seconds)


def capped_exponential(initial: float, cap: float, failures: int) -> float:
    """``initial * 2^(failures-1)``, at most ``cap``: the pause after the n-th failure in a row."""
    return min(cap, initial * 2.0 ** min(max(failures - 1, 0), 40))


class ReconnectBackoff:
    """Delays between ``minimum`` and ``maximum`` seconds that grow while attempts keep failing.

    Capped exponential backoff with "decorrelated jitter" (each delay is drawn between the
    minimum and three times the previous one, then capped): when a broker restarts, a fleet
    that lost it at the same instant does not come back at the same instant, and a device
    never waits longer than ``maximum``. Randomness is passed in, so tests can pin it.
    """

    def __init__(self, minimum: float, maximum: float, random: Callable[[], float] = _random.random) -> None:
        if not 0 < minimum <= maximum:
            raise ValueError("need 0 < minimum <= maximum")
        self.minimum = minimum
        self.maximum = maximum
        self._random = random
        self._previous = minimum

    def next_delay(self) -> float:
        """The wait before the next attempt; each call is one more failure."""
        upper = min(self.maximum, self._previous * 3)
        delay = self.minimum + self._random() * (upper - self.minimum)
        self._previous = min(self.maximum, max(self.minimum, delay))
        return self._previous

    def reset(self) -> None:
        """A connection succeeded: the next outage starts again from short waits."""
        self._previous = self.minimum


async def keep_connected(
    stop: asyncio.Event,
    connect: Callable[[], Awaitable[None]],
    serve: Callable[[], Awaitable[str]],
    backoff: ReconnectBackoff,
    *,
    failures: tuple[type[Exception], ...],
    where: str,
    logger: logging.Logger,
    monotonic: Callable[[], float] = time.monotonic,
    held: float = 0.0,
    connected: bool = False,
) -> None:
    """Connect, ``serve`` until the connection is lost, wait (backoff), connect again: until ``stop``.

    ``serve`` returns why the connection ended. A ``connect`` that raises one of ``failures``
    is logged and retried after the next backoff delay; anything else is a bug and propagates.
    A connection that lasted at least ``held`` seconds resets the backoff, so the next outage
    starts with short waits. ``connected``: the caller connected already (the first connect's
    failure is its own to report), so the loop starts by serving. Messages go to ``logger``,
    the caller's, so the log names the part that lost its broker.
    """
    while not stop.is_set():
        if connected:
            connected = False
        else:
            try:
                await connect()
            except failures as exc:
                delay = backoff.next_delay()
                logger.warning("%s; retrying in %.1f s", exc, delay)
                await pause(stop, delay)
                continue
            logger.info("connected to the broker %s", where)
        since = monotonic()
        reason = await serve()
        if stop.is_set():
            break
        if monotonic() - since >= held:
            backoff.reset()  # a connection that held: the next outage starts with short waits
        delay = backoff.next_delay()
        logger.warning("lost the broker %s (%s); reconnecting in %.1f s", where, reason, delay)
        await pause(stop, delay)


class Ticker(Generic[T]):
    """Calls a blocking ``work()`` every ``interval`` s on a thread of its own; each outcome goes to the loop.

    Why not ``run_in_executor`` each time: a metrics cycle then woke the loop for its timer,
    handed the work to an executor thread (a futex wake and the executor's futures) and
    woke the loop again for the result: about 0.2 ms of CPU a cycle on the development
    machine, a tenth of the agent's at a 1 s interval (issue 15). This thread keeps its
    own time and wakes the loop once, with the outcome. The work still never runs on the
    loop: a read that blocks (a wedged sysfs file) stalls this thread only, and the loop
    sees no outcome (its liveness says so).

    ``deliver(outcome, error, due)`` runs on the loop, in order, once per call of ``work``:
    its result (``error`` None) or what it raised, and when that call was due (on
    ``monotonic``'s scale). The first call is at :meth:`start`; each next one ``interval``
    after the previous one was due, or at once if that moment has passed (missed ticks are
    skipped, not run in a burst); :meth:`postpone` moves it later (a backoff after failures)
    and :attr:`due` says when it is.
    """

    def __init__(
        self,
        work: Callable[[], T],
        interval: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        name: str = "ticker",
    ) -> None:
        self._work = work
        self._interval = interval
        self._monotonic = monotonic
        self._name = name
        self._stopping = threading.Event()
        self._due = 0.0
        self._thread: Optional[threading.Thread] = None

    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[Optional[T], Optional[Exception], float], None],
    ) -> asyncio.Future[None]:
        """Start the thread; the returned future is done when it has ended (after :meth:`stop`)."""
        ended: asyncio.Future[None] = loop.create_future()
        self._due = self._monotonic()
        self._thread = threading.Thread(
            target=self._run, args=(loop, deliver, ended), name=self._name, daemon=True
        )
        self._thread.start()
        return ended

    def stop(self) -> None:
        """No further call of ``work``; one under way finishes and is delivered."""
        self._stopping.set()

    @property
    def due(self) -> float:
        """When the next call of ``work`` is due (``monotonic``'s scale)."""
        return self._due

    def postpone(self, until: float) -> None:
        """Call ``work`` next not before ``until`` (loop thread; the worker reads it when it wakes)."""
        self._due = max(self._due, until)

    def _run(
        self,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[Optional[T], Optional[Exception], float], None],
        ended: asyncio.Future[None],
    ) -> None:
        try:
            while self._wait_until_due():
                due = self._due
                outcome: Optional[T] = None
                error: Optional[Exception] = None
                try:
                    outcome = self._work()
                except Exception as exc:  # the loop reports it; the thread goes on
                    error = exc
                self._due = max(due + self._interval, self._monotonic())
                loop.call_soon_threadsafe(deliver, outcome, error, due)
        except RuntimeError:  # the loop closed under a late outcome: nobody is left to tell
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_set_done, ended)

    def _wait_until_due(self) -> bool:
        """Sleep until the (possibly postponed) due time; False once stopped."""
        while not self._stopping.is_set():
            wait = self._due - self._monotonic()
            if wait <= 0:
                return True
            self._stopping.wait(wait)
        return False


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
