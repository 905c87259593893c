"""BakeAmi through the simulator: after a group's last instance is patched, its image becomes what the group
launches new instances from; old images age out; a bake that fails changes nothing and is alerted.

Each test runs the real state machine and handlers against the simulated fleet; `simulate` also checks the
invariants of every run (nothing left out of service, capacity restored, one alert per failure and per
failed bake)."""

import json
from pathlib import Path

import pytest

from tests.integration.simulation_checks import calls_on, run_alerts, simulate

pytestmark = pytest.mark.simulation

STACK = "autopatch"  # the stack name the simulator gives the functions


def bake_scenario(group: dict | None = None, **run_input) -> dict:
    spec = {"name": "web", "instances": 3, "patch_seconds": 120, **(group or {})}
    return {"groups": [spec], "input": {"BakeAmi": True, **run_input}}


def calls(report: dict, operation: str) -> list[dict]:
    return [c for c in report["api_calls"] if c["operation"] == operation]


def instances_of(report: dict, group: str = "web") -> list[dict]:
    return [i for i in report["instances"] if i["group"] == group]


def the_bake(report: dict) -> dict:
    (bake,) = (report["output"] or {})["Bakes"]
    return bake


def image_tags(create_image_call: dict) -> dict[str, dict[str, str]]:
    return {
        spec["ResourceType"]: {t["Key"]: t["Value"] for t in spec["Tags"]}
        for spec in create_image_call["params"]["TagSpecifications"]
    }


def test_after_a_run_with_bake_ami_the_group_launches_from_the_patched_image():
    # Given a group following $Latest of its launch template, which scales out by two after the run
    scenario = bake_scenario({"scale_out_after": 2})
    # When a run with BakeAmi patches it
    report = simulate(scenario)
    # Then the run succeeds, every instance patched, and the group is baked
    assert report["status"] == "SUCCEEDED"
    assert [i["result"] for i in instances_of(report)] == ["Completed"] * 3
    bake = the_bake(report)
    assert bake["Status"] == "Baked"
    # the image is of the last instance, taken with the reboot, tagged for people and for retention
    last = instances_of(report)[-1]["instance_id"]
    (create,) = calls(report, "CreateImage")
    assert create["params"]["InstanceId"] == last
    assert create["params"]["NoReboot"] is False
    tags = image_tags(create)
    assert tags["image"] == tags["snapshot"]
    assert {k: tags["image"][k] for k in ("AutoPatchBakedBy", "AutoPatchGroup", "AutoPatchSourceInstance")} == {
        "AutoPatchBakedBy": STACK,
        "AutoPatchGroup": "web",
        "AutoPatchSourceInstance": last,
    }
    assert tags["image"]["AutoPatchRunId"] == report["output"]["RunId"]
    assert tags["image"]["AutoPatchBakedAt"] == "2026-01-04"
    image = next(i for i in report["images"] if i["image_id"] == bake["ImageId"])
    assert image["state"] == "available"
    # taken after the patch, while the instance was in Standby (and tagged InProgress), before it returned
    order = [(c["operation"], c["params"].get("Tags", [{}])[0].get("Value")) for c in calls_on(report, last)]
    assert order == [
        ("CreateTags", "InProgress"),
        ("EnterStandby", None),
        ("SendCommand", None),
        ("CreateImage", None),
        ("ExitStandby", None),
        ("CreateTags", "Completed"),
    ]
    # the new launch template version differs from the one the group launched from only in its image
    (version,) = calls(report, "CreateLaunchTemplateVersion")
    assert version["params"]["LaunchTemplateData"] == {"ImageId": bake["ImageId"]}
    assert version["params"]["SourceVersion"] == "1"
    sequence = report["api_calls"]
    exit_standby = next(c for c in calls_on(report, last) if c["operation"] == "ExitStandby")
    assert sequence.index(version) < sequence.index(exit_standby)
    # following $Latest, nothing else is changed
    assert not calls(report, "ModifyLaunchTemplate")
    assert not [c for c in calls(report, "UpdateAutoScalingGroup") if "LaunchTemplate" in c["params"]]
    group = report["groups"][0]
    assert group["launch_template"]["version"] == "$Latest"
    assert group["image_id"] == bake["ImageId"]
    # and a scale-out after the run launches from the new image
    assert [i["image_id"] for i in group["scaled_out"]] == [bake["ImageId"]] * 2
    # nothing to alert about
    assert run_alerts(report) == []


