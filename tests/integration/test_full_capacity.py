"""KeepCapacity (issue 14) through the simulator: an instance added to each group before its first leaves
service, removed when the group is done. The group never serves fewer healthy instances than it had at the start
(the report's groups[].min_healthy, capacity_seconds_lost), a group of one and a group at MinSize and MaxSize are
patched, and every way a run ends leaves desired capacity, MinSize and MaxSize as the owner had them and no extra
instance: simulate's invariants check the sizes, the processes and that the run removed at most what it added."""

import pytest
from simulation_checks import cleanup_alerts, simulate

pytestmark = pytest.mark.simulation

KEEP = {"KeepCapacity": True}


def group(name="web", instances=4, min_size=1, max_size=8, **extra):
    return {
        "name": name,
        "instances": instances,
        "min_size": min_size,
        "max_size": max_size,
        "patch_seconds": 300,
        **extra,
    }


def calls(report, operation, group_name=None):
    return [
        c
        for c in report["api_calls"]
        if c["operation"] == operation and (group_name is None or c["params"].get("AutoScalingGroupName") == group_name)
    ]


def removed(report):
    return [c["params"]["InstanceId"] for c in calls(report, "TerminateInstanceInAutoScalingGroup")]


def added(report, name="web"):
    """The instances launched during the run in the group, in launch order."""
    return [i for i in report["instances"] if i["group"] == name and i["launched_during_run"]]


def planned(report, name="web"):
    return [i for i in report["instances"] if i["group"] == name and not i["launched_during_run"]]


def the_group(report, name="web"):
    return next(g for g in report["groups"] if g["name"] == name)


def in_service_at_end(report, name="web"):
    return [i for i in report["instances"] if i["group"] == name and i["lifecycle_state"] == "InService"]


@pytest.mark.parametrize(
    ("instances", "min_size", "max_size"),
    [(1, 1, 1), (1, 0, 3), (2, 2, 2), (3, 1, 3), (4, 4, 8), (3, 1, 10)],
    ids=[
        "one-at-min-and-max",
        "one-below-max",
        "two-at-min-and-max",
        "at-max",
        "at-min",
        "free",
    ],
)
def test_every_instance_is_patched_with_no_moment_below_the_starting_healthy_count(instances, min_size, max_size):
    # Given a group of `instances`, healthy, with these MinSize and MaxSize, and a run with KeepCapacity
    scenario = {"groups": [group(instances=instances, min_size=min_size, max_size=max_size)], "input": KEEP}

    # When the run is simulated
    report = simulate(scenario)

    # Then the run succeeds and every planned instance is patched
    assert report["status"] == "SUCCEEDED"
    assert [i["result"] for i in planned(report)] == ["Completed"] * instances
    # and at no moment did fewer instances serve than at the start: no capacity lost at all
    web = the_group(report)
    assert web["min_healthy"] >= instances
    assert web["capacity_seconds_lost"] == 0
    # one instance was added (MaxSize raised first only at the maximum) and that same one removed, decrementing
    assert [c["params"]["DesiredCapacity"] for c in calls(report, "SetDesiredCapacity")] == [instances + 1]
    assert [i["instance_id"] for i in added(report)] == removed(report)
    assert added(report)[0]["lifecycle_state"] in ("Terminating", "Terminated")
    raised = [c["params"]["MaxSize"] for c in calls(report, "UpdateAutoScalingGroup") if "MaxSize" in c["params"]]
    assert raised == ([max_size + 1, max_size] if instances == max_size else [])
    # and the group ends as the owner had it, its own instances serving, all patched
    assert (web["desired"], web["min_size"], web["max_size"]) == (instances, min_size, max_size)
    assert sorted(i["instance_id"] for i in in_service_at_end(report)) == sorted(
        i["instance_id"] for i in planned(report)
    )


