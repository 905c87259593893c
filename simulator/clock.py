"""Virtual time for moto's Step Functions interpreter.

The interpreter runs each execution, Map iteration and Parallel branch in a thread of its own.
Wait states, retry back-off and joins block those threads. Here every such thread is counted,
and every blocking point is replaced by a wait on this clock. Virtual time moves on only when
every counted thread is blocked, and then straight to the earliest deadline: a run that takes
hours of virtual time takes seconds, and timestamps stay realistic, because time itself is a
frozen clock (time-machine) that only this module shifts.
"""

import datetime as dt
import heapq
import math
import threading
import time
import types
from collections.abc import Callable

import time_machine

from . import moto_targets as moto

_RESOLUTION = 1e-6  # seconds: time-machine shifts the clock in whole microseconds
_REAL_EVENT = threading.Event
_REAL_LOCK = threading.Lock
_REAL_THREAD = threading.Thread


class Deadlock(RuntimeError):
    """Every thread waits and none has a deadline: the run can never go on."""


class _Waiter:
    """A blocked thread: it waits on a lock of its own, which the clock releases, so releasing one thread wakes
    that thread alone (a shared condition would wake every blocked thread at every release)."""

    __slots__ = ("deadline", "ready", "released", "wake")

    def __init__(self, ready, deadline):
        self.ready = ready
        self.deadline = deadline
        self.released = False
        self.wake = _REAL_LOCK()
        self.wake.acquire()


