"""ECS draining in enter_standby, check_standby and check_health: an instance that is an ECS container instance is
set DRAINING before it leaves service, the standby wait lasts until its service tasks left (DrainTimedOut past
DrainTimeoutSeconds), and it is ACTIVE again once healthy. ECS is the simulator's model (moto's lacks the calls:
the `ecs` fixture in conftest.py)."""

import pytest

from autopatch.errors import DrainTimedOut, EcsClusterNotAllowed
from tests.handlers.helpers import RUN_ID, ledger_item, set_group_tag, standby_event, twice, wait_event


@pytest.fixture(autouse=True)
def run_ledger(ledger):
    return ledger


def ecs_calls(api_calls, operation=None):
    """(operation, params) of the ECS calls the handlers made, reads included."""
    return [(name, params) for service, name, params in api_calls if service == "ecs" and operation in (None, name)]


def statuses(cluster):
    return {i: c.status for i, c in cluster.container_instances.items()}


def healthy_target(aws, fleet, instance):
    elbv2 = aws.client("elbv2")
    registered = elbv2.describe_target_health(TargetGroupArn=fleet.target_group_arn)["TargetHealthDescriptions"]
    if instance not in {d["Target"]["Id"] for d in registered}:
        elbv2.register_targets(TargetGroupArn=fleet.target_group_arn, Targets=[{"Id": instance}])


@pytest.mark.parametrize("tasks", [1, 3])
@pytest.mark.parametrize("timeout", [30, 900, 7200])
def test_enter_standby_drains_the_container_instance_of_a_group_found_through_its_capacity_provider(
    api_calls, aws, fleet, ecs, frozen_now, load_handler, lambda_context, run_ledger, tasks, timeout
):
    # Given a group that is the capacity of an ECS cluster through its capacity provider
    cluster = ecs.cluster("web", tasks, 60)
    instance, *others = fleet.instance_ids
    app = load_handler("enter_standby")
    # When its first instance is sent to standby, twice (a retry)
    twice(app, standby_event(instance, DrainTimeoutSeconds=timeout), lambda_context)
    # Then its container instance alone is DRAINING, set once, and the ledger says the run drained it until when
    assert statuses(cluster) == {instance: "DRAINING", **{other: "ACTIVE" for other in others}}
    updates = ecs_calls(api_calls, "UpdateContainerInstancesState")
    assert [(p["status"], p["cluster"]) for _, p in updates] == [("DRAINING", cluster.arn)]
    drain = ledger_item(aws, run_ledger, f"drain#{instance}")
    assert drain["RunId"]["S"] == RUN_ID
    assert drain["ContainerInstance"]["S"] == cluster.container_instances[instance].arn
    assert int(drain["Deadline"]["N"]) == frozen_now + timeout
    # and the container instance was found by the instance's id in the cluster query language
    listed = ecs_calls(api_calls, "ListContainerInstances")[0][1]
    assert listed["filter"] == f"ec2InstanceId == {instance}" and listed["status"] == "ACTIVE"


@pytest.mark.parametrize("named", ["arn", "name"])
def test_the_cluster_named_by_the_group_tag_is_drained_without_a_capacity_provider_lookup(
    api_calls, aws, fleet, ecs, frozen_now, load_handler, lambda_context, named
):
    # Given a group tagged AutoPatchEcsCluster with its cluster's ARN or name
    cluster = ecs.cluster("web", 2, 60)
    set_group_tag(aws, "web", "AutoPatchEcsCluster", cluster.arn if named == "arn" else cluster.name)
    instance = fleet.instance_ids[1]
    # When an instance is sent to standby
    load_handler("enter_standby").lambda_handler(standby_event(instance), lambda_context)
    # Then its container instance is DRAINING, and no capacity provider was looked up
    assert cluster.container_instances[instance].status == "DRAINING"
    assert ecs_calls(api_calls, "DescribeCapacityProviders") == []


def test_a_group_that_is_no_cluster_capacity_costs_one_lookup_per_run_and_no_ecs_call_per_instance(
    api_calls, aws, fleet, ecs, load_handler, lambda_context, make_lambda_context, clock
):
    # Given a group that is no ECS cluster's capacity
    app = load_handler("enter_standby")
    # When two of its instances are sent to standby and checked, one after the other
    for instance in fleet.instance_ids[:2]:
        app.lambda_handler(standby_event(instance), lambda_context)
        load_handler("check_standby").lambda_handler(wait_event(instance, clock.now + 900), make_lambda_context())
    # Then ECS was asked once which cluster uses the group, and nothing about its instances
    assert [name for name, _ in ecs_calls(api_calls)] == ["DescribeCapacityProviders"]


