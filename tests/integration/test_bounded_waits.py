"""Every wait is bounded and sleeps, for every PollIntervalSeconds the input accepts: with an interval as long
as the functions' 300 s timeout, the standby and health waits still let time pass in every invocation, so the
Choice loops cannot come round on the same instant, and each instance's history stays within the bound the
slicing assumes (runs.EVENTS_PER_INSTANCE)."""

import time

import pytest
from simulation_checks import iterations, simulate

from autopatch import polling, runs

pytestmark = pytest.mark.simulation

INSTANCES = 3


@pytest.fixture
def waits(monkeypatch):
    """Every poll the handlers make, as (virtual seconds it took, its result); a poll that hands back "not yet"
    on the instant it was called fails the test at once, instead of letting the run spin on a frozen clock."""
    made = []
    poll = polling.poll

    def timed(check, context, interval):
        started = time.time()
        result = poll(check, context, interval)
        made.append((time.time() - started, result))
        if not result and time.time() == started:
            pytest.fail(f"a poll every {interval} s handed back without time passing")
        return result

    monkeypatch.setattr(polling, "poll", timed)
    return made


def slow_group():
    # deregistration and warm-up long enough that the standby and health waits each need several polls
    return {
        "name": "web",
        "instances": INSTANCES,
        "min_size": 1,
        "max_size": 6,
        "patch_seconds": 300,
        "deregistration_delay": 700,
        "warmup_seconds": 1000,
    }


@pytest.mark.parametrize("interval", [300, 298])
def test_a_poll_interval_as_long_as_the_function_timeout_still_waits_and_patches_every_instance(waits, interval):
    scenario = {
        "groups": [slow_group()],
        "input": {"PollIntervalSeconds": interval, "StandbyTimeoutSeconds": 1800, "HealthTimeoutSeconds": 1800},
    }

    report = simulate(scenario)

    assert report["status"] == "SUCCEEDED"
    assert [i["result"] for i in report["instances"]] == ["Completed"] * INSTANCES
    # the waits needed several polls, and each that said "not yet" had spent its invocation but the reserve
    not_yet = [seconds for seconds, result in waits if not result]
    assert len(not_yet) >= 2 * INSTANCES
    assert min(not_yet) >= 300 - polling.RESERVE_SECONDS - 1  # a second for the handler before it polls
    events = sum(e["history_events"] for e in report["executions"])
    assert events <= INSTANCES * runs.EVENTS_PER_INSTANCE, f"{events} history events for {INSTANCES} instances"


def test_the_longest_waits_the_input_accepts_fit_the_share_of_the_execution_they_are_given():
    # Given the longest Standby and health timeouts, an ALB's longest deregistration delay, and an instance that
    # never turns healthy after its patch: it waits for Standby, then twice for health (after the patch, then
    # returned as failed), each wait calling its function once per 295 s
    settings = {"StandbyTimeoutSeconds": 7200, "HealthTimeoutSeconds": 7200, "PollIntervalSeconds": 60}
    last = str(INSTANCES - 1)
    group = {**slow_group(), "deregistration_delay": 3600, "faults": {last: "unhealthy_after_patch"}}
    scenario = {"groups": [group], "input": settings}

    report = simulate(scenario)

    # Then the others are patched and the sick one fails
    assert [i["result"] for i in report["instances"]] == ["Completed"] * (INSTANCES - 1) + ["Failed"]
    # and its iteration wrote more events than the default bound, within the bound its slice was sized for
    [history] = report["histories"].values()
    sick = max(len(events) for events in iterations(history).values())
    assert runs.EVENTS_PER_INSTANCE < sick <= runs.events_per_instance(7200, 7200)
