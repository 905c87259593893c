"""check_standby, which polls inside one invocation until the instance is in Standby.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import pytest

from autopatch.errors import StandbyTimedOut
from autopatch.polling import RESERVE_SECONDS
from tests.handlers.helpers import copy_of, mutating, standby, wait_event

# the ledger says whether a run drained the instance's ECS container instance
pytestmark = pytest.mark.usefixtures("ledger")


def test_check_standby_is_true_at_once_when_the_instance_is_in_standby(
    aws, fleet, clock, load_handler, make_lambda_context, api_calls
):
    # Given an instance in Standby
    instance = fleet.instance_ids[0]
    standby(aws, "web", instance)
    app = load_handler("check_standby")
    # When it is checked, twice, even after its deadline
    results = [app.lambda_handler(wait_event(instance, 0), make_lambda_context()) for _ in range(2)]
    # Then it is in standby without waiting, and checking changed nothing
    assert results == [{"InStandby": True}, {"InStandby": True}]
    assert clock.slept == []
    assert mutating(api_calls) == []


def test_check_standby_polls_until_the_instance_reaches_standby(aws, fleet, clock, load_handler, make_lambda_context):
    # Given an instance that reaches Standby ten seconds from now
    instance = fleet.instance_ids[0]
    clock.at(10, lambda: standby(aws, "web", instance))
    app = load_handler("check_standby")
    # When it is checked, polling every 5 seconds within a 5-minute invocation
    result = app.lambda_handler(wait_event(instance, clock.now + 900), make_lambda_context(300))
    # Then the one invocation waited for it
    assert result == {"InStandby": True}
    assert clock.slept == [5, 5]


def test_check_standby_hands_back_to_the_state_machine_before_the_invocation_runs_out(
    aws, fleet, clock, load_handler, make_lambda_context
):
    # Given an instance still InService, far from its deadline, and invocations of 12 seconds
    app = load_handler("check_standby")
    event = wait_event(fleet.instance_ids[0], clock.now + 900)
    # When it is checked, twice (a new invocation each time)
    results = [app.lambda_handler(copy_of(event), make_lambda_context(12)) for _ in range(2)]
    # Then each invocation polls while a poll and 5 s reserve still fit (12 s: once more), sleeps what is left
    # down to the reserve, checks a last time, then says "not yet"
    assert results == [{"InStandby": False}, {"InStandby": False}]
    assert clock.slept == [5, 2, 5, 2]


def test_check_standby_times_out_once_the_deadline_passes_while_polling(
    aws, fleet, clock, load_handler, make_lambda_context
):
    # Given an instance that stays InService, and a deadline 7 seconds away
    instance = fleet.instance_ids[0]
    app = load_handler("check_standby")
    # When it is checked
    with pytest.raises(StandbyTimedOut) as caught:
        app.lambda_handler(wait_event(instance, clock.now + 7), make_lambda_context(300))
    # Then the wait ends with StandbyTimedOut at the first poll past the deadline, naming instance and state
    assert clock.slept == [5, 5]
    assert str(caught.value) == f"Instance {instance} was still InService when its standby wait ran out."


def test_check_standby_past_its_deadline_times_out_at_once(aws, fleet, clock, load_handler, make_lambda_context):
    # Given an instance still InService, and a deadline a second ago
    app = load_handler("check_standby")
    event = wait_event(fleet.instance_ids[0], clock.now - 1)
    # When it is checked, twice
    for _ in range(2):
        with pytest.raises(StandbyTimedOut):
            app.lambda_handler(copy_of(event), make_lambda_context())
    # Then it timed out without waiting
    assert clock.slept == []


@pytest.mark.parametrize("interval", [300, 298, 296])
def test_check_standby_waits_even_when_the_interval_leaves_no_room_in_the_function_timeout(
    aws, fleet, clock, load_handler, make_lambda_context, interval
):
    # Given an instance still InService, a poll interval of up to 300 s and the function's 300 s timeout
    app = load_handler("check_standby")
    event = wait_event(fleet.instance_ids[0], clock.now + 3600, interval=interval)
    # When it is checked
    result = app.lambda_handler(copy_of(event), make_lambda_context(300))
    # Then the invocation waited all its time but the reserve before saying "not yet": the state machine's
    # loop cannot come round on the same instant
    assert result == {"InStandby": False}
    assert clock.slept == [300 - RESERVE_SECONDS]
