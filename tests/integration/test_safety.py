"""Never strand an instance, never drop below safe capacity: preflight, gates, locks, recovery, AWS errors.
Every scenario also passes the invariants of simulation_checks (nothing left out of service, capacity
restored, touched instances tagged Completed or Failed, one alert per failure, nothing touched past the stop)."""

import json

import pytest
from simulation_checks import calls_on, fleet_calls, run_alerts, simulate

from autopatch import VERSION
from simulator.engine import dead_run_execution_arn

pytestmark = pytest.mark.simulation


def group(name="web", instances=3, **extra):
    return {"name": name, "instances": instances, "min_size": 1, "max_size": 6, "patch_seconds": 300, **extra}


def cause(report):
    return json.loads(report["cause"])


# preflight -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (group(instances=1), "fewer than two InService instances (1)"),
        (group(instances=2, min_size=2), "desired capacity 2 minus one is below MinSize 2"),
        (group(faults={"1": "unhealthy_before"}), "is unhealthy in target group web-tg"),
        (group(instance_refresh=True), "instance refresh 11111111-2222-3333-4444-555555555555 is InProgress"),
        (group(suspended_processes=["Launch"]), "suspended processes: Launch"),
        (group(suspended_processes=["Terminate", "AZRebalance"]), "suspended processes: Terminate"),
        (group(faults={"2": "agent_offline"}), "SSM agent ConnectionLost"),
    ],
    ids=[
        "one-instance",
        "at-min-size",
        "unhealthy",
        "instance-refresh",
        "launch-suspended",
        "terminate-suspended",
        "agent-offline",
    ],
)
def test_preflight_refuses_before_touching_anything(spec, problem):
    report = simulate({"groups": [spec], "input": {}})

    assert report["status"] == "FAILED"
    assert report["error"] == "PreflightFailed"
    message = cause(report)["errorMessage"]
    assert "group web: " in message and problem in message
    assert fleet_calls(report) == []
    assert run_alerts(report) == []


def test_preflight_lists_every_problem_of_every_group_in_one_message():
    scenario = {
        "groups": [group("web", instances=2, min_size=2, faults={"0": "agent_offline"}), group("api", instances=1)],
        "input": {},
    }

    report = simulate(scenario)

    message = cause(report)["errorMessage"]
    assert "group web: desired capacity 2 minus one is below MinSize 2" in message
    assert "SSM agent ConnectionLost" in message
    assert "group api: fewer than two InService instances (1)" in message
    assert fleet_calls(report) == []


def test_lower_min_size_lowers_it_while_each_instance_is_out_and_restores_it():
    scenario = {"groups": [group(instances=2, min_size=2)], "input": {"LowerMinSize": True}}

    report = simulate(scenario)

    assert report["status"] == "SUCCEEDED"
    sizes = [c["params"]["MinSize"] for c in report["api_calls"] if c["operation"] == "UpdateAutoScalingGroup"]
    assert sizes == [1, 2, 1, 2]  # lowered and restored around each instance
    assert report["groups"][0]["min_size"] == 2


def test_lower_min_size_is_restored_when_the_patch_fails():
    scenario = {
        "groups": [group(instances=2, min_size=2, faults={"0": "patch_failed"})],
        "input": {"LowerMinSize": True},
    }

    report = simulate(scenario)

    assert report["status"] == "FAILED"
    assert report["groups"][0]["min_size"] == 2
    assert [c["params"]["MinSize"] for c in report["api_calls"] if c["operation"] == "UpdateAutoScalingGroup"] == [1, 2]


def test_a_later_run_restores_the_min_size_a_dead_run_lowered():
    # Given a group whose MinSize 2 a run that died had lowered to 1
    scenario = {"groups": [group(instances=3, min_size=2, dead_run_lowered_min_size=True)], "input": {}}

    report = simulate(scenario)

    # Then the next run puts MinSize back before it takes any instance out
    assert report["status"] == "SUCCEEDED"
    restore = [c for c in report["api_calls"] if c["operation"] == "UpdateAutoScalingGroup"]
    assert [c["params"]["MinSize"] for c in restore] == [2]
    assert restore[0]["t"] <= min(c["t"] for c in report["api_calls"] if c["operation"] == "EnterStandby")
    assert report["groups"][0]["min_size"] == 2


