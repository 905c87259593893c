"""Instances that join a group while the run patches it (a scale-out, the replacement of a Spot instance) are
patched after the planned ones, pass after pass, at most NEWCOMER_PASSES passes; the gate waits, bounded, for
instances launching or terminating instead of stopping the run.

Each test runs the real state machine and handlers against the simulated fleet; `simulate` also checks the
invariants of every run (one instance out at a time, capacity as the fleet events left it, one alert per failure,
no call on an instance the run did not reach). Each instance is out for about 400 s (patch_seconds 300); the
groups have one zone, so that no AZ rebalancing launches instances the tests do not ask for."""

import pytest
from simulation_checks import calls_on, run_alerts, simulate

from autopatch import NEWCOMER_PASSES, runs

pytestmark = pytest.mark.simulation


def group(name="web", instances=3, **extra) -> dict:
    return {
        "name": name,
        "instances": instances,
        "min_size": 1,
        "max_size": 12,
        "patch_seconds": 300,
        "azs": 1,
        **extra,
    }


def scale_out(at: float, count=1, name="web") -> dict:
    return {"at": at, "group": name, "do": "scale_out", "count": count}


def instances_of(report: dict, name="web") -> list[dict]:
    return [i for i in report["instances"] if i["group"] == name]


def newcomers(report: dict, name="web") -> list[dict]:
    return [i for i in instances_of(report, name) if i["launched_during_run"]]


def first(report: dict, instance_id: str, text: str) -> float:
    """When the timeline first says text of the instance."""
    return next(e["t"] for e in report["timeline"] if e["instance"] == instance_id and e["text"].startswith(text))


def summary_line(report: dict, instance_id: str) -> dict:
    return next(i for i in report["summary"]["Instances"] if i["InstanceId"] == instance_id)


@pytest.mark.parametrize("moment", [100, 404, 850], ids=["while-the-first-is-out", "between-instances", "last"])
@pytest.mark.parametrize("hook", [0, 120, 400])
def test_instances_that_join_during_the_run_are_patched_after_the_planned_ones(moment, hook):
    # Given three instances patched one at a time, and a scale-out by two at `moment` whose instances a launch
    # lifecycle hook holds in Pending:Wait for `hook` seconds
    scenario = {
        "groups": [group(launch_hook_seconds=hook)],
        "input": {"MaxErrors": 0},
        "events": [scale_out(moment, count=2)],
    }

    # When the run is simulated
    report = simulate(scenario)

    # Then the run succeeds: the planned instances first, then the two newcomers, each patched and tagged
    assert report["status"] == "SUCCEEDED"
    joined = newcomers(report)
    assert len(joined) == 2
    assert [(i["result"], i["tag"]) for i in instances_of(report)] == [("Completed", "Completed")] * 5
    taken_out = sorted(instances_of(report), key=lambda i: first(report, i["instance_id"], "EnteringStandby"))
    assert [i["launched_during_run"] for i in taken_out] == [False] * 3 + [True] * 2
    # no instance was taken out while another was launching: the gate waited for each newcomer to be healthy
    for newcomer in joined:
        healthy = first(report, newcomer["instance_id"], "healthy in its target groups")
        later = [first(report, i["instance_id"], "tagged AutoPatchInstanceInASG=InProgress") for i in taken_out]
        assert not [t for t in later if first(report, newcomer["instance_id"], "Pending (") <= t < healthy]
    # the newcomers were patched by a second execution of the run (pass 1), and nobody was alerted
    assert len(report["run_executions"]) == 2
    assert report["notifications"] == []
    output = report["output"]
    assert output["Counts"]["Completed"] == 5
    assert output["Message"].endswith("2 joined their group during the run.")
    assert [i.get("JoinedDuringRun", False) for i in output["Instances"]] == [False] * 3 + [True] * 2


def test_the_replacement_of_a_spot_instance_is_patched_and_the_gate_waits_while_it_terminates():
    # Given four instances; EC2 terminates instance 2 (a Spot interruption) at 400 s, just before the run takes the
    # second instance out: instance 2 is Terminating (its target draining) and its replacement Pending
    scenario = {
        "groups": [group(instances=4, launch_hook_seconds=60)],
        "input": {"MaxErrors": 0},
        "events": [{"at": 400, "group": "web", "do": "terminate", "index": 2}],
    }

    report = simulate(scenario)

    # Then the run waits for both to settle, then goes on: instance 2 is Gone, its replacement patched last
    assert report["status"] == "SUCCEEDED"
    web = instances_of(report)
    assert [(i["result"], i["tag"]) for i in web] == [
        *(("Completed", "Completed"), ("Completed", "Completed"), ("Gone", None), ("Completed", "Completed")),
        ("Completed", "Completed"),
    ]
    gone, replacement = web[2], web[4]
    assert replacement["launched_during_run"] and gone["lifecycle_state"] == "Terminated"
    second_out = first(report, web[1]["instance_id"], "tagged AutoPatchInstanceInASG=InProgress")
    assert second_out >= first(report, gone["instance_id"], "Terminated")
    assert second_out >= first(report, replacement["instance_id"], "healthy in its target groups")
    assert calls_on(report, gone["instance_id"]) == []
    assert report["notifications"] == []
    assert (report["output"]["Counts"]["Completed"], report["output"]["Counts"]["Gone"]) == (4, 1)


