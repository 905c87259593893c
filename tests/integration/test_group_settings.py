"""What a run changes on a group, and gives back (issue 13, points 4 and 5): MaxSize raised when the group reached
it while an instance was out (ExitStandby would be refused), AZRebalance suspended while an instance is out. At
the end MaxSize is the owner's and AZRebalance as the owner left it, whether the run succeeds, fails, is stopped by
hand or dies; simulate's invariants check it too (simulation_checks: the owner's MaxSize and processes)."""

import pytest
from simulation_checks import cleanup_alerts, simulate

pytestmark = pytest.mark.simulation

# The default group's timeline: instance 0 out of service from 0 to about 404 (EnterStandby at 0, ExitStandby at
# about 334, healthy about 404), instance 1 from about 404 to 808, and so on.
WHILE_FIRST_OUT, WHILE_SECOND_OUT = 100, 500


def group(name="web", instances=4, max_size=4, **extra):
    return {"name": name, "instances": instances, "min_size": 1, "max_size": max_size, "patch_seconds": 300, **extra}


def max_size_updates(report, name="web"):
    return [
        c["params"]["MaxSize"]
        for c in report["api_calls"]
        if c["operation"] == "UpdateAutoScalingGroup"
        and c["params"]["AutoScalingGroupName"] == name
        and "MaxSize" in c["params"]
    ]


def planned(report, name="web"):
    return [i for i in report["instances"] if i["group"] == name and not i["launched_during_run"]]


def in_standby(report):
    return [i["instance_id"] for i in report["instances"] if i["lifecycle_state"] in ("EnteringStandby", "Standby")]


