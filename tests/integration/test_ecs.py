"""ECS draining (issue 16) through the simulator: a group that is an ECS cluster's capacity (scenario field `ecs`)
has each instance's container instance set DRAINING before it leaves service, patched once its service tasks
left (none lost at its reboot: groups[].tasks_lost), and ACTIVE again once healthy (groups[].container_instances);
a task that never leaves (fault drain_stuck) fails the instance with DrainTimedOut, back in service and ACTIVE; a
stop by hand while an instance drains is cleaned up to ACTIVE; a group that is no cluster's capacity costs one
ECS lookup per run, none per instance."""

import pytest
from simulation_checks import cleanup_alerts, run_alerts, simulate

pytestmark = pytest.mark.simulation


def group(name="web", instances=3, tasks=2, drain_seconds=60, **extra):
    ecs = {"ecs": {"tasks_per_instance": tasks, "drain_seconds": drain_seconds}} if tasks is not None else {}
    return {"name": name, "instances": instances, "min_size": 1, "max_size": 8, "patch_seconds": 300, **ecs, **extra}


def the_group(report, name="web"):
    return next(g for g in report["groups"] if g["name"] == name)


def members(report, name="web"):
    return [i for i in report["instances"] if i["group"] == name]


def ecs_calls(report, operation):
    return [c["params"] for c in report["ecs_calls"] if c["operation"] == operation]


def drains(report):
    """The container instances the run set to each status, in order."""
    return [(p["status"], p["containerInstances"][0]) for p in ecs_calls(report, "UpdateContainerInstancesState")]


@pytest.mark.parametrize(
    ("instances", "tasks", "drain_seconds"),
    [(2, 1, 30), (3, 2, 120), (4, 5, 600)],
    ids=["two-quick", "three-two-minutes", "four-ten-minutes"],
)
def test_an_ecs_group_is_patched_with_no_task_lost_and_every_container_instance_active(instances, tasks, drain_seconds):
    # Given a group that is an ECS cluster's capacity, its tasks taking drain_seconds to leave a DRAINING instance
    report = simulate({"groups": [group(instances=instances, tasks=tasks, drain_seconds=drain_seconds)], "input": {}})
    # Then every instance is patched, no task was running at any reboot, every container instance is ACTIVE
    assert report["status"] == "SUCCEEDED"
    assert {i["result"] for i in members(report)} == {"Completed"}
    assert the_group(report)["tasks_lost"] == 0
    assert set(the_group(report)["container_instances"].values()) == {"ACTIVE"}
    assert len(the_group(report)["container_instances"]) == instances
    # each was drained once and set ACTIVE once, one after the other
    seen = drains(report)
    assert [status for status, _ in seen] == ["DRAINING", "ACTIVE"] * instances
    assert all(seen[n][1] == seen[n + 1][1] for n in range(0, len(seen), 2))
    # and the run waited for the tasks: each patch came at least drain_seconds after its drain
    drained_at = [c["t"] for c in report["api_calls"] if c["operation"] == "UpdateContainerInstancesState"][::2]
    patched_at = [c["t"] for c in report["api_calls"] if c["operation"] == "SendCommand"]
    assert all(patch - drain >= drain_seconds for drain, patch in zip(drained_at, patched_at, strict=True))


@pytest.mark.parametrize("timeout", [60, 300])
@pytest.mark.parametrize("index", [0, 2])
def test_a_task_that_never_leaves_fails_the_instance_with_drain_timed_out_back_in_service_and_active(timeout, index):
    # Given an instance one of whose tasks never leaves it, and MaxErrors that lets the run go on
    spec = group(instances=3, tasks=2, drain_seconds=30, faults={str(index): "drain_stuck"})
    report = simulate({"groups": [spec], "input": {"DrainTimeoutSeconds": timeout, "MaxErrors": 1}})
    stuck = members(report)[index]
    # Then it failed with DrainTimedOut, unpatched (its task kept running: none lost), back InService and ACTIVE
    assert stuck["result"] == "Failed" and stuck["tag"] == "Failed"
    assert stuck["lifecycle_state"] == "InService"
    assert [i["result"] for i in members(report) if i is not stuck] == ["Completed", "Completed"]
    assert the_group(report)["tasks_lost"] == 0
    assert set(the_group(report)["container_instances"].values()) == {"ACTIVE"}
    assert not [
        c
        for c in report["api_calls"]
        if c["operation"] == "SendCommand" and stuck["instance_id"] in c["params"]["InstanceIds"]
    ]
    # and a person was told why, and that it is back in service
    (alert,) = [a for a in run_alerts(report) if stuck["instance_id"] in (a["subject"] or "")]
    assert "DrainTimedOut" in alert["message"] and "DrainTimeoutSeconds" in alert["message"]