def test_offline_instances_can_be_skipped_instead_of_refused():
    scenario = {"groups": [group(faults={"1": "agent_offline"})], "input": {"OfflineInstances": "skip"}}

    report = simulate(scenario)

    assert report["status"] == "SUCCEEDED"
    skipped = report["instances"][1]
    assert skipped["result"] == "Skipped"
    assert calls_on(report, skipped["instance_id"]) == []
    assert [i["result"] for i in report["instances"]] == ["Completed", "Skipped", "Completed"]


def test_dry_run_checks_prints_the_plan_and_changes_nothing():
    scenario = {"groups": [group("web"), group("api", 2)], "input": {"DryRun": True}}

    report = simulate(scenario)

    assert report["status"] == "SUCCEEDED"
    assert report["api_calls"] == []  # not even the ledger
    plan = report["output"]["Plan"]["Groups"]
    assert [(g["GroupName"], len(g["Instances"])) for g in plan] == [("api", 2), ("web", 3)]
    assert report["output"]["DryRun"] is True
    assert report["output"]["Version"] == VERSION  # the version that would run it, as a run's summary says


def test_dry_run_still_refuses_an_unsafe_fleet():
    report = simulate({"groups": [group(instances=1)], "input": {"DryRun": True}})

    assert report["error"] == "PreflightFailed"
    assert report["api_calls"] == []


# gates between instances ---------------------------------------------------------------------------
def test_an_alarm_in_alarm_stops_the_run_before_the_next_instance_with_one_alert():
    scenario = {"groups": [group(alarm="web-5xx", faults={"0": "alarm_after_patch"})], "input": {}}

    report = simulate(scenario)

    assert report["status"] == "FAILED"
    assert report["error"] == "RunStopped"
    assert [i["result"] for i in report["instances"]] == ["Completed", "NotStarted", "NotStarted"]
    (alert,) = run_alerts(report)
    assert alert["subject"].startswith("Patching stopped")
    assert "alarm web-5xx is in ALARM" in alert["message"]
    assert "alarm web-5xx is in ALARM" in cause(report)["Message"]


def test_alarm_names_in_the_input_are_watched_too():
    scenario = {
        "groups": [group("web", alarm="web-5xx", faults={"0": "alarm_after_patch"}), group("api")],
        "input": {"AutoScalingGroupNames": ["api", "web"], "AlarmNames": ["web-5xx"]},
    }

    report = simulate(scenario)

    # api is patched first (its own alarm tag names nothing); web's alarm fires after web's first instance
    assert report["error"] == "RunStopped"
    results = {(i["group"], i["index"]): i["result"] for i in report["instances"]}
    assert [results[("api", n)] for n in range(3)] == ["Completed"] * 3
    assert [results[("web", n)] for n in range(3)] == ["Completed", "NotStarted", "NotStarted"]


def test_pausing_a_group_during_the_run_stops_it_after_the_current_instance():
    scenario = {
        "groups": [group("web", faults={"0": "paused_after_patch"}), group("api")],
        "input": {"AutoScalingGroupNames": ["web", "api"]},
    }

    report = simulate(scenario)

    assert report["status"] == "SUCCEEDED"  # an operator's pause is not a failure
    results = {(i["group"], i["index"]): i["result"] for i in report["instances"]}
    assert [results[("web", n)] for n in range(3)] == ["Completed", "NotStarted", "NotStarted"]
    assert [results[("api", n)] for n in range(3)] == ["Completed"] * 3
    (alert,) = run_alerts(report)
    assert "group web is paused" in alert["message"]
    assert report["output"]["PausedGroups"] == ["web"]


def test_a_gate_stop_in_one_group_stops_the_groups_patched_beside_it():
    scenario = {
        "groups": [group("web", alarm="web-5xx", faults={"0": "alarm_after_patch"}), group("api", 4)],
        "input": {"GroupConcurrency": 2},
    }

    report = simulate(scenario)

    assert report["error"] == "RunStopped"
    api = [i["result"] for i in report["instances"] if i["group"] == "api"]
    assert "NotStarted" in api
    assert len(run_alerts(report)) == 1


# one run per group, and recovery ------------------------------------------------------------------------
def test_a_second_run_refuses_a_group_a_live_run_holds():
    # Given two runs started at the same moment on the same group
    scenario = {"groups": [group("web")], "input": {}, "also_start": [{}]}

    report = simulate(scenario)

    # Then exactly one holds the group and patches it; the other ends GroupLocked having touched nothing
    (winner,) = [e for e in report["executions"] if e["status"] == "SUCCEEDED"]
    (loser,) = [e for e in report["executions"] if e["status"] == "FAILED"]
    assert loser["error"] == "GroupLocked"
    assert not [c for c in fleet_calls(report) if c["execution"] == loser["name"]]
    assert {c["execution"] for c in fleet_calls(report)} == {winner["name"]}
    assert {i["result"] for i in report["instances"]} == {"Completed"}