@pytest.mark.parametrize(
    ("moment", "event", "owner_max", "raised"),
    [
        (WHILE_FIRST_OUT, {"do": "scale_out", "count": 1}, 4, 5),  # a scaling policy takes the group to MaxSize
        (WHILE_SECOND_OUT, {"do": "scale_out", "count": 3}, 4, 5),  # and stops there
        (WHILE_FIRST_OUT, {"do": "set_size", "max_size": 3}, 3, 4),  # the owner lowers MaxSize to the capacity
        (WHILE_SECOND_OUT, {"do": "set_size", "max_size": 2}, 2, 3),  # and below it: desired 3 -> 2, one terminated
    ],
    ids=["scale-out-first-out", "scale-out-second-out", "max-size-lowered-first-out", "max-size-lowered-below"],
)
def test_an_instance_comes_back_when_the_group_reached_max_size_while_it_was_out(moment, event, owner_max, raised):
    # Given a run over four instances, no error allowed, and the group reaching MaxSize while one is out
    scenario = {
        "groups": [group()],
        "input": {"MaxErrors": 0},
        "events": [{"at": moment, "group": "web", **event}],
    }

    # When the run is simulated
    report = simulate(scenario)

    # Then the run succeeds: every planned instance patched, none left in Standby
    assert report["status"] == "SUCCEEDED"
    assert {i["result"] for i in planned(report)} == {"Completed"}
    assert in_standby(report) == []
    assert report["notifications"] == []
    # MaxSize was raised as far as returning each instance needed, and put back to the owner's every time: once the
    # next instance is in standby (the desired capacity fits under it again) and when the run lets go of the group
    updates = max_size_updates(report)
    assert (
        updates
        and updates[::2] == [raised] * (len(updates) // 2)
        and updates[1::2] == [owner_max] * (len(updates) // 2)
    )
    # and at the end MaxSize is the owner's, the desired capacity back under it: Auto Scaling terminated one
    # instance (termination policy) when the run gave MaxSize back
    (web,) = report["groups"]
    assert (web["max_size"], web["desired"]) == (owner_max, owner_max)
    restored_at = max(c["t"] for c in report["api_calls"] if c["operation"] == "UpdateAutoScalingGroup")
    assert any(e["t"] >= restored_at and e["text"].startswith("Terminating (scale in") for e in report["timeline"])


def test_max_size_is_not_raised_while_there_is_room():
    # Given a group with room for one more (4 instances, MaxSize 5) that scales out by one while instance 0 is out
    scenario = {
        "groups": [group(max_size=5)],
        "input": {},
        "events": [{"at": WHILE_FIRST_OUT, "group": "web", "do": "scale_out", "count": 1}],
    }

    report = simulate(scenario)

    # Then every instance comes back without MaxSize being touched
    assert report["status"] == "SUCCEEDED"
    assert max_size_updates(report) == []
    assert report["groups"][0]["max_size"] == 5


def test_an_owner_who_changes_max_size_while_it_is_raised_keeps_theirs():
    # Given a group at MaxSize 4 whose scale-out while instance 0 is out makes the run raise MaxSize to 5, and whose
    # owner sets MaxSize 6 while instance 0 is still Pending/health-waiting after it returned (at 350)
    scenario = {
        "groups": [group()],
        "input": {},
        "events": [
            {"at": WHILE_FIRST_OUT, "group": "web", "do": "scale_out", "count": 1},
            {"at": 350, "group": "web", "do": "set_size", "max_size": 6},
        ],
    }

    report = simulate(scenario)

    # Then the owner's MaxSize 6 stands: the run never puts back its own 4 over it, and needs no room after
    assert report["status"] == "SUCCEEDED"
    assert max_size_updates(report) == [5]
    (web,) = report["groups"]
    assert (web["max_size"], web["desired"]) == (6, 5)


@pytest.mark.parametrize(
    ("faults", "max_errors", "status"),
    [
        ({"0": ["patch_failed"]}, 0, "FAILED"),
        ({"0": ["unhealthy_after_patch"]}, 0, "FAILED"),
        ({"1": ["patch_failed"]}, 1, "SUCCEEDED"),
    ],
    ids=["patch-failed-stops-the-run", "unhealthy-stops-the-run", "patch-failed-within-max-errors"],
)
def test_after_a_failure_max_size_and_az_rebalance_are_given_back(faults, max_errors, status):
    # Given a failing instance in a group that reaches MaxSize while instance 0 is out
    scenario = {
        "groups": [group(faults=faults)],
        "input": {"MaxErrors": max_errors},
        "events": [{"at": WHILE_FIRST_OUT, "group": "web", "do": "scale_out", "count": 1}],
    }

    report = simulate(scenario)

    # Then the failed instance was returned to service all the same, and at the end MaxSize is the owner's and
    # AZRebalance resumed
    assert report["status"] == status
    assert in_standby(report) == []
    (web,) = report["groups"]
    assert (web["max_size"], web["suspended_processes"]) == (4, [])
    calls = [c["operation"] for c in report["api_calls"] if c["operation"].endswith("Processes")]
    assert calls and calls.count("SuspendProcesses") == calls.count("ResumeProcesses")
    assert max_size_updates(report)[-1] == 4


@pytest.mark.parametrize("moment", [200, 360], ids=["in-standby", "during-the-health-wait"])
def test_a_stop_by_hand_is_cleaned_up_with_max_size_and_az_rebalance_given_back(moment):
    # Given a group at MaxSize 4 that scales out while instance 0 is out (at 100), and the run stopped by hand
    # while the instance is in Standby, or after it returned with MaxSize raised
    scenario = {
        "groups": [group()],
        "input": {},
        "events": [{"at": WHILE_FIRST_OUT, "group": "web", "do": "scale_out", "count": 1}],
        "stop_at": moment,
    }

    report = simulate(scenario)

    # Then the clean-up returned the instance (making room for it), and gave back MaxSize and AZRebalance
    assert report["status"] == "ABORTED"
    assert in_standby(report) == []
    (web,) = report["groups"]
    assert (web["max_size"], web["desired"], web["suspended_processes"]) == (4, 4, [])
    (alert,) = cleanup_alerts(report)
    assert "group web: MaxSize restored to 4." in alert["message"]
    assert "group web: AZRebalance resumed." in alert["message"]


@pytest.mark.parametrize("owners", [[], ["ScheduledActions"]], ids=["owner-suspended-nothing", "owner-suspended-one"])
def test_a_dead_runs_max_size_and_az_rebalance_are_given_back_by_the_next_run(owners):
    # Given a group a run that died left with an instance in Standby, MaxSize raised (4 -> 5) and AZRebalance
    # suspended, and that scaled out to 4 since (one more launched); its owner may have suspended another process
    scenario = {
        "groups": [
            group(
                faults={"1": "stale_standby"},
                dead_run_raised_max_size=True,
                dead_run_suspended_az_rebalance=True,
                suspended_processes=owners,
            )
        ],
        "input": {},
        "events": [{"at": 0, "group": "web", "do": "scale_out", "count": 1}],
    }

    report = simulate(scenario)

    # Then the next run returned the instance (making room again, as its own), and at the end MaxSize is the
    # owner's, AZRebalance resumed (the owner's own suspension left), nothing in Standby
    assert report["status"] == "SUCCEEDED"
    assert in_standby(report) == []
    (web,) = report["groups"]
    assert (web["max_size"], web["suspended_processes"]) == (4, owners)
    assert max_size_updates(report)[0] == 4  # the dead run's raise given back first


def test_with_group_concurrency_each_group_gets_back_its_own_settings():
    # Given two groups patched at once: web reaches MaxSize while its first instance is out, api's owner suspended
    # AZRebalance (and api has room)
    scenario = {
        "groups": [group("web"), group("api", instances=3, max_size=6, suspended_processes=["AZRebalance"])],
        "input": {"GroupConcurrency": 2},
        "events": [{"at": WHILE_FIRST_OUT, "group": "web", "do": "scale_out", "count": 1}],
    }

    report = simulate(scenario)

    # Then both succeed; only web's MaxSize was raised, only web's AZRebalance suspended (and resumed); api's stays
    # its owner's
    assert report["status"] == "SUCCEEDED"
    web, api = report["groups"]
    assert (web["max_size"], web["suspended_processes"]) == (4, [])
    assert (api["max_size"], api["suspended_processes"]) == (6, ["AZRebalance"])
    assert max_size_updates(report, "api") == []
    suspending = {
        c["params"]["AutoScalingGroupName"] for c in report["api_calls"] if c["operation"] == "SuspendProcesses"
    }
    assert suspending == {"web"}
    assert {i["result"] for i in planned(report, "web") + planned(report, "api")} == {"Completed"}


def test_with_lower_min_size_at_min_and_max_size_at_once():
    # Given a group at both its MinSize and MaxSize (4, 4, 4), patched with LowerMinSize, and a person who sets the
    # desired capacity back to 4 while instance 0 is out
    scenario = {
        "groups": [group(min_size=4)],
        "input": {"LowerMinSize": True},
        "events": [{"at": WHILE_FIRST_OUT, "group": "web", "do": "set_size", "desired": 4}],
    }

    report = simulate(scenario)

    # Then every instance is patched, and MinSize and MaxSize end as the owner's
    assert report["status"] == "SUCCEEDED"
    assert {i["result"] for i in planned(report)} == {"Completed"}
    (web,) = report["groups"]
    assert (web["min_size"], web["max_size"], web["desired"], web["suspended_processes"]) == (4, 4, 4, [])
    assert 5 in max_size_updates(report)
