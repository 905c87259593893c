"""An instance that goes (EC2 terminates it, a Spot interruption; Auto Scaling replaces it) while the run has it out
of service ends Gone with an alert, the run goes on, and its group gets back the capacity the standby took.

Each group suspends AZRebalance, so that only the scenario's event moves the fleet, and the instance that goes is
the last one the run takes out of its group, so that the check before a next instance (which waits, bounded, while
a group launches a replacement) plays no part. With three instances of 300 s patches and a poll every 20 s, the
run has the last one (index 2) out from 848 s: EnteringStandby until 878, seen in Standby and sent its command at
888, the command ends at 1191, ExitStandby then, Pending until 1202, healthy at 1262."""

import pytest
from simulation_checks import cleanup_alerts, run_alerts, simulate

pytestmark = pytest.mark.simulation

GIVEN_BACK = "ExitStandby gave back the capacity its standby took: Auto Scaling replaces it"
RETURNED = (
    "nothing to give back: none of its standby's capacity was still owed (it was returned, or never taken out), and "
    "Auto Scaling replaces an instance that goes"
)


def group(name: str, **more) -> dict:
    return {
        "name": name,
        "instances": 3,
        "min_size": 1,
        "max_size": 6,
        "patch_seconds": 300,
        "suspended_processes": ["AZRebalance"],
        **more,
    }


def scenario(events: list[dict], groups: list[dict] | None = None, **settings) -> dict:
    return {
        "groups": groups or [group("web")],
        "input": {"MaxErrors": 0, "PollIntervalSeconds": 20, "CommandTimeoutSeconds": 600, **settings},
        "events": events,
    }


def assert_gone_and_given_back(report: dict, name: str, step: str, capacity: str) -> dict:
    """The group's planned instances 0 and 1 patched, 2 Gone and terminated, replaced; its alert; the group at its
    starting capacity with nothing left in Standby. Returns the gone instance's report line."""
    planned = [i for i in report["instances"] if i["group"] == name and not i["launched_during_run"]]
    assert [i["result"] for i in planned] == ["Completed", "Completed", "Gone"]
    gone = planned[2]
    assert gone["lifecycle_state"] == "Terminated"
    assert gone["tag"] == "InProgress"  # a terminated instance is not tagged again; nothing counted it Failed
    replacements = [i for i in report["instances"] if i["group"] == name and i["launched_during_run"]]
    assert [i["lifecycle_state"] for i in replacements] == ["InService"]
    summary_line = next(i for i in report["output"]["Instances"] if i["InstanceId"] == gone["instance_id"])
    assert (summary_line["Result"], summary_line["Step"]) == ("Gone", step)
    # desired capacity as at the start (no event changed it), nothing left in Standby
    end = next(g for g in report["groups"] if g["name"] == name)
    assert end["desired"] == 3
    assert [i for i in report["instances"] if i["lifecycle_state"] in ("Standby", "EnteringStandby")] == []
    alert = next(n for n in run_alerts(report) if gone["instance_id"] in (n["subject"] or ""))
    assert (
        alert["subject"]
        == f"Instance gone while out of service: {gone['instance_id']} in {name}, run " + (report["output"]["RunId"])
    )
    assert f"Step:         {step} " in alert["message"]
    assert f"Capacity:     {capacity}" in alert["message"]
    assert "does not count against MaxErrors" in alert["message"]
    return gone


@pytest.mark.parametrize(
    ("at", "do", "step", "noticed", "capacity"),
    [
        (860, "terminate", "Take out of service", "InstanceGone", GIVEN_BACK),  # EnteringStandby
        (882, "terminate", "Take out of service", "InstanceGone", GIVEN_BACK),  # in Standby, before its command
        (1000, "terminate", "Patch", "PatchTimedOut", GIVEN_BACK),  # its command never ends: the agent went too
        (1196, "terminate", "Return to service", "InstanceGone", RETURNED),  # Pending after ExitStandby
        (1230, "terminate", "Return to service", "InstanceGone", RETURNED),  # InService, health check initial
        (1230, "unhealthy", "Return to service", "InstanceGone", RETURNED),  # replaced by the ELB health check
    ],
    ids=["entering-standby", "standby", "patching", "pending", "health-wait", "unhealthy"],
)
def test_an_instance_that_goes_while_out_of_service_is_gone_alerted_and_its_capacity_given_back(
    at, do, step, noticed, capacity
):
    # Given a run that allows no error, and the last instance of web going at `at` while the run has it out
    report = simulate(scenario([{"at": at, "group": "web", "do": do, "index": 2}]))

    # Then the run succeeds: that instance is Gone (not Failed) with one alert that says where and what was done
    assert report["status"] == "SUCCEEDED"
    gone = assert_gone_and_given_back(report, "web", step, capacity)
    alerts = run_alerts(report)
    assert [n["subject"].split(":")[0] for n in alerts] == ["Instance gone while out of service"]
    assert f"(noticed as {noticed})" in alerts[0]["message"]
    # an instance that went after its return is replaced while the run still holds the group: the replacement
    # joins the group during the run, and the newcomer pass patches it; one replaced only after the run is not its
    replaced_during_run = capacity == RETURNED
    assert [i["result"] for i in report["instances"] if i["launched_during_run"]] == [
        "Completed" if replaced_during_run else "NotStarted"
    ]
    assert report["output"]["Counts"] == {
        "Completed": 3 if replaced_during_run else 2,
        "Failed": 0,
        "Skipped": 0,
        "NotStarted": 0,
        "Gone": 1,
        "GoneWhileOut": 1,
    }
    assert (
        "1 went while the run was patching them (out of service, or during their BeforeStandby hook: Gone; each alert"
        " says in which step, and what was done about its group's capacity)." in (report["output"]["Message"])
    )
    assert "left their group before their turn" not in report["output"]["Message"]
    # no patch command ever went to it once EC2 had terminated it, and nothing returned it to service twice
    calls = [c["operation"] for c in report["api_calls"] if gone["instance_id"] in str(c["params"])]
    assert calls.count("ExitStandby") == 1
    assert "SetDesiredCapacity" not in calls