@pytest.mark.parametrize("drain_seconds", [10, 120, 280])
def test_check_standby_waits_until_the_service_tasks_left_the_drained_container_instance(
    aws, fleet, ecs, clock, load_handler, lambda_context, make_lambda_context, drain_seconds
):
    # Given an instance in Standby whose container instance the run set DRAINING, its tasks leaving after a while
    cluster = ecs.cluster("web", 2, drain_seconds)
    instance, *others = fleet.instance_ids
    load_handler("enter_standby").lambda_handler(standby_event(instance), lambda_context)
    # When its standby is checked, polling every 5 seconds within a 5-minute invocation
    result = load_handler("check_standby").lambda_handler(wait_event(instance, clock.now + 900), make_lambda_context())
    # Then the invocation waited for its tasks to go, and they run on the other container instances now
    assert result == {"InStandby": True}
    assert drain_seconds <= sum(clock.slept) < drain_seconds + 5
    assert cluster.container_instances[instance].tasks == []
    assert sum(len(cluster.container_instances[other].tasks) for other in others) == 3 * 2


@pytest.mark.parametrize("timeout", [30, 200])
def test_a_task_that_never_leaves_fails_the_standby_wait_with_drain_timed_out(
    aws, fleet, ecs, clock, load_handler, lambda_context, make_lambda_context, timeout
):
    # Given a drained container instance one of whose tasks never leaves
    cluster = ecs.cluster("web", 3, 10)
    instance = fleet.instance_ids[0]
    ecs.instance(instance).faults.add("drain_stuck")
    load_handler("enter_standby").lambda_handler(standby_event(instance, DrainTimeoutSeconds=timeout), lambda_context)
    # When its standby is checked
    app = load_handler("check_standby")
    with pytest.raises(DrainTimedOut) as caught:
        app.lambda_handler(wait_event(instance, clock.now + 900), make_lambda_context())
    # Then the wait ended past DrainTimeoutSeconds, naming the task that stayed
    stuck = cluster.container_instances[instance].tasks
    assert timeout < sum(clock.slept) <= timeout + 5
    assert len(stuck) == 1 and stuck[0] in str(caught.value)
    assert "DrainTimeoutSeconds" in str(caught.value)


def test_check_health_sets_active_again_the_container_instance_the_run_drained_once_healthy(
    api_calls, aws, fleet, ecs, clock, load_handler, lambda_context, make_lambda_context, run_ledger
):
    # Given an instance the run drained and returned to service, healthy in its target group
    cluster = ecs.cluster("web", 2, 10)
    instance = fleet.instance_ids[0]
    load_handler("enter_standby").lambda_handler(standby_event(instance), lambda_context)
    aws.client("autoscaling").exit_standby(AutoScalingGroupName="web", InstanceIds=[instance])
    healthy_target(aws, fleet, instance)
    # When its health is checked, twice
    app = load_handler("check_health")
    results = [app.lambda_handler(wait_event(instance, clock.now + 600), make_lambda_context()) for _ in range(2)]
    # Then it is healthy and ACTIVE again, set once, and the ledger no longer owes it
    assert results == [{"Healthy": True}] * 2
    assert cluster.container_instances[instance].status == "ACTIVE"
    updates = [p["status"] for _, p in ecs_calls(api_calls, "UpdateContainerInstancesState")]
    assert updates == ["DRAINING", "ACTIVE"]
    assert ledger_item(aws, run_ledger, f"drain#{instance}") is None


def test_check_health_leaves_draining_a_container_instance_someone_else_drained(
    api_calls, aws, fleet, ecs, clock, load_handler, make_lambda_context
):
    # Given a container instance that its owner set DRAINING, not a run
    cluster = ecs.cluster("web", 2, 10)
    instance = fleet.instance_ids[0]
    cluster.container_instances[instance].status = "DRAINING"
    healthy_target(aws, fleet, instance)
    # When the instance's health is checked
    result = load_handler("check_health").lambda_handler(wait_event(instance, clock.now + 600), make_lambda_context())
    # Then it stays DRAINING, untouched
    assert result == {"Healthy": True}
    assert cluster.container_instances[instance].status == "DRAINING"
    assert ecs_calls(api_calls, "UpdateContainerInstancesState") == []


@pytest.mark.parametrize(
    ("allowed", "drains"),
    [("*", True), ("web-cluster", True), ("batch,web-cluster", True), ("batch", False), ("web", False)],
)
def test_only_a_cluster_the_stack_lists_is_drained_and_another_leaves_the_instance_in_service(
    api_calls, aws, fleet, ecs, frozen_now, load_handler, lambda_context, monkeypatch, allowed, drains
):
    # Given a group that is the capacity of the ECS cluster "web-cluster", and the clusters the stack lists
    monkeypatch.setenv("ECS_CLUSTER_NAMES", allowed)
    cluster = ecs.cluster("web", 2, 60)
    instance = fleet.instance_ids[0]
    app = load_handler("enter_standby")
    # When its first instance is sent to standby
    if drains:
        app.lambda_handler(standby_event(instance), lambda_context)
        # Then a listed cluster's container instance is drained, and the instance goes to Standby
        assert cluster.container_instances[instance].status == "DRAINING"
        return
    with pytest.raises(EcsClusterNotAllowed, match="ECS cluster web-cluster, which the stack's EcsClusterNames"):
        app.lambda_handler(standby_event(instance), lambda_context)
    # Then another's is refused before anything changes: not drained, still InService
    assert cluster.container_instances[instance].status == "ACTIVE"
    assert ecs_calls(api_calls, "UpdateContainerInstancesState") == []
    assert not [name for service, name, _ in api_calls if name == "EnterStandby"]
