"""The whole flow, through the simulator: the real ASL and handlers against a fleet that behaves like AWS."""

import json

import pytest
from simulation_checks import calls_on, fleet_calls, run_alerts, simulate

pytestmark = pytest.mark.simulation


def group(name, instances=3, **extra):
    return {"name": name, "instances": instances, "min_size": 1, "max_size": 6, "patch_seconds": 300, **extra}


def by_group(report, name):
    return [i for i in report["instances"] if i["group"] == name]


def test_happy_path_patches_every_instance_of_two_groups_one_at_a_time():
    # Given two opted-in, load-balanced groups and a console-style empty input
    scenario = {"groups": [group("web", 4), group("api", 3)], "input": {}}

    # When the run is simulated
    report = simulate(scenario)

    # Then it succeeds, every instance is patched, tagged Completed, back InService and healthy
    assert report["status"] == "SUCCEEDED"
    assert {i["result"] for i in report["instances"]} == {"Completed"}
    assert {i["tag"] for i in report["instances"]} == {"Completed"}
    assert {i["health"] for i in report["instances"]} == {"healthy"}
    # never two instances of one group out of service at once (checked at every lifecycle change)
    assert [g["max_out_of_service"] for g in report["groups"]] == [1, 1]
    # one AWS-RunPatchBaseline per instance, all with the run's one SnapshotId
    sends = [c for c in report["api_calls"] if c["operation"] == "SendCommand"]
    assert sorted(i for c in sends for i in c["params"]["InstanceIds"]) == sorted(
        i["instance_id"] for i in report["instances"]
    )
    assert {c["params"]["DocumentName"] for c in sends} == {"AWS-RunPatchBaseline"}
    assert {c["params"]["Parameters"]["Operation"][0] for c in sends} == {"Install"}
    assert {c["params"]["Parameters"]["RebootOption"][0] for c in sends} == {"RebootIfNeeded"}
    assert len({c["params"]["Parameters"]["SnapshotId"][0] for c in sends}) == 1
    # each instance goes through the steps in order
    first = report["instances"][0]["instance_id"]
    assert [(c["operation"], c["params"].get("Tags", [{}])[0].get("Value")) for c in calls_on(report, first)] == [
        ("CreateTags", "InProgress"),
        ("EnterStandby", None),
        ("SendCommand", None),
        ("ExitStandby", None),
        ("CreateTags", "Completed"),
    ]
    assert all(
        c["params"]["ShouldDecrementDesiredCapacity"] for c in report["api_calls"] if c["operation"] == "EnterStandby"
    )
    assert run_alerts(report) == []
    output = report["output"]
    assert output["Counts"] == {
        "Completed": 7,
        "Failed": 0,
        "Skipped": 0,
        "NotStarted": 0,
        "Gone": 0,
        "GoneWhileOut": 0,
    }
    assert all(i["CommandId"] for i in output["Instances"])


def test_group_concurrency_patches_groups_side_by_side_but_one_instance_per_group():
    scenario = {"groups": [group("web", 2), group("api", 2)], "input": {"GroupConcurrency": 2}}
    sequential = simulate({**scenario, "input": {}})

    report = simulate(scenario)

    assert report["status"] == "SUCCEEDED"
    assert [g["max_out_of_service"] for g in report["groups"]] == [1, 1]
    # both groups' first instances enter standby at the start
    first_standby = {
        c["params"]["AutoScalingGroupName"]: c["t"]
        for c in reversed(report["api_calls"])
        if c["operation"] == "EnterStandby"
    }
    assert set(first_standby.values()) == {0.0}
    assert report["virtual_seconds"] < 0.6 * sequential["virtual_seconds"]


def test_failed_patch_is_tagged_failed_returned_to_service_alerted_and_stops_the_run():
    # Given a group whose second instance's patch fails
    scenario = {"groups": [group("web", 4, faults={"1": "patch_failed"})], "input": {"AutoScalingGroupNames": ["web"]}}

    # When the run is simulated
    report = simulate(scenario)

    # Then the run fails, and says why
    assert report["status"] == "FAILED"
    assert report["error"] == "PatchingFailed"
    first, failed, *later = report["instances"]
    assert (first["result"], first["tag"]) == ("Completed", "Completed")
    # the failed instance is tagged Failed (never Completed) and back in service
    assert (failed["result"], failed["tag"], failed["lifecycle_state"]) == ("Failed", "Failed", "InService")
    # one notification that names it, the step, the error and the command
    (alert,) = run_alerts(report)
    assert failed["instance_id"] in alert["subject"] and "web" in alert["subject"]
    assert "Step:         Patch" in alert["message"]
    assert "PatchCommandFailed" in alert["message"]
    assert failed["command_id"] and failed["command_id"] in alert["message"]
    assert "#/v2/executions/details/arn:aws:states:" in alert["message"]
    # the instances after it are not touched
    for instance in later:
        assert instance["result"] == "NotStarted"
        assert instance["tag"] is None
        assert calls_on(report, instance["instance_id"]) == []
    # and EventBridge's alert for the execution that ended FAILED comes on top
    assert [n["message"].splitlines()[0] for n in report["notifications"] if n["source"] == "eventbridge"] == [
        '"Patch run execution run-20260104T0300 ended FAILED."'
    ]
    summary = json.loads(report["cause"])
    assert summary["Counts"] == {
        "Completed": 1,
        "Failed": 1,
        "Skipped": 0,
        "NotStarted": 2,
        "Gone": 0,
        "GoneWhileOut": 0,
    }


