"""plan_slice: the instances of one execution of a run.
Against a moto account; conftest.py says how and holds the shared fixtures."""

from types import SimpleNamespace

import pytest

import autopatch.runs
from autopatch import NEWCOMER_PASSES
from autopatch.runs import NO_HOOKS
from tests.handlers.helpers import (
    RUN_ID,
    fleet_event,
    gate_event,
    mark_failed,
    mutating,
    runs_own_standby,
    saved_plan,
    set_group_tag,
    twice,
)


def slice_event(offset, max_errors=0, bake=False, standby_timeout=900, health_timeout=600):
    return {
        "RunId": RUN_ID,
        "Offset": offset,
        "MaxErrors": max_errors,
        "BakeAmi": bake,
        "StandbyTimeoutSeconds": standby_timeout,
        "HealthTimeoutSeconds": health_timeout,
    }


@pytest.fixture
def planned(aws, fleet, fleet_builder, ledger, report_bucket, unimplemented, load_handler, lambda_context):
    """A run's plan kept by check_fleet: "web" (3 instances) then "api" (2)."""
    api = fleet_builder.group("api", size=2)
    load_handler("check_fleet").lambda_handler(fleet_event("web", "api"), lambda_context)
    plan = saved_plan(aws, report_bucket)
    return SimpleNamespace(web=plan["Groups"][0]["Instances"], api=plan["Groups"][1]["Instances"], api_fleet=api)


def test_plan_slice_takes_every_instance_when_the_run_fits_one_execution(
    aws, planned, ledger, load_handler, lambda_context, api_calls
):
    # Given a plan of 5 instances, far below one execution's budget
    app = load_handler("plan_slice")
    api_calls.clear()
    # When the first slice is taken, twice
    first, second = twice(app, slice_event(0), lambda_context)
    # Then it holds every instance of both groups in plan order, and there is no next slice
    assert first == second
    assert first == {
        "Groups": [
            {"GroupName": "web", "Instances": planned.web, "BakeFrom": None, "Last": True, "Hooks": NO_HOOKS},
            {"GroupName": "api", "Instances": planned.api, "BakeFrom": None, "Last": True, "Hooks": NO_HOOKS},
        ],
        "Pass": 0,
        "NextOffset": None,
    }
    assert mutating(api_calls) == []


def test_plan_slice_cuts_a_large_run_into_slices_that_cover_every_instance_once(
    aws, planned, ledger, load_handler, lambda_context, monkeypatch
):
    # Given an execution budget of 300 history events (2 instances, or 1 per group when 2 groups remain)
    monkeypatch.setattr(autopatch.runs, "EVENT_BUDGET", 300)
    app = load_handler("plan_slice")
    # When the slices are taken one after the other, as the executions of the run would
    slices, offset = [], 0
    while offset is not None:
        taken = app.lambda_handler(slice_event(offset), lambda_context)
        slices.append(taken["Groups"])
        offset = taken["NextOffset"]
    # Then each slice takes the next instances of every group still to patch, and together they cover the plan;
    # Last marks the slice where a group's pass ends (KeepCapacity gives its added instance back there)
    assert slices == [
        [
            {"GroupName": "web", "Instances": planned.web[0:1], "BakeFrom": None, "Last": False, "Hooks": NO_HOOKS},
            {"GroupName": "api", "Instances": planned.api[0:1], "BakeFrom": None, "Last": False, "Hooks": NO_HOOKS},
        ],
        [
            {"GroupName": "web", "Instances": planned.web[1:2], "BakeFrom": None, "Last": False, "Hooks": NO_HOOKS},
            {"GroupName": "api", "Instances": planned.api[1:2], "BakeFrom": None, "Last": True, "Hooks": NO_HOOKS},
        ],
        [{"GroupName": "web", "Instances": planned.web[2:3], "BakeFrom": None, "Last": True, "Hooks": NO_HOOKS}],
    ]