@pytest.mark.parametrize(
    ("instances", "min_size", "max_size", "refused"),
    [(1, 1, 1, "fewer than two InService instances (1)"), (3, 3, 3, "desired capacity 3 minus one is below MinSize 3")],
    ids=["one", "at-min"],
)
def test_without_keep_capacity_or_lower_min_size_the_preflight_refuses_naming_both_ways(
    instances, min_size, max_size, refused
):
    # Given the same small groups, and a run without KeepCapacity or LowerMinSize
    scenario = {"groups": [group(instances=instances, min_size=min_size, max_size=max_size)]}

    # When the run is simulated
    report = simulate(scenario)

    # Then it is refused before anything is touched, the message naming how to go on
    assert report["status"] == "FAILED" and report["error"] == "PreflightFailed"
    assert refused in report["cause"] and "KeepCapacity: true" in report["cause"]
    assert [c for c in report["api_calls"] if c["service"] != "dynamodb"] == []  # only the run's hold, let go


def test_the_default_run_loses_capacity_keep_capacity_does_not():
    # Given the same group of four patched with and without KeepCapacity
    default = simulate({"groups": [group()]})
    kept = simulate({"groups": [group()], "input": KEEP})

    # Then the default run serves one short for each instance's patch, KeepCapacity never
    assert the_group(default)["min_healthy"] == 3 and the_group(default)["capacity_seconds_lost"] > 4 * 300
    assert the_group(kept)["min_healthy"] == 4 and the_group(kept)["capacity_seconds_lost"] == 0
    # and it takes one launch and warm-up longer, not more
    extra = kept["virtual_seconds"] - default["virtual_seconds"]
    assert 0 < extra < 200


@pytest.mark.parametrize(
    ("faults", "run_input", "status"),
    [
        ({"1": "patch_failed"}, {"MaxErrors": 0}, "FAILED"),  # the error budget stops the run after instance 1
        ({"1": "patch_failed"}, {"MaxErrors": 2}, "SUCCEEDED"),  # a failure within the budget, the run goes on
        ({"0": "unhealthy_after_patch"}, {"MaxErrors": 0}, "FAILED"),  # the failed instance's return
        ({"1": "alarm_after_patch"}, {}, "FAILED"),  # the gate stops the run
        ({"0": "paused_after_patch"}, {}, "SUCCEEDED"),  # the group is paused
        ({"2": "patch_timeout"}, {"MaxErrors": 0, "CommandTimeoutSeconds": 600}, "FAILED"),
    ],
    ids=["budget", "failure-tolerated", "unhealthy-after-patch", "alarm", "paused", "timeout"],
)
def test_every_failure_path_gives_the_added_instance_back(faults, run_input, status):
    # Given a run with KeepCapacity over a group at its MaxSize, and a failure
    scenario = {
        "groups": [group(instances=4, max_size=4, alarm="web-5xx", faults=faults)],
        "input": {**KEEP, **run_input},
    }

    # When the run is simulated
    report = simulate(scenario)

    # Then it ends as that failure ends a run, and the instance added is removed (simulate's invariants: desired
    # capacity, MinSize and MaxSize the owner's), never more than one, and the capacity never fell below the start
    assert report["status"] == status
    assert [i["instance_id"] for i in added(report)] == removed(report)
    web = the_group(report)
    assert (web["desired"], web["min_size"], web["max_size"]) == (4, 1, 4)
    assert len(in_service_at_end(report)) == 4


@pytest.mark.parametrize("moment", [30, 200, 700])
def test_a_stop_by_hand_gives_the_added_instance_back_in_the_clean_up(moment):
    # Given a run with KeepCapacity stopped by hand while the instance is added, while instance 0 is out, later
    scenario = {"groups": [group(instances=3, max_size=3)], "input": KEEP, "stop_at": moment}

    # When the run is simulated
    report = simulate(scenario)

    # Then the clean-up removes what was added and says so (simulate's invariants: the owner's sizes)
    assert report["status"] == "ABORTED"
    assert [i["instance_id"] for i in added(report)] == removed(report)
    assert "the instance KeepCapacity added given back" in cleanup_alerts(report)[0]["message"]
    assert len(in_service_at_end(report)) == 3


@pytest.mark.parametrize("instances", [1, 3])
def test_a_dead_run_s_added_instance_serves_until_the_next_run_lets_go_of_the_group(instances):
    # Given a group with one instance more than its own: a dead run added it and recorded it in the ledger
    scenario = {
        "groups": [group(instances=instances, max_size=instances, dead_run_added_instance=True)],
        "input": {"MaxErrors": 0, "KeepCapacity": instances == 1},
    }

    # When a run is simulated
    report = simulate(scenario)

    # Then it patches every instance, the dead run's added one included, and removes one at the end: the group is
    # back to the owner's desired capacity and MaxSize, with no second instance added
    assert report["status"] == "SUCCEEDED"
    assert calls(report, "SetDesiredCapacity") == []
    assert len(removed(report)) == 1
    web = the_group(report)
    assert (web["desired"], web["max_size"]) == (instances, instances)
    assert web["min_healthy"] >= instances