def test_failures_within_max_errors_do_not_stop_the_run():
    scenario = {"groups": [group("web", 3, faults={"0": "patch_failed"})], "input": {"MaxErrors": 1}}

    report = simulate(scenario)

    assert report["status"] == "SUCCEEDED"
    assert [i["result"] for i in report["instances"]] == ["Failed", "Completed", "Completed"]
    assert report["output"]["Counts"] == {
        "Completed": 2,
        "Failed": 1,
        "Skipped": 0,
        "NotStarted": 0,
        "Gone": 0,
        "GoneWhileOut": 0,
    }


def test_a_failure_in_one_group_stops_the_other_group_too():
    scenario = {
        "groups": [group("web", 3, faults={"0": "patch_failed"}), group("api", 3)],
        "input": {"AutoScalingGroupNames": ["web", "api"]},
    }

    report = simulate(scenario)

    assert report["status"] == "FAILED"
    assert [i["result"] for i in by_group(report, "api")] == ["NotStarted"] * 3


def test_a_patch_that_never_ends_is_cancelled_at_its_deadline():
    scenario = {"groups": [group("web", 2, faults={"0": "patch_timeout"})], "input": {"CommandTimeoutSeconds": 900}}

    report = simulate(scenario)

    assert report["status"] == "FAILED"
    stuck = report["instances"][0]
    assert (stuck["result"], stuck["tag"]) == ("Failed", "Failed")
    assert "PatchTimedOut" in run_alerts(report)[0]["message"]
    assert [c["params"]["CommandId"] for c in report["api_calls"] if c["operation"] == "CancelCommand"] == [
        stuck["command_id"]
    ]


def test_an_instance_that_stays_unhealthy_after_patching_is_a_failure():
    scenario = {
        "groups": [group("web", 2, faults={"0": "unhealthy_after_patch"})],
        "input": {"HealthTimeoutSeconds": 300},
    }

    report = simulate(scenario)

    assert report["status"] == "FAILED"
    sick = report["instances"][0]
    assert (sick["result"], sick["tag"], sick["health"]) == ("Failed", "Failed", "unhealthy")
    message = run_alerts(report)[0]["message"]
    assert "HealthCheckTimedOut" in message and "Return to service" in message
    assert "NOT back in service and healthy" in message


def test_scan_reports_without_taking_instances_out_of_service():
    scenario = {"groups": [group("web", 2)], "input": {"Operation": "Scan"}}

    report = simulate(scenario)

    assert report["status"] == "SUCCEEDED"
    on_fleet = fleet_calls(report)
    assert {c["operation"] for c in on_fleet} == {"SendCommand"}
    assert {c["params"]["Parameters"]["Operation"][0] for c in on_fleet} == {"Scan"}
    assert [i["tag"] for i in report["instances"]] == [None, None]


@pytest.mark.parametrize(
    ("run_input", "named"),
    [
        ({"Bogus": 1}, "Bogus"),
        ({"MaxErrors": "0"}, "MaxErrors"),
        ({"MaxErrors": True}, "MaxErrors"),
        ({"RebootOption": "Sometimes"}, "RebootOption"),
        ({"Operation": "Patch"}, "Operation"),
        ({"GroupConcurrency": 0}, "GroupConcurrency"),
        ({"AutoScalingGroupNames": "web"}, "AutoScalingGroupNames"),
        ({"AutoScalingGroupNames": ["web", "nope"]}, "nope"),
        ({"AutoScalingGroupNames": ["private"]}, "opt-in tag"),
    ],
)
def test_bad_input_ends_the_run_at_once_and_touches_nothing(run_input, named):
    scenario = {"groups": [group("web", 2), group("private", 2, opted_in=False)], "input": run_input}

    report = simulate(scenario)

    assert report["status"] == "FAILED"
    assert report["error"] == "InvalidInput"
    assert named in json.loads(report["cause"])["errorMessage"]
    assert report["api_calls"] == []
    # validate_input only, then the clean-up that the failed execution's status-change event starts, which finds
    # that the execution ended before it found its groups
    assert report["lambda_invocations"] == 2
    assert {i["tag"] for i in report["instances"]} == {None}