@pytest.mark.parametrize(
    ("standby", "health", "per_instance"),
    [
        (900, 600, 150),  # the defaults: 4 calls for Standby, 3 for the gate's wait and for each health wait
        (30, 30, 150),  # shorter waits never lower the bound
        (1200, 600, 157),  # one more call for Standby
        (900, 900, 171),  # one more call for the gate's wait and for each of the two health waits
        (7200, 7200, 759),  # the longest the input accepts: 25 calls for each of the four waits
    ],
)
def test_plan_slice_gives_longer_waits_a_larger_share_of_the_execution(
    aws, planned, ledger, load_handler, lambda_context, monkeypatch, standby, health, per_instance
):
    # Given a budget of just under three instances per group (of two groups) at the bound these timeouts allow
    monkeypatch.setattr(autopatch.runs, "EVENT_BUDGET", 2 * (3 * per_instance - 1))
    assert autopatch.runs.events_per_instance(standby, health) == per_instance
    app = load_handler("plan_slice")
    # When the first slice is taken with those timeouts, and with the defaults
    longer = app.lambda_handler(slice_event(0, standby_timeout=standby, health_timeout=health), lambda_context)
    default = app.lambda_handler(slice_event(0), lambda_context)
    # Then it takes two instances of each group, fewer than the defaults would when the waits are longer
    # ("web" has 3 instances, "api" 2)
    assert [len(g["Instances"]) for g in longer["Groups"]] == [2, 2]
    assert [len(g["Instances"]) for g in default["Groups"]] == ([2, 2] if per_instance == 150 else [3, 2])


def test_plan_slice_with_bake_ami_names_each_group_last_instance_in_the_slice_that_holds_it(
    aws, planned, ledger, load_handler, lambda_context, monkeypatch
):
    # Given a budget of two instances per group once a bake's events are set aside (BakeAmi)
    monkeypatch.setattr(
        autopatch.runs, "EVENT_BUDGET", 2 * (2 * autopatch.runs.EVENTS_PER_INSTANCE + autopatch.runs.BAKE_EVENTS)
    )
    app = load_handler("plan_slice")
    # When the slices are taken
    first = app.lambda_handler(slice_event(0, bake=True), lambda_context)
    second = app.lambda_handler(slice_event(first["NextOffset"], bake=True), lambda_context)
    # Then a group's last instance is named only in the slice that holds it: "api" (2) in the first, "web" (3) later
    assert first["Groups"] == [
        {"GroupName": "web", "Instances": planned.web[0:2], "BakeFrom": None, "Last": False, "Hooks": NO_HOOKS},
        {"GroupName": "api", "Instances": planned.api, "BakeFrom": planned.api[-1], "Last": True, "Hooks": NO_HOOKS},
    ]
    assert second == {
        "Groups": [
            {
                "GroupName": "web",
                "Instances": planned.web[2:3],
                "BakeFrom": planned.web[-1],
                "Last": True,
                "Hooks": NO_HOOKS,
            }
        ],
        "Pass": 0,
        "NextOffset": None,
    }


@pytest.mark.parametrize("why", ["run stopped", "error budget spent"])
def test_plan_slice_takes_nothing_once_the_run_has_stopped(
    aws, planned, ledger, held, alert_topic, load_handler, lambda_context, why
):
    # Given a run stopped by its gate (an instance of "web" the run left in Standby), or one failure and MaxErrors 0
    if why == "run stopped":
        runs_own_standby(load_handler, lambda_context, planned.web[1])
        gate = load_handler("check_safe_to_continue").lambda_handler(gate_event(planned.web[0]), lambda_context)
        assert gate["Proceed"] is False
    else:
        mark_failed(load_handler, lambda_context, planned.web[0])
    app = load_handler("plan_slice")
    # When the next slice is taken, twice
    results = twice(app, slice_event(1), lambda_context)
    # Then it is empty and there is no next one: the summary reports the rest as NotStarted
    assert results == [{"Groups": [], "Pass": 0, "NextOffset": None}] * 2


