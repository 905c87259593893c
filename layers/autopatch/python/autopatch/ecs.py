"""ECS container instances: an instance of a group that is an ECS cluster's capacity is drained (DRAINING) before
it leaves service, and set ACTIVE again once it is healthy.

The cluster is found once per run and group (kept in the ledger), so a group that is no cluster's capacity costs
one lookup, and its instances no ECS call. The group's tag AutoPatchEcsCluster names the cluster; without it, the
cluster that uses the group's capacity provider (DescribeCapacityProviders: autoScalingGroupProvider.
autoScalingGroupArn is the group's ARN). Draining, as AWS describes it
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/container-instance-draining.html): no new task is
placed on a DRAINING container instance, and its service tasks are stopped and replaced elsewhere as their
service's deployment configuration allows; tasks started by hand (RunTask) are not stopped."""

import os
import time

from . import groups, ledger
from .clients import client
from .errors import ContainerInstanceNotUpdated, DrainTimedOut, EcsClusterNotAllowed

CLUSTER_TAG = "AutoPatchEcsCluster"
SERVICE_PREFIX = "ecs-svc/"  # a task a service started: its startedBy (DescribeTasks)
DESCRIBE_CLUSTERS_MAX = 100  # DescribeClusters takes at most 100 clusters
DESCRIBE_TASKS_MAX = 100  # DescribeTasks takes at most 100 tasks


def cluster_of(run_id: str, group_name: str) -> str | None:
    """The cluster whose capacity the group is, or None; looked up once per run and group."""
    known = ledger.cluster(run_id, group_name)
    if known is not None:
        return known["Cluster"]
    found = _find_cluster(groups.describe_group(group_name))
    ledger.remember_cluster(run_id, group_name, found)
    return found


def _find_cluster(group: dict) -> str | None:
    tagged = groups.tag_value(group, CLUSTER_TAG)
    if tagged:
        return tagged
    providers = [
        provider["name"]
        for page in _pages("describe_capacity_providers", "capacityProviders")
        for provider in page
        if provider.get("autoScalingGroupProvider", {}).get("autoScalingGroupArn") == group["AutoScalingGroupARN"]
    ]
    if not providers:
        return None
    arns = [arn for page in _pages("list_clusters", "clusterArns") for arn in page]
    for start in range(0, len(arns), DESCRIBE_CLUSTERS_MAX):
        described = client("ecs").describe_clusters(clusters=arns[start : start + DESCRIBE_CLUSTERS_MAX])
        for cluster in described["clusters"]:
            if set(providers) & set(cluster.get("capacityProviders", [])):
                return cluster["clusterArn"]
    return None


def _pages(operation: str, key: str, **params):
    """Each page's key of an ECS list or describe call that pages with nextToken."""
    while True:
        page = getattr(client("ecs"), operation)(**params)
        yield page.get(key, [])
        if not page.get("nextToken"):
            return
        params["nextToken"] = page["nextToken"]


def start_draining(run_id: str, group_name: str, instance_id: str, timeout_seconds: int) -> str | None:
    """Set the instance's container instance DRAINING, recorded first in the ledger with the deadline of its drain.
    Returns the container instance's ARN, or None when the instance is not one (or was DRAINING already without
    this run: whoever drained it sets it ACTIVE). Safe to repeat: a drain already recorded is kept as it is."""
    cluster = cluster_of(run_id, group_name)
    if cluster is None:
        return None
    _require_allowed(cluster, instance_id)
    recorded = ledger.drain(instance_id)
    if recorded:
        return recorded["ContainerInstance"]
    found = client("ecs").list_container_instances(
        cluster=cluster, filter=f"ec2InstanceId == {instance_id}", status="ACTIVE"
    )
    if not found["containerInstanceArns"]:
        return None
    container_instance = found["containerInstanceArns"][0]
    ledger.remember_drain(run_id, instance_id, cluster, container_instance, int(time.time()) + timeout_seconds)
    failure = _set_status(cluster, container_instance, "DRAINING")
    if failure:
        ledger.forget_drain(instance_id)
        raise ContainerInstanceNotUpdated(f"{container_instance} could not be set DRAINING: {failure}.")
    return container_instance


def _require_allowed(cluster: str, instance_id: str) -> None:
    """EcsClusterNotAllowed, before anything is changed, for a cluster the stack's EcsClusterNames does not list
    ("*": any): its role may not set the container instance DRAINING, so the instance is not taken out."""
    allowed = [name.strip() for name in os.environ.get("ECS_CLUSTER_NAMES", "*").split(",") if name.strip()]
    name = cluster.rsplit("/", 1)[-1]  # a cluster's name, or its ARN (arn:...:cluster/<name>)
    if "*" not in allowed and name not in allowed:
        raise EcsClusterNotAllowed(
            f"{instance_id} is a container instance of ECS cluster {name}, which the stack's EcsClusterNames"
            f" ({', '.join(allowed)}) does not list: it is not drained nor taken out of service."
        )


def drained(drain: dict | None) -> bool:
    """True once no task of a service runs on the drained container instance (drain: ledger.drain's, None when the
    run drained nothing). Raises DrainTimedOut past the drain's deadline."""
    if drain is None:
        return True
    cluster, container_instance = drain["Cluster"], drain["ContainerInstance"]
    tasks = [
        arn
        for page in _pages(
            "list_tasks", "taskArns", cluster=cluster, containerInstance=container_instance, desiredStatus="RUNNING"
        )
        for arn in page
    ]
    staying = []
    for start in range(0, len(tasks), DESCRIBE_TASKS_MAX):
        described = client("ecs").describe_tasks(cluster=cluster, tasks=tasks[start : start + DESCRIBE_TASKS_MAX])
        staying += [
            task["taskArn"]
            for task in described["tasks"]
            if task.get("startedBy", "").startswith(SERVICE_PREFIX) and task.get("lastStatus") != "STOPPED"
        ]
    if not staying:
        return True
    if time.time() > drain["Deadline"]:
        raise DrainTimedOut(
            f"{len(staying)} service task(s) still ran on container instance {container_instance} when"
            f" DrainTimeoutSeconds ran out: {', '.join(staying[:5])}."
        )
    return False


def reactivate(instance_id: str) -> str | None:
    """Set ACTIVE again the container instance a run of this stack set DRAINING, once its instance is healthy.
    Returns its ARN, None when no run drained it. Safe to repeat."""
    drain = ledger.drain(instance_id)
    if drain is None:
        return None
    failure = _set_status(drain["Cluster"], drain["ContainerInstance"], "ACTIVE")
    if failure and failure != "MISSING":  # MISSING: deregistered from its cluster, nothing left to set
        raise ContainerInstanceNotUpdated(f"{drain['ContainerInstance']} could not be set ACTIVE: {failure}.")
    ledger.forget_drain(instance_id)
    return drain["ContainerInstance"]


def _set_status(cluster: str, container_instance: str, status: str) -> str | None:
    """UpdateContainerInstancesState on one container instance; the reason of its failure, None when it worked."""
    answer = client("ecs").update_container_instances_state(
        cluster=cluster, containerInstances=[container_instance], status=status
    )
    return next((failure.get("reason", "unknown") for failure in answer.get("failures", [])), None)