def test_an_added_instance_that_never_becomes_healthy_refuses_its_group_only():
    # Given two groups, "web" launching only instances that fail their health checks, and KeepCapacity
    scenario = {
        "groups": [group("api", instances=2), group("web", instances=3, max_size=3, launches_unhealthy=True)],
        "input": {**KEEP, "HealthTimeoutSeconds": 300},
    }

    # When the run is simulated
    report = simulate(scenario)

    # Then "web" is refused: none of its instances is taken out, one alert says why, the added instance removed
    assert report["status"] == "SUCCEEDED"
    assert [i["result"] for i in planned(report, "web")] == ["NotStarted"] * 3
    assert calls(report, "EnterStandby", "web") == []
    paused = [n for n in report["notifications"] if n["subject"].startswith("Patching paused: group web")]
    assert len(paused) == 1 and "AddedInstanceNotHealthy" not in paused[0]["subject"]
    assert "was not InService and healthy in every load balancer in time" in paused[0]["message"]
    assert report["summary"]["PausedGroups"] == ["web"]
    web = the_group(report, "web")
    assert (web["desired"], web["max_size"]) == (3, 3)
    # and "api" is patched at full capacity, its added instance removed
    assert [i["result"] for i in planned(report, "api")] == ["Completed"] * 2
    assert the_group(report, "api")["min_healthy"] >= 2


@pytest.mark.parametrize(
    ("event", "moved"),
    [
        ({"at": 150, "do": "scale_out", "count": 2}, 2),  # a scaling policy while instance 0 is out
        ({"at": 150, "do": "scale_in", "count": 1}, -1),
        ({"at": 900, "do": "scale_in", "count": 2}, -2),  # between two instances
        ({"at": 40, "do": "terminate", "index": 4}, 0),  # the added instance lost to a Spot interruption, launching
        ({"at": 300, "do": "terminate", "index": 4}, 0),  # and while it serves
        ({"at": 300, "do": "unhealthy", "index": 4}, 0),  # replaced by Auto Scaling
        ({"at": 600, "do": "set_size", "desired": 7}, None),  # a person sets the desired capacity
        ({"at": 600, "do": "set_size", "min_size": 5}, None),  # the owner raises MinSize to the group's size
    ],
    ids=[
        "scale-out",
        "scale-in-out",
        "scale-in-between",
        "added-lost-launching",
        "added-lost",
        "added-unhealthy",
        "desired-set",
        "min-raised",
    ],
)
def test_a_scaling_change_during_the_run_stands_and_the_run_removes_no_more_than_it_added(event, moved):
    # Given a run with KeepCapacity over a group of four, and the fleet changing under it
    scenario = {"groups": [group()], "input": KEEP, "events": [{"group": "web", **event}]}

    # When the run is simulated
    report = simulate(scenario)

    # Then it succeeds, every instance still in the group is patched (or joined after the run let go of it), and
    # each pass that took instances out (the plan, then the newcomers') added one and removed at most that one;
    # simulate's invariants check the group's sizes end as the scaling and the owner made them
    assert report["status"] == "SUCCEEDED"
    additions = calls(report, "SetDesiredCapacity")
    assert 1 <= len(additions) <= len(report["run_executions"])
    assert len(removed(report)) <= len(additions)
    lines = {line["InstanceId"]: line for line in report["summary"]["Instances"]}
    for instance in in_service_at_end(report):
        assert lines[instance["instance_id"]]["Result"] == "Completed" or instance["launched_during_run"]
    if moved is not None:
        assert the_group(report)["desired"] == 4 + moved
    # the group never served fewer than it had, but for what the fleet events took (a scale-in, a loss)
    if moved == 0 or (moved or 0) > 0:
        assert the_group(report)["min_healthy"] >= 4 - (event["do"] in ("terminate", "unhealthy"))