@pytest.mark.parametrize(
    ("follows", "changed"),
    [("$Default", "ModifyLaunchTemplate"), ("version", "UpdateAutoScalingGroup")],
    ids=["$Default", "a fixed version"],
)
def test_the_group_follows_the_new_version_the_way_it_follows_its_template(follows, changed):
    # Given a group following $Default, or a fixed version, of its launch template
    report = simulate(bake_scenario({"launch": follows, "scale_out_after": 1}))
    # When it is baked
    bake = the_bake(report)
    assert bake["Status"] == "Baked"
    (version,) = calls(report, "CreateLaunchTemplateVersion")
    # Then the new version is made from the version it launched from, and the group is pointed at it
    assert version["params"]["SourceVersion"] == "1"
    assert version["params"]["LaunchTemplateData"] == {"ImageId": bake["ImageId"]}
    group = report["groups"][0]
    if changed == "ModifyLaunchTemplate":
        (modify,) = calls(report, "ModifyLaunchTemplate")
        assert modify["params"]["DefaultVersion"] == str(bake["Version"])
        assert group["launch_template"]["version"] == "$Default"
    else:
        (update,) = [c for c in calls(report, "UpdateAutoScalingGroup") if "LaunchTemplate" in c["params"]]
        assert update["params"]["LaunchTemplate"]["Version"] == str(bake["Version"])
        assert group["launch_template"]["version"] == str(bake["Version"])
        assert not calls(report, "ModifyLaunchTemplate")
    assert group["image_id"] == bake["ImageId"]
    assert [i["image_id"] for i in group["scaled_out"]] == [bake["ImageId"]]


def test_retention_keeps_the_newest_images_the_stack_baked_and_never_touches_others():
    # Given a group with three images baked by earlier runs and one image someone else made for it
    report = simulate(bake_scenario({"previous_bakes": 3, "foreign_images": 1}, KeepAmis=2))
    bake = the_bake(report)
    assert bake["Status"] == "Baked"
    # Then the stack's images of the group are the new one and the newest earlier one (images are oldest first)
    kept = [i for i in report["images"] if i["group"] == "web" and i["baked_by"] == STACK]
    assert [(i["name"], i["image_id"]) for i in kept] == [
        (f"{STACK}-web-run-earlier-3", kept[0]["image_id"]),
        (kept[1]["name"], bake["ImageId"]),
    ]
    # the two oldest were deregistered, and then their snapshots deleted
    assert len(bake["Deregistered"]) == 2
    assert bake["Deregistered"] == report["deregistered_images"]
    assert bake["NotDeregistered"] == []
    deleted = [c["params"]["SnapshotId"] for c in calls(report, "DeleteSnapshot")]
    assert deleted == report["deleted_snapshots"] and len(deleted) == 2
    assert not set(deleted) & {s for i in report["images"] for s in i["snapshot_ids"]}
    order = [c["operation"] for c in report["api_calls"] if c["operation"] in ("DeregisterImage", "DeleteSnapshot")]
    assert order == ["DeregisterImage", "DeleteSnapshot"] * 2
    # the image someone else made is still there, untouched
    foreign = [i for i in report["images"] if i["group"] == "web" and i["baked_by"] is None]
    assert len(foreign) == 1
    assert all(c["params"].get("ImageId") != foreign[0]["image_id"] for c in report["api_calls"])


