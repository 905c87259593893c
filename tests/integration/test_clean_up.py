"""A run stopped by hand, crashed, or whose instance reached Standby after it gave up: the clean-up started by the
EventBridge rule on the execution's status puts everything back (issue 12, points 2 and 3). Every scenario also
passes the invariants of simulation_checks: nothing out of service, desired capacity and MinSize as at the
start, touched instances tagged Completed or Failed, and exactly one clean-up alert after a stop or a crash."""

import pytest
from simulation_checks import calls_on, cleanup_alerts, simulate

pytestmark = pytest.mark.simulation

# The default group's timeline: EnterStandby at 0, Standby at 30 (deregistration delay), the patch command from
# 30 to about 334, ExitStandby then, InService 10 s later and healthy 60 s after that (about 404).
RIGHT_AFTER_ENTER_STANDBY, WAITING_FOR_THE_PATCH, DURING_THE_HEALTH_WAIT = 10, 120, 360


def group(instances=3, min_size=1, **extra):
    return {"name": "web", "instances": instances, "min_size": min_size, "max_size": 6, "patch_seconds": 300, **extra}


def lock_released_by_cleanup(report, name="web"):
    return [
        c
        for c in report["api_calls"]
        if c["operation"] == "DeleteItem"
        and c["params"]["Key"]["Id"]["S"] == f"lock#{name}"
        and c["execution"] == "eventbridge"
    ]


def first(report):
    return report["instances"][0]


@pytest.mark.parametrize("lower_min_size", [False, True], ids=["min-size-kept", "lower-min-size"])
@pytest.mark.parametrize(
    ("moment", "tag", "why"),
    [
        (RIGHT_AFTER_ENTER_STANDBY, "Failed", "the run ended before its patch command was sent"),
        (WAITING_FOR_THE_PATCH, "Failed", "ended Cancelled"),
        (DURING_THE_HEALTH_WAIT, "Completed", "patched (command Success, no failed patches) and healthy"),
    ],
    ids=["right-after-enter-standby", "in-standby-waiting-for-the-patch", "during-the-health-wait"],
)
def test_a_stop_by_hand_is_cleaned_up(moment, tag, why, lower_min_size):
    # Given a run stopped by hand at one of its moments (LowerMinSize: a group at MinSize, lowered meanwhile)
    spec = group(instances=2, min_size=2) if lower_min_size else group()
    report = simulate({"groups": [spec], "input": {"LowerMinSize": lower_min_size}, "stop_at": moment})

    # Then the clean-up returned the instance, tagged it truthfully, put MinSize back, released the hold, alerted
    assert report["status"] == "ABORTED"
    assert first(report)["tag"] == tag
    (alert,) = cleanup_alerts(report)
    assert alert["subject"].startswith("Patch run run-20260104T0300 cleaned up after it ended ABORTED")
    assert first(report)["instance_id"] in alert["message"] and why in alert["message"]
    assert "holds released on: web" in alert["message"]
    assert lock_released_by_cleanup(report)
    if lower_min_size and moment < DURING_THE_HEALTH_WAIT:  # after ExitStandby the run had put it back itself
        assert "group web: MinSize restored to 2" in alert["message"]
    # within minutes of the stop
    assert alert["t"] - moment < 5 * 60


def test_the_patch_command_is_cancelled_and_ended_before_the_instance_returns():
    report = simulate({"groups": [group()], "input": {}, "stop_at": WAITING_FOR_THE_PATCH})

    calls = [c for c in calls_on(report, first(report)["instance_id"]) if c["execution"] == "eventbridge"]
    assert [c["operation"] for c in calls] == ["CancelCommand", "ExitStandby", "CreateTags"]
    # never before the stop's in-flight invocations had time to end (the longest function timeout, 60 s)
    assert calls[0]["t"] >= WAITING_FOR_THE_PATCH + 60


# The failure path of a patch that fails at about 333 s: tagged Failed and ExitStandby at 334, InService at 344,
# healthy at 404, then its alert
@pytest.mark.parametrize("moment", [336, DURING_THE_HEALTH_WAIT, 400], ids=["pending", "health-wait", "nearly-healthy"])
def test_a_stop_in_the_failure_path_is_cleaned_up_and_alerted(moment):
    # Given a failed patch whose failure path (tag Failed, return to service, alert) is cut short by a stop
    report = simulate({"groups": [group(faults={"0": "patch_failed"})], "input": {}, "stop_at": moment})

    assert report["status"] == "ABORTED"
    assert first(report)["tag"] == "Failed"
    (alert,) = cleanup_alerts(report)
    # it was back InService, so nothing more was done to it; its alert, which the stop cut off, is this one
    sick = first(report)["instance_id"]
    assert "Instances this run found failed (tagged Failed), and why:" in alert["message"]
    assert f"- {sick}: Patch: PatchCommandFailed: AWS-RunPatchBaseline ended Failed on {sick}" in alert["message"]
    assert not [c for c in calls_on(report, first(report)["instance_id"]) if c["execution"] == "eventbridge"]