@pytest.mark.parametrize("extra", [1, 2])
def test_newcomers_that_join_during_a_newcomer_pass_are_patched_by_the_next_pass(extra):
    # Given two instances, a scale-out by one while the first is out, and another by `extra` while the newcomer
    # pass patches that one (it starts about 810 s in)
    scenario = {
        "groups": [group(instances=2)],
        "input": {},
        "events": [scale_out(100), scale_out(1000, count=extra)],
    }

    report = simulate(scenario)

    # Then every newcomer is patched: the first by pass 1, the later ones by pass 2, each pass a new execution
    assert report["status"] == "SUCCEEDED"
    assert [(i["result"], i["tag"]) for i in instances_of(report)] == [("Completed", "Completed")] * (3 + extra)
    assert report["run_executions"] == [
        "run-20260104T0300",
        "run-20260104T0300-part2",
        "run-20260104T0300-part3",
    ]
    pass_one, *pass_two = newcomers(report)
    assert all(
        first(report, pass_one["instance_id"], "EnteringStandby") < first(report, i["instance_id"], "EnteringStandby")
        for i in pass_two
    )
    assert report["output"]["Counts"]["Completed"] == 3 + extra


def test_newcomers_beyond_the_last_pass_are_reported_with_the_reason():
    # Given two instances and a scale-out by one during the plan and during each newcomer pass, one pass more than
    # the run makes (each pass patches one instance in about 400 s)
    assert NEWCOMER_PASSES == 3
    scenario = {
        "groups": [group(instances=2)],
        "input": {},
        "events": [scale_out(100), scale_out(1000), scale_out(1420), scale_out(1840)],
    }

    report = simulate(scenario)

    # Then the run patches the plan and three passes of newcomers and succeeds; the one that joined during the
    # last pass is left untouched, NotStarted with the reason, in the group at the end
    assert report["status"] == "SUCCEEDED"
    assert len(report["run_executions"]) == 1 + NEWCOMER_PASSES
    web = instances_of(report)
    assert [(i["result"], i["tag"]) for i in web] == [("Completed", "Completed")] * 5 + [("NotStarted", None)]
    late = web[-1]
    assert (late["launched_during_run"], late["lifecycle_state"]) == (True, "InService")
    assert calls_on(report, late["instance_id"]) == []
    line = summary_line(report, late["instance_id"])
    assert line["Reason"] == "joined its group after the last of the run's 3 newcomer passes"
    counts, message = report["output"]["Counts"], report["output"]["Message"]
    assert (counts["Completed"], counts["NotStarted"]) == (5, 1)
    assert message.endswith(
        "4 joined their group during the run, 1 of them too late to be patched (NotStarted, with the reason)."
    )
    assert report["notifications"] == []


def test_with_bake_ami_a_newcomer_launched_from_the_baked_image_is_not_patched_again():
    # Given three instances patched with BakeAmi (the last one is imaged), a scale-out before the bake and one
    # after the group launches from the new image
    scenario = {
        "groups": [group(launch_hook_seconds=30)],
        "input": {"BakeAmi": True},
        "events": [scale_out(100), scale_out(1400)],
    }

    report = simulate(scenario)

    # Then the newcomer from the old image is patched; the one from the baked image is Skipped, with why
    assert report["status"] == "SUCCEEDED"
    (bake,) = report["output"]["Bakes"]
    assert bake["Status"] == "Baked"
    before, after = newcomers(report)
    assert (before["result"], before["tag"]) == ("Completed", "Completed")
    assert (after["result"], after["tag"]) == ("Skipped", None)
    assert f"from {bake['ImageId']}" in next(
        e["text"] for e in report["timeline"] if e["instance"] == after["instance_id"]
    )
    assert calls_on(report, after["instance_id"]) == []
    line = summary_line(report, after["instance_id"])
    assert line["Reason"] == f"launched from {bake['ImageId']}, the image this run baked: patched already"
    assert (report["output"]["Counts"]["Completed"], report["output"]["Counts"]["Skipped"]) == (4, 1)
    # one image, of the last planned instance
    (create,) = [c for c in report["api_calls"] if c["operation"] == "CreateImage"]
    assert create["params"]["InstanceId"] == instances_of(report)[2]["instance_id"]