@pytest.mark.parametrize(
    ("fault", "run_input", "error", "image_state"),
    [
        ("bake_failed", {}, "ImageFailed", "failed"),
        ("bake_timeout", {"BakeTimeoutSeconds": 600}, "BakeTimedOut", "pending"),
    ],
    ids=["image failed", "image timed out"],
)
def test_a_failed_bake_changes_nothing_returns_the_instance_and_is_alerted(fault, run_input, error, image_state):
    # Given a group whose last instance's image will fail (or never become available), scaling out after the run
    report = simulate(bake_scenario({"faults": {"2": fault}, "scale_out_after": 1}, **run_input))
    last = instances_of(report)[-1]
    # Then the patching succeeded: the run too, every instance Completed and back in service (invariants)
    assert report["status"] == "SUCCEEDED"
    assert [i["result"] for i in instances_of(report)] == ["Completed"] * 3
    assert last["tag"] == "Completed"
    # the bake did not, and the result says so
    bake = the_bake(report)
    assert bake["Status"] == "Failed"
    assert bake["Error"] == error
    (create,) = calls(report, "CreateImage")
    assert create["params"]["InstanceId"] == last["instance_id"]
    assert bake["ImageId"] == next(i["image_id"] for i in report["images"] if i["state"] == image_state)
    assert "1 failed" in report["output"]["Message"]
    # the launch template is as it was: no version, no switch; a scale-out still launches from the old image
    assert not [c for c in report["api_calls"] if "LaunchTemplate" in c["operation"] or "LaunchTemplate" in c["params"]]
    assert not calls(report, "DeregisterImage")
    group = report["groups"][0]
    assert group["image_id"] != bake["ImageId"]
    assert [i["image_id"] for i in group["scaled_out"]] == [group["image_id"]]
    # one alert, saying the patching succeeded, what failed, and that the template is unchanged
    (alert,) = run_alerts(report)
    assert alert["subject"] == "Image bake failed: web, run run-20260104T0300"
    for text in ("succeeded", error, bake["ImageId"], last["instance_id"], "launch template is as it was"):
        assert text in alert["message"]
    # and it went out before the instance returned to service
    exit_standby = next(c for c in calls_on(report, last["instance_id"]) if c["operation"] == "ExitStandby")
    assert alert["t"] <= exit_standby["t"]


@pytest.mark.parametrize(
    ("launch", "reason"),
    [
        ("launch_configuration", "launches from launch configuration web-lc"),
        ("mixed_instances", "a launch template per instance type"),
    ],
)
def test_a_group_that_cannot_be_baked_is_reported_not_baked_and_nothing_changes(launch, reason):
    # Given a group on a launch configuration, or with a launch template per instance type
    report = simulate(bake_scenario({"launch": launch, "scale_out_after": 1}))
    # Then it is patched, reported NotBaked with the reason, and no image or template is made or changed
    assert report["status"] == "SUCCEEDED"
    bake = the_bake(report)
    assert bake["Status"] == "NotBaked"
    assert reason in bake["Reason"]
    assert "0 baked, 1 not baked" in report["output"]["Message"]
    ec2_changes = [c["operation"] for c in report["api_calls"] if c["service"] == "ec2"]
    assert set(ec2_changes) == {"CreateTags"}
    assert report["images"] == []
    group = report["groups"][0]
    assert [i["image_id"] for i in group["scaled_out"]] == [group["image_id"]]
    assert run_alerts(report) == []


def test_a_group_whose_last_instance_failed_is_not_baked():
    # Given a group whose last instance fails its patch (one failure tolerated)
    report = simulate(bake_scenario({"faults": {"2": "patch_failed"}}, MaxErrors=1))
    # Then no image is taken of it, and the reason names the instance and its result
    bake = the_bake(report)
    assert bake["Status"] == "NotBaked"
    assert f"{instances_of(report)[-1]['instance_id']}, ended Failed" in bake["Reason"]
    assert not calls(report, "CreateImage")


def test_two_groups_are_each_baked_from_their_own_last_instance():
    report = simulate(
        {
            "groups": [
                {"name": "web", "instances": 2, "patch_seconds": 120},
                {"name": "api", "instances": 3, "patch_seconds": 120, "launch": "$Default"},
            ],
            "input": {"BakeAmi": True, "GroupConcurrency": 2},
        }
    )
    bakes = {b["GroupName"]: b for b in report["output"]["Bakes"]}
    assert {name: b["Status"] for name, b in bakes.items()} == {"web": "Baked", "api": "Baked"}
    sources = {c["params"]["InstanceId"] for c in calls(report, "CreateImage")}
    assert sources == {instances_of(report, "web")[-1]["instance_id"], instances_of(report, "api")[-1]["instance_id"]}
    for group in report["groups"]:
        assert group["image_id"] == bakes[group["name"]]["ImageId"]
        assert group["max_out_of_service"] == 1


