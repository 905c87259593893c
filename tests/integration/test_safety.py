"""Never strand an instance, never drop below safe capacity: preflight, gates, locks, recovery, AWS errors.
Every scenario also passes the invariants of simulation_checks (nothing left out of service, capacity
restored, touched instances tagged Completed or Failed, one alert per failure, nothing touched past the stop)."""

import json

import pytest
from simulation_checks import calls_on, fleet_calls, run_alerts, simulate

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
        "groups": [group("web"), group("api")],
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
