"""The invariants every simulated run is checked against can fail: a wait loop that comes round on the same
instant, an instance whose iteration outgrows the slicing bound, each seen through the history as moto writes
it (an iteration's start chained to the last event of the iteration before it); a group left with another MaxSize,
desired capacity or suspended processes than its owner and the scaling made it, or rebalanced during the run; a
hook document left Pending or InProgress on an instance at the end."""

import copy
import sys
from pathlib import Path

import pytest

from autopatch import runs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
from simulation_checks import assert_bounded_iterations, assert_invariants, iterations, simulate


def history(*iterations_states: list[tuple[str, int]]) -> list[dict]:
    """A Map with one iteration per list of (state entered, second), each iteration after the one before."""
    events = [{"id": 1, "previousEventId": 0, "type": "MapStateStarted", "timestamp": 0}]
    for states in iterations_states:
        events.append({"id": len(events) + 1, "previousEventId": len(events), "type": "MapIterationStarted"})
        events[-1]["timestamp"] = 0
        for name, second in states:
            events.append(
                {
                    "id": len(events) + 1,
                    "previousEventId": len(events),
                    "type": "TaskStateEntered",
                    "timestamp": second,
                    "stateEnteredEventDetails": {"name": name},
                }
            )
        events.append({"id": len(events) + 1, "previousEventId": len(events), "type": "MapIterationSucceeded"})
        events[-1]["timestamp"] = states[-1][1]
    events.append({"id": len(events) + 1, "previousEventId": len(events), "type": "MapStateSucceeded"})
    events[-1]["timestamp"] = 0
    return events


def test_each_iteration_keeps_its_own_events_and_the_map_end_is_outside_them():
    events = history([("Enter standby", 0), ("Wait until in standby", 5)], [("Enter standby", 9)])
    own = iterations(events)
    assert [len(e) for e in own.values()] == [4, 3]
    assert all(e["type"] != "MapStateSucceeded" for found in own.values() for e in found)


def test_a_wait_loop_that_comes_round_on_the_same_instant_is_caught():
    events = history([("Wait until in standby", 10), ("Is instance in standby?", 10), ("Wait until in standby", 10)])
    with pytest.raises(AssertionError, match="'Wait until in standby' entered again at 10 without time passing"):
        assert_bounded_iterations("run", events, runs.EVENTS_PER_INSTANCE)


def test_the_same_state_in_two_iterations_at_one_instant_is_not_a_loop():
    assert_bounded_iterations("run", history([("Enter standby", 0)], [("Enter standby", 0)]), runs.EVENTS_PER_INSTANCE)


def test_an_iteration_past_the_slicing_bound_is_caught():
    states = [("Wait until healthy", second) for second in range(runs.EVENTS_PER_INSTANCE)]
    with pytest.raises(AssertionError, match=r"history events in one iteration > 150"):
        assert_bounded_iterations("run", history(states), runs.EVENTS_PER_INSTANCE)


# --- the group settings at the end -----------------------------------------------------------------------------

SETTINGS_SCENARIO = {
    "groups": [{"name": "web", "instances": 2, "max_size": 3, "suspended_processes": ["ScheduledActions"]}],
    "input": {},
    "events": [{"at": 100, "group": "web", "do": "set_size", "max_size": 2}],
}


@pytest.fixture(scope="module")
def settings_report():
    """A run whose group's owner lowered MaxSize 3 to 2 while its first instance was out."""
    return simulate(SETTINGS_SCENARIO)


def hook_run(report: dict, status: str) -> dict:
    """A hook document run on the report's first instance, in this status at the end."""
    instance = report["instances"][0]
    return {
        "at": 10.0,
        "group": instance["group"],
        "instance_id": instance["instance_id"],
        "phase": "BeforeStandby",
        "kind": "document",
        "hook": "MyApp-Drain",
        "status": status,
        "seconds": None,
    }


@pytest.mark.simulation
@pytest.mark.parametrize(
    ("tamper", "caught"),
    [
        (lambda r: r["groups"][0].update(max_size=3), "web: MaxSize not the owner's"),  # the scenario's, not the last
        (lambda r: r["groups"][0].update(max_size=4), "web: MaxSize not the owner's"),  # the run's raise left
        (lambda r: r["groups"][0].update(suspended_processes=[]), "web: processes not the owner's"),
        (
            lambda r: r["groups"][0].update(suspended_processes=["AZRebalance", "ScheduledActions"]),
            "web: processes not the owner's",
        ),
        (
            lambda r: r["timeline"].append(
                {"t": 5, "group": "web", "instance": "", "text": "AZRebalance: unbalanced (a 2, b 0): launching first"}
            ),
            "Availability Zones rebalanced during the run",
        ),
        (lambda r: r["groups"][0].update(desired=3), "web: desired capacity not restored"),
        (lambda r: r["hook_invocations"].append(hook_run(r, "InProgress")), "a hook left running at the end"),
        (lambda r: r["hook_invocations"].append(hook_run(r, "Pending")), "a hook left running at the end"),
    ],
)
def test_a_group_left_with_another_max_size_or_processes_than_its_owners_is_caught(settings_report, tamper, caught):
    assert settings_report["groups"][0]["max_size"] == 2
    report = copy.deepcopy(settings_report)
    tamper(report)
    with pytest.raises(AssertionError, match=caught):
        assert_invariants(SETTINGS_SCENARIO, report)