def test_without_bake_ami_no_image_or_launch_template_is_touched():
    report = simulate({"groups": [{"name": "web", "instances": 2, "patch_seconds": 60}], "input": {}})
    assert report["status"] == "SUCCEEDED"
    assert "Bakes" not in report["output"]
    assert not [c for c in report["api_calls"] if c["service"] == "ec2" and c["operation"] != "CreateTags"]


def test_the_bake_scenario_the_readme_shows_bakes_both_groups():
    scenario = json.loads((Path(__file__).parents[2] / "simulator" / "scenarios" / "bake.json").read_text())
    report = simulate(scenario)
    assert report["status"] == "SUCCEEDED"
    bakes = {b["GroupName"]: b for b in report["output"]["Bakes"]}
    for group in report["groups"]:
        assert group["image_id"] == bakes[group["name"]]["ImageId"]
        assert {i["image_id"] for i in group["scaled_out"]} == {group["image_id"]}
    assert len(bakes["web"]["Deregistered"]) == 1  # three earlier images and the new one; three are kept


def test_a_failed_bake_reaches_slack_formatted_for_people():
    # Given a stack with a Slack webhook, and a bake that fails
    scenario = bake_scenario({"faults": {"2": "bake_failed"}})
    scenario["parameters"] = {"SlackWebhookSecretName": "slack/patching"}
    report = simulate(scenario)
    # Then Slack gets the bake alert, with what to do and the link to the execution
    (message,) = [m["payload"] for m in report["slack"] if "Image bake failed" in m["payload"]["text"]]
    assert message["text"] == ":warning: Image bake failed: web, run run-20260104T0300"
    assert "launch template is unchanged" in message["blocks"][2]["text"]["text"]
    assert [b["type"] for b in message["blocks"]][-2:] == ["actions", "context"]


def test_a_dry_run_says_which_launch_template_each_group_would_be_baked_into_and_changes_nothing():
    # Given a group on $Default of its template and one on a launch configuration
    report = simulate(
        {
            "groups": [
                {"name": "web", "instances": 2, "launch": "$Default"},
                {"name": "api", "instances": 2, "launch": "launch_configuration"},
            ],
            "input": {"BakeAmi": True, "DryRun": True},
        }
    )
    # Then the plan says what a bake would change, or why it would not bake, and nothing was called
    assert report["status"] == "SUCCEEDED"
    bakes = {g["GroupName"]: g["Bake"] for g in report["output"]["Plan"]["Groups"]}
    assert bakes["web"] == {
        "Status": "WouldBake",
        "LaunchTemplateName": "web-lt",
        "Follows": "$Default",
        "Version": 1,
        "ImageId": report["groups"][0]["image_id"],
    }
    assert bakes["api"]["Status"] == "NotBaked"
    assert "launch configuration api-lc" in bakes["api"]["Reason"]
    assert report["api_calls"] == []


def test_the_run_counts_its_bakes_in_metrics():
    # Given two groups, one whose bake fails
    report = simulate(
        {
            "groups": [
                {"name": "web", "instances": 2, "patch_seconds": 60},
                {"name": "api", "instances": 2, "patch_seconds": 60, "faults": {"1": "bake_failed"}},
            ],
            "input": {"BakeAmi": True, "GroupConcurrency": 2},
        }
    )
    # Then the run's EMF metrics count one image baked and one bake failed
    emf = [json.loads(line) for line in report["logs"] if line.startswith("{") and "_aws" in line]
    counted = [line[name] for line in emf for name in ("ImagesBaked", "ImageBakesFailed") if name in line]
    assert counted == [[1], [1]]  # the summary's EMF line holds both