@pytest.mark.parametrize("lower_min_size", [False, True], ids=["min-size-kept", "lower-min-size"])
def test_a_crashed_run_is_cleaned_up(lower_min_size):
    # Given a run that fails with an error no Catch handles while its instance waits for its patch in Standby
    spec = group(instances=2, min_size=2) if lower_min_size else group()
    report = simulate({"groups": [spec], "input": {"LowerMinSize": lower_min_size}, "crash_at": WAITING_FOR_THE_PATCH})

    assert report["status"] == "FAILED" and report["error"] == "States.Runtime"
    (alert,) = cleanup_alerts(report)
    assert "cleaned up after it ended FAILED" in alert["subject"]
    assert first(report)["tag"] == "Failed"


def test_two_groups_side_by_side_are_both_cleaned_up():
    scenario = {
        "groups": [group(), {**group(), "name": "api"}],
        "input": {"GroupConcurrency": 2},
        "stop_at": WAITING_FOR_THE_PATCH,
    }

    report = simulate(scenario)

    (alert,) = cleanup_alerts(report)
    out = [i for i in report["instances"] if i["tag"]]
    assert len(out) == 2 and all(i["instance_id"] in alert["message"] for i in out)
    assert lock_released_by_cleanup(report, "web") and lock_released_by_cleanup(report, "api")


@pytest.mark.parametrize(
    ("delay", "retries"), [(2400, 0), (3600, 2)], ids=["within-one-attempt", "the-longest-delay-across-lambda-retries"]
)
def test_an_instance_that_reaches_standby_after_the_run_gave_up_is_returned(delay, retries):
    # Given a deregistration delay longer than StandbyTimeoutSeconds plus the retries of the failure path
    report = simulate(
        {"groups": [group(deregistration_delay=delay)], "input": {"StandbyTimeoutSeconds": 60, "LowerMinSize": True}}
    )

    # Then the run fails the instance, and its clean-up returns it once it reaches Standby
    assert report["error"] == "PatchingFailed"
    assert first(report)["result"] == "Failed" and first(report)["tag"] == "Failed"
    (alert,) = cleanup_alerts(report)
    assert "returned to service (ExitStandby)" in alert["message"]
    assert "the run had already found it failed" in alert["message"]
    (exit_call,) = [c for c in calls_on(report, first(report)["instance_id"]) if c["operation"] == "ExitStandby"]
    assert exit_call["t"] >= delay
    retried = [e for e in report["timeline"] if "CleanUpRunFunction failed (attempt" in e["text"]]
    assert len(retried) == retries  # Lambda ran it again after 1 and 2 minutes; the last attempt finished


def test_a_run_that_ends_failed_with_everything_back_gets_no_clean_up_alert():
    report = simulate({"groups": [group(faults={"0": "patch_failed"})], "input": {}})

    assert report["error"] == "PatchingFailed"
    assert cleanup_alerts(report) == []


@pytest.mark.parametrize("moment", [750, 850, 970], ids=["image-just-requested", "image-pending", "image-nearly-ready"])
def test_a_stop_while_the_image_is_baked_returns_the_instance_and_leaves_the_launch_template_as_it_was(moment):
    # Given a BakeAmi run whose last instance (patched at about 737 s) is in Standby while its image is made
    # (pending until about 978 s), stopped by hand at that moment
    report = simulate({"groups": [group(instances=2)], "input": {"BakeAmi": True}, "stop_at": moment})

    assert report["status"] == "ABORTED"
    last = report["instances"][-1]
    # Then the clean-up returned it to service, patched and healthy, and said so in its one alert
    assert (last["lifecycle_state"], last["tag"], last["health"]) == ("InService", "Completed", "healthy")
    (alert,) = cleanup_alerts(report)
    assert last["instance_id"] in alert["message"]
    # and the group still launches from the image it had: the run never pointed it at the new one
    (web,) = report["groups"]
    assert web["image_id"] not in {i["image_id"] for i in report["images"] if i["baked_by"]}
    changed = {"CreateLaunchTemplateVersion", "ModifyLaunchTemplate", "UpdateAutoScalingGroup"}
    assert [c["operation"] for c in report["api_calls"] if c["operation"] in changed] == []