class VirtualClock:
    def __init__(self, start: dt.datetime):
        self.start = start
        self._traveller = time_machine.travel(start, tick=False)
        self._cond = threading.Condition()
        self._threads = 0  # counted interpreter threads alive
        self._blocked = 0  # of those, how many are blocked on this clock
        self._waiters: list[_Waiter] = []
        self._shifter: time_machine.Traveller | None = None  # while the clock runs (__enter__)
        self._timers: list[tuple[float, int, Callable[[float], object]]] = []  # (when, seq, callable): AWS's own doings
        self._seq = 0

    # time ------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time()

    def now_datetime(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def start_plus(self, timestamp: float) -> str:
        """An ISO 8601 time, as AWS events carry them."""
        return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def elapsed(self) -> float:
        return time.time() - self.start.timestamp()

    def __enter__(self):
        self._shifter = self._traveller.start()
        _install(self)
        return self

    def __exit__(self, *exc):
        _uninstall()
        self._traveller.stop()

    # threads -----------------------------------------------------------------------------
    def thread_started(self):
        with self._cond:
            self._threads += 1

    def thread_finished(self):
        with self._cond:
            self._threads -= 1
            self._release_ready()
            self._cond.notify_all()

    def notify(self):
        """Something a waiter may be waiting for has happened (an event set)."""
        with self._cond:
            self._release_ready()
            self._cond.notify_all()

    def block(self, ready=lambda: False, timeout: float | None = None) -> None:
        """Block the calling counted thread until ready() or the virtual timeout passes."""
        with self._cond:
            if ready():
                return
            deadline = None if timeout is None else time.time() + max(timeout, 0)
            waiter = _Waiter(ready, deadline)
            self._waiters.append(waiter)
            self._blocked += 1
            self._cond.notify_all()  # the driver: one more thread blocked
        waiter.wake.acquire()

    def sleep(self, seconds: float) -> None:
        self.block(timeout=seconds)

    def call_later(self, delay: float, action) -> None:
        """Run action(when) on the driver's thread once virtual time reaches now + delay."""
        with self._cond:
            self._seq += 1
            heapq.heappush(self._timers, (time.time() + max(delay, 0), self._seq, action))
            self._cond.notify_all()

    def _release_ready(self):
        now = time.time()
        for waiter in self._waiters:
            due = waiter.deadline is not None and waiter.deadline <= now + _RESOLUTION
            if not waiter.released and (due or waiter.ready()):
                waiter.released = True
                self._blocked -= 1
                waiter.wake.release()
        self._waiters = [w for w in self._waiters if not w.released]

    def run_timers(self, within: float) -> None:
        """After the run: the timers due in the next `within` seconds, in order (nothing else runs now)."""
        end = time.time() + within
        while self._timers and self._timers[0][0] <= end:
            when, _, action = heapq.heappop(self._timers)
            if when > time.time():
                assert self._shifter is not None  # the clock runs: the run it follows has just ended
                self._shifter.shift(dt.timedelta(microseconds=math.ceil((when - time.time()) * 1e6)))
            action(when)

    # the driver ------------------------------------------------------------------------------
    def run(self, limit_seconds: float) -> None:
        """Drive virtual time until every counted thread has ended. Called from the (uncounted) main thread.

        Time moves only when every counted thread is blocked, straight to the next deadline or timer.
        Timers run here with the lock released, one at a time, while the interpreter waits."""
        with self._cond:
            while True:
                while self._blocked < self._threads:
                    self._cond.wait(timeout=0.5)
                if self._threads == 0:
                    return
                deadlines = [w.deadline for w in self._waiters if w.deadline is not None]
                if self._timers:
                    deadlines.append(self._timers[0][0])
                if not deadlines:
                    raise Deadlock("every execution thread waits and none has a deadline")
                if self.elapsed() > limit_seconds:
                    raise TimeoutError(f"the simulation passed {limit_seconds} virtual seconds")
                step = min(deadlines) - time.time()
                if step > _RESOLUTION:
                    # the frozen clock moves in whole microseconds: round up, or a deadline could stay ahead
                    assert self._shifter is not None  # run() is called inside the clock's with block
                    self._shifter.shift(dt.timedelta(microseconds=math.ceil(step * 1e6)))
                if self._timers and self._timers[0][0] <= time.time() + _RESOLUTION:
                    when, _, action = heapq.heappop(self._timers)
                    self._cond.release()
                    try:
                        action(when)
                    finally:
                        self._cond.acquire()
                self._release_ready()


# patching the interpreter -------------------------------------------------------------------------
_clock: VirtualClock | None = None


class _CountedThread(_REAL_THREAD):
    def start(self):
        assert _clock is not None  # set while the patches that call this are installed
        _clock.thread_started()
        self._finished_counted = False
        try:
            super().start()
        except BaseException:
            _clock.thread_finished()
            raise

    def run(self):
        try:
            super().run()
        finally:
            self._finished_counted = True
            assert _clock is not None  # set while the patches that call this are installed
            _clock.thread_finished()

    def join(self, timeout=None):
        assert _clock is not None  # set while the patches that call this are installed
        _clock.block(lambda: self._finished_counted, timeout)
        super().join(0 if not self._finished_counted else None)


class _CountedEvent(_REAL_EVENT):
    def set(self):
        super().set()
        assert _clock is not None  # set while the patches that call this are installed
        _clock.notify()

    def wait(self, timeout=None):
        assert _clock is not None  # set while the patches that call this are installed
        _clock.block(self.is_set, timeout)
        return self.is_set()


ProgramStopped = moto.PROGRAM_STOPPED.get()
_real_set_error = moto.SET_ERROR.get()


def _set_error_unless_stopped(self, error):
    """As on AWS, a stopped execution stays ABORTED: moto's interpreter would overwrite the stop with the
    error of the task the stop interrupted (a waitForTaskToken wait, for instance)."""
    if isinstance(self._program_state, ProgramStopped):
        return
    _real_set_error(self, error)


def _virtual_wait_interval(self, env, wait_seconds):
    assert _clock is not None  # set while the patches that call this are installed
    _clock.block(lambda: not env.is_running(), wait_seconds)


def _virtual_sleep(seconds):
    assert _clock is not None  # set while the patches that call this are installed
    _clock.sleep(seconds)


_threading = types.SimpleNamespace(**{**vars(threading), "Thread": _CountedThread, "Event": _CountedEvent})
_time = types.SimpleNamespace(**{**vars(time), "sleep": _virtual_sleep})
_PATCHES = [(target, _threading) for target in moto.THREADING_MODULES] + [
    (moto.EXECUTE_STATE_THREAD, _CountedThread),
    (moto.CALLBACK_EVENT, _CountedEvent),
    (moto.EXECUTION_WORKER_THREAD, _CountedThread),
    (moto.RETRIER_TIME, _time),
    (moto.WAIT_INTERVAL, _virtual_wait_interval),
    (moto.SET_ERROR, _set_error_unless_stopped),
]
_saved: list = []


def _install(clock: VirtualClock) -> None:
    global _clock
    if _clock is not None:
        raise RuntimeError("a virtual clock is already running")
    _clock = clock
    for target, value in _PATCHES:
        _saved.append((target, target.get()))
        target.set(value)


def _uninstall() -> None:
    global _clock
    while _saved:
        target, value = _saved.pop()
        target.set(value)
    _clock = None
