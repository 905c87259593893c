"""polling.poll on a fake invocation: every call that hands back "not yet" has let time pass, at least
min(interval, remaining - reserve) seconds, and checked once more at the end when there was time."""

import pytest

from autopatch import polling
from autopatch.polling import RESERVE_SECONDS


class Invocation:
    """A Lambda context whose remaining time only the fake sleep spends."""

    def __init__(self, timeout_seconds):
        self.left = float(timeout_seconds)
        self.slept = []
        self.checks_at = []

    def get_remaining_time_in_millis(self):
        return int(self.left * 1000)

    def sleep(self, seconds):
        assert seconds > 0
        self.slept.append(seconds)
        self.left -= seconds

    def check(self, ready_after=None):
        def check():
            self.checks_at.append(self.left)
            return ready_after is not None and len(self.checks_at) > ready_after

        return check


@pytest.fixture
def invocation(monkeypatch):
    def make(timeout_seconds):
        made = Invocation(timeout_seconds)
        monkeypatch.setattr(polling, "sleep", made.sleep)
        return made

    return make


@pytest.mark.parametrize("interval", [1, 5, 60, 295, 296, 300])
@pytest.mark.parametrize("timeout", [300, 120, 30])
def test_poll_never_hands_back_without_waiting(invocation, interval, timeout):
    # Given a check that never succeeds, in an invocation of `timeout` seconds
    run = invocation(timeout)
    # When it polls
    assert polling.poll(run.check(), run, interval) is False
    # Then it waited at least one interval or all the time there was, kept the reserve, and checked last
    spent = sum(run.slept)
    assert spent >= min(interval, timeout - RESERVE_SECONDS)
    assert run.left >= RESERVE_SECONDS - 1e-9
    assert run.checks_at[-1] == run.left
    assert all(gap <= interval for gap in run.slept)


@pytest.mark.parametrize("interval", [60, 295, 296, 300])
def test_poll_with_less_than_an_interval_left_sleeps_what_is_left_and_checks_again(invocation, interval):
    # Given an invocation with 50 s left, less than one interval plus the reserve
    run = invocation(50)
    # When it polls a check that is not ready at first
    assert polling.poll(run.check(ready_after=1), run, interval) is True
    # Then it slept down to the reserve and the second check, at the end, saw it ready
    assert run.slept == [50 - RESERVE_SECONDS]
    assert run.checks_at == [50, RESERVE_SECONDS]


def test_poll_with_no_time_beyond_the_reserve_checks_once_and_hands_back(invocation):
    run = invocation(RESERVE_SECONDS)
    assert polling.poll(run.check(), run, 5) is False
    assert run.slept == []
    assert run.checks_at == [RESERVE_SECONDS]


def test_poll_keeps_the_interval_while_there_is_room(invocation):
    # Given a 300 s invocation and a 60 s interval, never ready
    run = invocation(300)
    assert polling.poll(run.check(), run, 60) is False
    # Then it checks every 60 s, then sleeps the last 55 s down to the reserve and checks once more
    assert run.slept == [60, 60, 60, 60, 55]
    assert len(run.checks_at) == 6


def test_poll_returns_true_at_once_without_sleeping(invocation):
    run = invocation(300)
    assert polling.poll(run.check(ready_after=0), run, 300) is True
    assert run.slept == []