@pytest.mark.parametrize("moment", [30, 200])
def test_a_stop_by_hand_while_an_instance_drains_sets_its_container_instance_active_in_the_clean_up(moment):
    # Given a run stopped by hand while its first instance drains (its tasks take ten minutes to leave)
    report = simulate({"groups": [group(instances=2, drain_seconds=600)], "input": {}, "stop_at": moment})
    first = members(report)[0]
    # Then the clean-up returned it to service and set its container instance ACTIVE again; nothing was lost
    assert report["status"] == "ABORTED"
    assert first["lifecycle_state"] == "InService"
    assert set(the_group(report)["container_instances"].values()) == {"ACTIVE"}
    assert the_group(report)["tasks_lost"] == 0
    assert [s for s, _ in drains(report)] == ["DRAINING", "ACTIVE"]
    (alert,) = cleanup_alerts(report)
    assert "ECS container instance set ACTIVE again" in alert["message"]


@pytest.mark.parametrize("keep_capacity", [False, True])
def test_with_group_concurrency_two_an_ecs_group_is_drained_and_a_plain_one_makes_no_ecs_call_per_instance(
    keep_capacity,
):
    # Given an ECS group and a plain group patched side by side (and with KeepCapacity, one instance added to each)
    scenario = {
        "groups": [group("ecs", instances=3, tasks=3, drain_seconds=90), group("plain", instances=3, tasks=None)],
        "input": {"GroupConcurrency": 2, "KeepCapacity": keep_capacity},
    }
    report = simulate(scenario)
    # Then both are patched; the ECS group lost no task and ends ACTIVE (the added instance took tasks too)
    assert report["status"] == "SUCCEEDED"
    assert {i["result"] for i in report["instances"] if not i["launched_during_run"]} == {"Completed"}
    assert the_group(report, "ecs")["tasks_lost"] == 0
    assert set(the_group(report, "ecs")["container_instances"].values()) == {"ACTIVE"}
    assert the_group(report, "plain")["container_instances"] == {}
    # ECS was asked once per group which cluster it is, and nothing about the plain group's instances
    assert len(ecs_calls(report, "DescribeCapacityProviders")) == 2
    plain = {i["instance_id"] for i in members(report, "plain")}
    assert not [c for c in report["ecs_calls"] if any(i in str(c["params"]) for i in plain)]
    patched = [i["instance_id"] for i in members(report, "ecs") if not i["launched_during_run"]]
    assert sorted(p["filter"] for p in ecs_calls(report, "ListContainerInstances")) == sorted(
        f"ec2InstanceId == {i}" for i in patched
    )


@pytest.mark.parametrize(("listed", "drained"), [("web-cluster", True), ("batch,web-cluster", True), ("batch", False)])
def test_only_the_clusters_the_stack_lists_are_drained(listed, drained):
    # Given a group that is the capacity of the cluster web-cluster, and the stack's EcsClusterNames
    report = simulate({"groups": [group(instances=2)], "input": {}, "parameters": {"EcsClusterNames": listed}})
    first = members(report)[0]
    if drained:
        # Then a listed cluster's instances are drained and patched
        assert {i["result"] for i in members(report)} == {"Completed"}
        assert [status for status, _ in drains(report)] == ["DRAINING", "ACTIVE"] * 2
        return
    # Then another cluster's instance is not drained nor taken out: failed, in service, its tasks all running
    assert first["result"] == "Failed" and first["lifecycle_state"] == "InService"
    assert drains(report) == [] and the_group(report)["tasks_lost"] == 0
    (alert,) = [a for a in run_alerts(report) if first["instance_id"] in (a["subject"] or "")]
    assert "EcsClusterNotAllowed" in alert["message"]
    assert report["status"] == "FAILED"