def test_a_patch_command_to_an_instance_ec2_terminated_is_refused_and_the_command_underway_never_ends():
    # Given the last instance terminated by EC2 while its patch command runs
    report = simulate(scenario([{"at": 1000, "group": "web", "do": "terminate", "index": 2}]))

    # Then its command does not end Success on a terminated instance: the run cancels it after CommandTimeoutSeconds,
    # which Systems Manager refuses for a terminated instance (nothing left to cancel), and it is returned at 1488
    gone = report["instances"][2]
    texts = [(e["t"], e["text"]) for e in report["timeline"] if e["instance"] == gone["instance_id"]]
    assert not [t for t in texts if "AWS-RunPatchBaseline Success" in t[1]]
    assert [t for t, text in texts if text.startswith("Pending (desired")] == [1488]


def test_a_scale_in_naming_an_instance_in_standby_is_refused_and_the_run_patches_it():
    # Given a scale-in that names the last instance while the run has it in Standby
    report = simulate(scenario([{"at": 1000, "group": "web", "do": "scale_in", "count": 1, "indexes": [2]}]))

    # Then Auto Scaling refuses it (only InService instances are terminated), and the run patches all three
    assert report["status"] == "SUCCEEDED"
    refused = [e["text"] for e in report["timeline"] if "refused" in e["text"]]
    assert refused == ["scale_in [2] refused: instance 2 is Standby"]
    assert [i["result"] for i in report["instances"]] == ["Completed"] * 3
    assert report["groups"][0]["desired"] == 3
    assert run_alerts(report) == []


@pytest.mark.parametrize("at", [882, 1000])
def test_with_lower_min_size_the_gone_instance_s_group_gets_its_min_size_back(at):
    # Given a group at its MinSize, patched with LowerMinSize, whose last instance EC2 terminates while out
    report = simulate(
        scenario(
            [{"at": at, "group": "web", "do": "terminate", "index": 2}], [group("web", min_size=3)], LowerMinSize=True
        )
    )

    # Then it is Gone, its capacity given back, and MinSize is 3 again
    assert report["status"] == "SUCCEEDED"
    assert_gone_and_given_back(report, "web", "Take out of service" if at == 882 else "Patch", GIVEN_BACK)
    assert report["groups"][0]["min_size"] == 3
    assert [c["params"]["MinSize"] for c in report["api_calls"] if c["operation"] == "UpdateAutoScalingGroup"] == [
        2,
        3,
    ] * 3


def test_two_groups_patched_at_once_each_give_back_what_their_gone_instance_took():
    # Given two groups patched together (GroupConcurrency 2), web's last instance terminated during its patch and
    # api's while it waits to be healthy again
    report = simulate(
        scenario(
            [
                {"at": 1000, "group": "web", "do": "terminate", "index": 2},
                {"at": 1230, "group": "api", "do": "terminate", "index": 2},
            ],
            [group("web"), group("api")],
            GroupConcurrency=2,
        )
    )

    # Then both are Gone, each alerted once, each group back at its capacity, and the run succeeds
    assert report["status"] == "SUCCEEDED"
    assert_gone_and_given_back(report, "web", "Patch", GIVEN_BACK)
    assert_gone_and_given_back(report, "api", "Return to service", RETURNED)
    assert len(run_alerts(report)) == 2
    assert report["output"]["Counts"]["GoneWhileOut"] == 2


@pytest.mark.parametrize(("at", "stop"), [(20, 35), (60, 240), (200, 240)])
def test_a_stop_by_hand_after_the_instance_went_gives_its_capacity_back_without_waiting_for_it(at, stop):
    # Given a run stopped by hand at `stop`, its first instance terminated by EC2 at `at` (EnteringStandby, before
    # the run saw it in Standby; in Standby during its command)
    report = simulate({**scenario([{"at": at, "group": "web", "do": "terminate", "index": 0}]), "stop_at": stop})

    # Then the clean-up neither waits for its command nor its health: it takes it out of Standby, which gives the
    # group its capacity back (Auto Scaling replaces it), and says so; the hold is released
    assert report["status"] == "ABORTED"
    gone = report["instances"][0]
    assert gone["lifecycle_state"] == "Terminated"
    (alert,) = cleanup_alerts(report)
    assert f"- {gone['instance_id']} (group web, was " in alert["message"]
    assert (
        f"gone (EC2 instance {gone['instance_id']} is terminated); {GIVEN_BACK}; its tag is left InProgress."
        in (alert["message"])
    )
    assert "holds released on: web" in alert["message"]
    assert report["groups"][0]["desired"] == 3
    assert [i["lifecycle_state"] for i in report["instances"] if i["launched_during_run"]] == ["InService"]
    assert alert["t"] - stop < 5 * 60