def test_runs_on_different_groups_go_side_by_side():
    scenario = {
        "groups": [group("web", 2), group("api", 2)],
        "input": {"AutoScalingGroupNames": ["web"]},
        "also_start": [{"AutoScalingGroupNames": ["api"]}],
    }

    report = simulate(scenario)

    assert [e["status"] for e in report["executions"]] == ["SUCCEEDED", "SUCCEEDED"]
    assert {i["tag"] for i in report["instances"]} == {"Completed"}


def test_an_instance_left_in_standby_by_a_dead_run_is_returned_tagged_failed_and_reported_first():
    scenario = {"groups": [group(instances=3, faults={"1": "stale_standby"})], "input": {}}

    report = simulate(scenario)

    assert report["status"] == "SUCCEEDED"  # the dead run's failure is reported, not counted against this run
    stale = report["instances"][1]
    assert report["output"]["Recovered"] == [stale["instance_id"]]
    calls = calls_on(report, stale["instance_id"])
    assert [c["operation"] for c in calls[:2]] == ["ExitStandby", "CreateTags"]
    assert {"Key": "AutoPatchInstanceInASG", "Value": "Failed"} in calls[1]["params"]["Tags"]
    (alert,) = run_alerts(report)
    assert stale["instance_id"] in alert["subject"] and "LeftByDeadRun" in alert["message"]
    first_standby = min(c["t"] for c in report["api_calls"] if c["operation"] == "EnterStandby")
    publish = next(c for c in report["api_calls"] if c["operation"] == "Publish")
    assert publish["t"] <= first_standby
    # the dead run's hold on the group was taken over, and the instance was then patched by this run
    assert stale["result"] == "Completed" and stale["tag"] == "Completed"


def test_the_hold_a_dead_run_left_with_its_standby_instance_is_taken_over_then_released():
    scenario = {"groups": [group(instances=3, faults={"1": "stale_standby"})], "input": {}}

    report = simulate(scenario)

    assert report["status"] == "SUCCEEDED"
    execution = f"arn:aws:states:us-east-1:123456789012:execution:rolling-patch:{report['executions'][0]['name']}"
    writes = [c for c in report["api_calls"] if c["service"] == "dynamodb" and "lock#web" in json.dumps(c["params"])]
    take_over = next(c for c in writes if c["params"].get("ConditionExpression", "").endswith("Holder = :old"))
    assert take_over["params"]["ExpressionAttributeValues"][":old"]["S"] == dead_run_execution_arn()
    assert take_over["params"]["Item"]["Holder"]["S"] == execution
    assert writes[-1]["operation"] == "DeleteItem"  # released by the run that took it over, at its end
    assert writes[-1]["params"]["ExpressionAttributeValues"][":me"]["S"] == execution
    assert any("Took over groups held by runs that are no longer running" in line for line in report["logs"])
    assert report["output"]["Recovered"] == [report["instances"][1]["instance_id"]]


# refusals come before changes -----------------------------------------------------------------------------
STALE = "stale_standby"
LEFT_BY = "run-that-died"  # the run the simulator's stale_standby instances were left by


def standby_leftovers(report):
    return [i for i in report["instances"] if i["lifecycle_state"] == "Standby"]