def test_groups_side_by_side_each_get_their_own_instance_added_and_removed():
    # Given two groups patched side by side with KeepCapacity, one at its MaxSize
    scenario = {
        "groups": [group("web", instances=3, max_size=3), group("api", instances=2)],
        "input": {**KEEP, "GroupConcurrency": 2},
    }

    # When the run is simulated
    report = simulate(scenario)

    # Then each group got one instance, removed again, and neither served fewer than it had
    assert report["status"] == "SUCCEEDED"
    for name, size in (("web", 3), ("api", 2)):
        assert [c["params"]["DesiredCapacity"] for c in calls(report, "SetDesiredCapacity", name)] == [size + 1]
        assert [i["instance_id"] for i in added(report, name)] == [
            c["params"]["InstanceId"]
            for c in calls(report, "TerminateInstanceInAutoScalingGroup")
            if c["params"]["InstanceId"] in {i["instance_id"] for i in added(report, name)}
        ]
        assert the_group(report, name)["min_healthy"] >= size
    assert len(removed(report)) == 2


def test_with_bake_ami_the_instance_added_from_the_unpatched_image_is_the_one_removed():
    # Given a run with KeepCapacity and BakeAmi over a group at its MaxSize
    scenario = {"groups": [group(instances=3, max_size=3)], "input": {**KEEP, "BakeAmi": True}}

    # When the run is simulated
    report = simulate(scenario)

    # Then the group is baked, and the instance removed is the one added (launched from the old image) while the
    # patched ones stay: the group ends with only patched instances, launching from the baked image
    assert report["status"] == "SUCCEEDED"
    assert [i["instance_id"] for i in added(report)] == removed(report)
    assert [i["result"] for i in in_service_at_end(report)] == ["Completed"] * 3
    assert the_group(report)["image_id"] in {image["image_id"] for image in report["images"] if image["baked_by"]}


def test_with_skip_compliant_a_group_with_nothing_to_patch_gets_nothing_added():
    # Given a group whose instances are all compliant, and a run with KeepCapacity and SkipCompliant
    scenario = {"groups": [group(instances=3, compliant=[0, 1, 2])], "input": {**KEEP, "SkipCompliant": True}}

    # When the run is simulated
    report = simulate(scenario)

    # Then nothing was added or removed: the addition comes only before an instance leaves service
    assert report["status"] == "SUCCEEDED"
    assert [i["result"] for i in planned(report)] == ["Skipped"] * 3
    assert calls(report, "SetDesiredCapacity") == [] and removed(report) == []


def test_a_dry_run_says_what_it_would_add_and_changes_nothing():
    # Given a group at its MinSize and MaxSize, and a dry run with KeepCapacity
    scenario = {"groups": [group(instances=2, min_size=2, max_size=2)], "input": {**KEEP, "DryRun": True}}

    # When the run is simulated
    report = simulate(scenario)

    # Then the plan says what would be added, and nothing was changed
    assert report["status"] == "SUCCEEDED"
    plan = report["output"]["Plan"]["Groups"][0]
    assert plan["KeepCapacity"] == {
        "Adds": 1,
        "DesiredCapacity": "2 -> 3 while patching, then 2",
        "MaxSize": "2 -> 3 while patching, then 2",
    }
    assert [c for c in report["api_calls"] if c["service"] != "dynamodb"] == []


def test_a_run_over_several_executions_adds_once_and_removes_once(monkeypatch):
    # Given a budget of three instances per execution, and a run with KeepCapacity over a group of seven
    from autopatch import runs

    monkeypatch.setattr(runs, "EVENT_BUDGET", 3 * runs.EVENTS_PER_INSTANCE)
    report = simulate({"groups": [group(instances=7, max_size=7)], "input": KEEP})

    # Then the run spans three executions, the instance added in the first is removed in the last, once each, and
    # the group never served fewer than its seven
    assert report["status"] == "SUCCEEDED"
    assert len(report["run_executions"]) == 3
    assert len(calls(report, "SetDesiredCapacity")) == 1
    assert [i["instance_id"] for i in added(report)] == removed(report)
    last = report["run_executions"][-1]
    assert [c["execution"] for c in calls(report, "TerminateInstanceInAutoScalingGroup")] == [last]
    assert the_group(report)["min_healthy"] >= 7
    assert [i["result"] for i in planned(report)] == ["Completed"] * 7