def scale_out(aws, name, count):
    """moto launches the new instances at once, InService."""
    asg = aws.client("autoscaling")
    before = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=before["DesiredCapacity"] + count)
    after = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    known = {i["InstanceId"] for i in before["Instances"]}
    return [i["InstanceId"] for i in after["Instances"] if i["InstanceId"] not in known]


def newcomers_event(after_pass, max_errors=0):
    return {**slice_event(0, max_errors), "Pass": after_pass, "FindNewcomers": True}


@pytest.mark.parametrize("count", [1, 3])
def test_plan_slice_makes_the_instances_that_joined_a_group_the_next_pass(
    aws, planned, ledger, load_handler, lambda_context, api_calls, count
):
    # Given the plan patched, and "web" scaled out by `count` meanwhile ("api" unchanged)
    joined = scale_out(aws, "web", count)
    app = load_handler("plan_slice")
    api_calls.clear()
    # When the newcomers are looked for after pass 0, twice, and the next pass's slice is taken
    found, again = twice(app, newcomers_event(0), lambda_context)
    taken = app.lambda_handler({**slice_event(0), "Pass": 1}, lambda_context)
    # Then pass 1 holds web's newcomers only, from its start, never baked from; nothing in the fleet changed
    assert found == again == {"Pass": 1, "NextOffset": 0}
    assert taken == {
        "Groups": [{"GroupName": "web", "Instances": joined, "BakeFrom": None, "Last": True, "Hooks": NO_HOOKS}],
        "Pass": 1,
        "NextOffset": None,
    }
    assert mutating(api_calls) == ["PutObject", "PutObject"]
    # and once pass 1 ends with nobody new, the run has nothing more to patch
    assert app.lambda_handler(newcomers_event(1), lambda_context) == {"Pass": None, "NextOffset": None}


def test_plan_slice_looks_for_newcomers_at_most_newcomer_passes_times(
    aws, planned, ledger, load_handler, lambda_context
):
    # Given a group that scales out again during every pass
    app = load_handler("plan_slice")
    found = []
    for after in range(NEWCOMER_PASSES + 1):
        scale_out(aws, "api", 1)
        # When the newcomers are looked for after each pass
        found.append(app.lambda_handler(newcomers_event(after), lambda_context))
    # Then the run makes NEWCOMER_PASSES passes, and none after the last
    assert found == [{"Pass": n, "NextOffset": 0} for n in range(1, NEWCOMER_PASSES + 1)] + [
        {"Pass": None, "NextOffset": None}
    ]


@pytest.mark.parametrize("why", ["group paused", "run stopped"])
def test_plan_slice_leaves_the_newcomers_of_a_stopped_group_or_run_alone(
    aws, planned, ledger, alert_topic, load_handler, lambda_context, held, why
):
    # Given both groups scaled out, and "web" paused by its owner (the gate stopped it), or the run stopped
    scale_out(aws, "web", 1)
    api_newcomers = scale_out(aws, "api", 1)
    if why == "group paused":
        set_group_tag(aws, "web", "AutoPatch", "paused")
    else:
        runs_own_standby(load_handler, lambda_context, planned.web[1])
    gate = load_handler("check_safe_to_continue").lambda_handler(gate_event(planned.web[0]), lambda_context)
    assert gate["Proceed"] is False
    app = load_handler("plan_slice")
    # When the newcomers are looked for
    found = app.lambda_handler(newcomers_event(0), lambda_context)
    # Then a paused group's are left out, and a stopped run takes none
    if why == "group paused":
        assert found == {"Pass": 1, "NextOffset": 0}
        taken = app.lambda_handler({**slice_event(0), "Pass": 1}, lambda_context)
        assert taken["Groups"] == [
            {"GroupName": "api", "Instances": api_newcomers, "BakeFrom": None, "Last": True, "Hooks": NO_HOOKS}
        ]
    else:
        assert found == {"Groups": [], "Pass": 0, "NextOffset": None}