def test_with_skip_compliant_newcomers_are_scanned_first_like_any_instance():
    # Given three instances, of which instance 1 is compliant, patched with SkipCompliant, and a scale-out by one
    # (a newcomer misses patches, as the launch template's image does)
    scenario = {
        "groups": [group(compliant=[1])],
        "input": {"SkipCompliant": True},
        "events": [scale_out(100)],
    }

    report = simulate(scenario)

    # Then the newcomer is scanned, then patched; the compliant planned instance stays untouched in service
    assert report["status"] == "SUCCEEDED"
    assert [i["result"] for i in instances_of(report)] == ["Completed", "Skipped", "Completed", "Completed"]
    (newcomer,) = newcomers(report)
    operations = [
        c["params"]["Parameters"]["Operation"][0]
        for c in report["api_calls"]
        if c["operation"] == "SendCommand" and newcomer["instance_id"] in c["params"]["InstanceIds"]
    ]
    assert operations == ["Scan", "Install"]
    assert newcomer["tag"] == "Completed"


def test_newcomers_of_two_groups_side_by_side_are_patched_one_at_a_time_per_group():
    # Given two groups patched side by side (GroupConcurrency 2), each scaling out while the run patches it
    scenario = {
        "groups": [group("web", 3, launch_hook_seconds=60), group("api", 2)],
        "input": {"GroupConcurrency": 2},
        "events": [scale_out(50, name="web"), scale_out(300, count=2, name="api")],
    }

    report = simulate(scenario)

    # Then every instance of both groups is patched, never two of one group out at once
    assert report["status"] == "SUCCEEDED"
    assert [i["result"] for i in instances_of(report, "web")] == ["Completed"] * 4
    assert [i["result"] for i in instances_of(report, "api")] == ["Completed"] * 4
    assert [g["max_out_of_service"] for g in report["groups"]] == [1, 1]
    assert (len(newcomers(report, "web")), len(newcomers(report, "api"))) == (1, 2)
    assert report["output"]["Counts"]["Completed"] == 8


def test_a_run_across_executions_patches_its_newcomers_after_the_last_slice(monkeypatch):
    # Given a budget of three instances per execution, seven instances, and a scale-out by four (more than one
    # slice of newcomers) while the run patches the plan
    monkeypatch.setattr(runs, "EVENT_BUDGET", 3 * runs.EVENTS_PER_INSTANCE)
    scenario = {"groups": [group(instances=7)], "input": {}, "events": [scale_out(500, count=4)]}

    report = simulate(scenario)

    # Then the plan takes three executions, the newcomer pass two more, and every instance is patched once
    assert report["status"] == "SUCCEEDED"
    assert report["run_executions"] == ["run-20260104T0300"] + [f"run-20260104T0300-part{n}" for n in range(2, 6)]
    assert [(i["result"], i["tag"]) for i in instances_of(report)] == [("Completed", "Completed")] * 11
    install = [c for c in report["api_calls"] if c["operation"] == "SendCommand"]
    assert sorted(c["params"]["InstanceIds"][0] for c in install) == sorted(
        i["instance_id"] for i in instances_of(report)
    )
    assert all(e["history_events"] <= runs.EVENT_BUDGET + 200 for e in report["executions"])


@pytest.mark.parametrize("timeout", [300, 600])
def test_a_newcomer_that_never_settles_stops_the_run_after_the_wait_bound(timeout):
    # Given three instances and a scale-out at 100 s whose instance a launch hook holds in Pending:Wait far
    # longer than HealthTimeoutSeconds
    scenario = {
        "groups": [group(launch_hook_seconds=3000)],
        "input": {"HealthTimeoutSeconds": timeout},
        "events": [scale_out(100)],
    }

    report = simulate(scenario)

    # Then the gate before the second instance waits HealthTimeoutSeconds, then stops the run with one alert
    # naming the newcomer; the rest is left untouched, the newcomer NotStarted with the reason
    assert (report["status"], report["error"]) == ("FAILED", "RunStopped")
    web = instances_of(report)
    assert [i["result"] for i in web] == ["Completed", "NotStarted", "NotStarted", "NotStarted"]
    newcomer = web[3]["instance_id"]
    (alert,) = run_alerts(report)
    assert alert["subject"].startswith("Patching stopped")
    assert f"{newcomer} is Pending:Wait (not settled within HealthTimeoutSeconds={timeout})" in alert["message"]
    back = first(report, web[0]["instance_id"], "healthy in its target groups")
    assert back + timeout <= alert["t"] <= back + timeout + 30
    line = summary_line(report, newcomer)
    assert (line["Result"], line["Reason"]) == (
        "NotStarted",
        "joined its group during the run, which stopped before patching it",
    )