def patch_order(report, execution=None):
    """(group, index) of each instance the run took out of service, in order."""
    where = {i["instance_id"]: (i["group"], i["index"]) for i in report["instances"]}
    return [
        where[c["params"]["InstanceIds"][0]]
        for c in report["api_calls"]
        if c["operation"] == "EnterStandby" and execution in (None, c["execution"])
    ]


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
@pytest.mark.parametrize(
    ("groups", "run_input", "problem"),
    [
        ([group(faults={"1": STALE}, suspended_processes=["Launch"])], {}, "group web: suspended processes: Launch"),
        ([group(faults={"0": STALE}, instance_refresh=True)], {}, "is InProgress"),
        ([group(faults={"1": STALE, "2": "agent_offline"})], {}, "SSM agent ConnectionLost"),
        ([group(faults={"0": "unhealthy_before", "2": STALE})], {}, "is unhealthy in target group web-tg"),
        # the dead run had lowered MinSize 3 to 2: judged at 3, the MinSize the run would restore
        (
            [group(min_size=3, dead_run_lowered_min_size=True, faults={"1": STALE})],
            {},
            "group web: desired capacity 3 minus one is below MinSize 3",
        ),
        # another group of the run refuses: web's leftover is not recovered either
        (
            [group("web", faults={"2": STALE}), group("api", instances=1)],
            {"AutoScalingGroupNames": ["web", "api"]},
            "group api: fewer than two InService instances (1)",
        ),
    ],
    ids=["launch-suspended", "instance-refresh", "agent-offline", "unhealthy", "restored-min-size", "other-group"],
)
def test_a_refused_run_leaves_what_a_dead_run_left_as_it_was(groups, run_input, problem, dry_run):
    # Given a group with an instance a dead run left in Standby (its hold still in the ledger), and a reason to refuse
    scenario = {"groups": groups, "input": {**run_input, "DryRun": dry_run}}

    # When a run (or a dry run) starts
    report = simulate(scenario)

    # Then it ends PreflightFailed naming the reason, before it changed anything
    assert (report["status"], report["error"]) == ("FAILED", "PreflightFailed")
    assert problem in cause(report)["errorMessage"]
    # and the leftover is as the dead run left it: still Standby, still tagged InProgress by it, capacity one short
    (left,) = standby_leftovers(report)
    assert left["tag"] == "InProgress" and calls_on(report, left["instance_id"]) == []
    web = report["groups"][0]
    assert web["desired"] == groups[0]["instances"] - 1
    assert web["min_size"] == groups[0]["min_size"] - groups[0].get("dead_run_lowered_min_size", False)
    # and nobody was alerted, nothing on the fleet was called, no plan written: a run only wrote its ledger
    # (it took the dead run's hold and let it go), a dry run nothing at all
    assert run_alerts(report) == [] and fleet_calls(report) == []
    assert {c["service"] for c in report["api_calls"]} == (set() if dry_run else {"dynamodb"})


@pytest.mark.parametrize(
    ("spec", "run_input"),
    [
        (group(instances=2, faults={"0": STALE}), {}),  # alone it looks like one InService, at MinSize
        (group(instances=3, min_size=2, faults={"2": STALE}), {}),  # desired 2 looks at MinSize 2
        (group(instances=2, min_size=2, dead_run_lowered_min_size=True, faults={"1": STALE}), {"LowerMinSize": True}),
    ],
    ids=["looks-one-instance", "looks-at-min-size", "lowered-min-size"],
)
def test_a_group_one_short_only_because_of_a_dead_runs_leftover_is_recovered_and_patched(spec, run_input):
    # Given a group that looks too small to patch only because a dead run left one of its instances in Standby
    scenario = {"groups": [spec], "input": run_input}

    # When a run starts
    report = simulate(scenario)

    # Then it is not refused: the leftover is returned to service and alerted first, then every instance patched
    assert report["status"] == "SUCCEEDED"
    stale = next(i for i in report["instances"] if str(i["index"]) in spec["faults"])
    assert report["output"]["Recovered"] == [stale["instance_id"]]
    first_standby = min(c["t"] for c in report["api_calls"] if c["operation"] == "EnterStandby")
    (exit_left,) = [c for c in calls_on(report, stale["instance_id"]) if c["operation"] == "ExitStandby"][:1]
    assert exit_left["t"] <= first_standby
    (alert,) = run_alerts(report)
    assert "LeftByDeadRun" in alert["message"]
    assert [i["result"] for i in report["instances"]] == ["Completed"] * spec["instances"]
    assert report["groups"][0]["min_size"] == spec["min_size"]


@pytest.mark.parametrize("warmup", [120, 900], ids=lambda w: f"warmup-{w}s")
def test_a_recovered_instance_not_healthy_in_time_ends_the_run_before_any_instance_is_taken_out(warmup):
    # Given a dead run's leftover in a group whose instances take longer to warm up than HealthTimeoutSeconds
    scenario = {
        "groups": [group(warmup_seconds=warmup, faults={"1": STALE})],
        "input": {"HealthTimeoutSeconds": 30},
    }

    # When a run starts
    report = simulate(scenario)

    # Then the leftover is returned to service, tagged Failed and alerted, and the run ends HealthCheckTimedOut
    # naming it, without taking any instance out of service
    stale = report["instances"][1]
    assert (report["status"], report["error"]) == ("FAILED", "HealthCheckTimedOut")
    assert stale["instance_id"] in cause(report)["errorMessage"]
    assert (stale["lifecycle_state"], stale["tag"]) == ("InService", "Failed")
    (alert,) = run_alerts(report)
    assert "LeftByDeadRun" in alert["message"]
    assert [c for c in report["api_calls"] if c["operation"] == "EnterStandby"] == []


@pytest.mark.parametrize("at", [60, 500, 1000], ids=lambda at: f"{at}s")
def test_a_dry_run_while_a_live_run_holds_the_group_says_it_would_be_refused_and_changes_nothing(at):
    # Given a run patching "web", and a dry run started `at` virtual seconds later
    scenario = {"groups": [group("web")], "input": {}, "also_start": [{"DryRun": True}], "also_start_at": at}

    # When both have ended
    report = simulate(scenario)

    # Then the dry run ended GroupLocked, as a run would, naming the run that holds the group
    run, dry = report["executions"]
    assert (dry["status"], dry["error"]) == ("FAILED", "GroupLocked")
    message = json.loads(dry["cause"])["errorMessage"]
    assert f"web (held by {run['name']})" in message and "Nothing was changed." in message
    # and it made no call that changes anything, while the run patched every instance undisturbed
    assert [c for c in report["api_calls"] if c["execution"] == dry["name"]] == []
    assert run["status"] == "SUCCEEDED"
    assert {i["result"] for i in report["instances"]} == {"Completed"}


@pytest.mark.parametrize(
    "groups",
    [
        [group(faults={"0": STALE})],
        [group(faults={"1": STALE})],
        [group(instances=4, min_size=2, dead_run_lowered_min_size=True, faults={"3": STALE})],
        [group("web", faults={"2": STALE}), group("api", 2)],
    ],
    ids=["first", "middle", "last-lowered-min-size", "two-groups"],
)
def test_a_dry_run_lists_what_a_run_would_recover_first_and_its_plan_is_what_the_run_does(groups):
    # Given a fleet where a dead run left an instance in Standby and its hold on the group, twice the same
    names = {"AutoScalingGroupNames": [g["name"] for g in groups]}

    # When one copy gets a dry run and the other a run
    dry = simulate({"groups": groups, "input": {**names, "DryRun": True}})
    run = simulate({"groups": groups, "input": names})

    # Then the dry run changed nothing: the leftover is still in Standby, tagged by the dead run
    assert dry["status"] == "SUCCEEDED" and dry["api_calls"] == []
    (left,) = standby_leftovers(dry)
    assert left["tag"] == "InProgress"
    # and it lists that instance as what a run recovers first, and the dead run's hold it would take over
    plan = {g["GroupName"]: g for g in dry["output"]["Plan"]["Groups"]}
    web = plan["web"]
    assert web["Recover"] == [
        {"InstanceId": left["instance_id"], "LifecycleState": "Standby", "LeftBy": LEFT_BY, "Tag": "InProgress"}
    ]
    assert web["TakeOverHoldOf"] == LEFT_BY
    assert all(plan[name]["Recover"] == [] and plan[name]["TakeOverHoldOf"] is None for name in plan if name != "web")
    # and the run does just that: it takes the hold over, recovers that instance, then patches in the plan's order
    assert any("Took over groups held by runs that are no longer running" in line for line in run["logs"])
    index = {i["instance_id"]: i["index"] for i in dry["instances"]}
    (recovered,) = run["output"]["Recovered"]
    assert next(i["index"] for i in run["instances"] if i["instance_id"] == recovered) == left["index"]
    planned = [(name, index[i]) for name in names["AutoScalingGroupNames"] for i in plan[name]["Instances"]]
    assert patch_order(run) == planned
    assert [plan[name]["Count"] for name in plan] == [g["instances"] for g in groups]
    assert run["status"] == "SUCCEEDED"


# AWS errors ---------------------------------------------------------------------------------------------
def test_throttling_and_resource_contention_are_retried_and_never_become_failures():
    scenario = {"groups": [group(faults={"1": "throttled"})], "input": {}}

    report = simulate(scenario)

    assert report["status"] == "SUCCEEDED"
    refused = {c["operation"]: c["error"] for c in report["api_calls"] if c.get("error")}
    assert refused["EnterStandby"] == "ResourceContention"
    assert refused["ExitStandby"] == "ResourceContention"
    assert refused["CreateTags"] == "RequestLimitExceeded"
    assert refused["SendCommand"] == "ThrottlingException"
    assert run_alerts(report) == []
    assert {i["tag"] for i in report["instances"]} == {"Completed"}
