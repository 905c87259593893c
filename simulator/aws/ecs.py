"""Amazon ECS for a group that is a cluster's capacity (scenario field `ecs`): its capacity provider, its cluster,
one container instance per instance of the group, and the service tasks that run on them.

moto 5.2.5 has ECS, but not as the project needs it: DescribeCapacityProviders without names fails (AWS lists
them all), ListContainerInstances ignores its cluster query language filter (so `ec2InstanceId == i-...` would
list every container instance), and a container instance set DRAINING keeps its tasks for ever. So the calls the
project makes are answered here, as AWS documents them:
- https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeCapacityProviders.html (no names: every
  provider of the account, FARGATE and FARGATE_SPOT included, which have no autoScalingGroupProvider)
- https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListContainerInstances.html (filter in the cluster
  query language, https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cluster-query-language.html;
  status ACTIVE | DRAINING | ...; ClusterNotFoundException for a cluster that does not exist)
- https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateContainerInstancesState.html (ACTIVE or
  DRAINING; a container instance that cannot be changed is listed in failures, MISSING when unknown)
- https://docs.aws.amazon.com/AmazonECS/latest/developerguide/container-instance-draining.html: a DRAINING
  container instance gets no new task; its service tasks are stopped and replaced on other container instances
  of the cluster (here drain_seconds after DRAINING, on the ACTIVE one with fewest tasks; with none ACTIVE they
  stay, as the scheduler cannot place a replacement, and move once one is); fault drain_stuck keeps one task there
- https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTasks.html and
  https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTasks.html (at most 100 tasks; a service's
  task has startedBy ecs-svc/<deployment id>)
A reboot of the instance (its patch) stops what still runs on it: those tasks are lost (counted) and the service
starts them again elsewhere. An instance launched during the run registers ACTIVE with no task; one EC2
terminated is deregistered, its tasks replaced elsewhere.
Moves are worked out when the cluster is next looked at (lazily, on the clock's time), so the handler tests,
whose clock sets no timers, get the same answers as the simulator.
"""

import re
import uuid
from dataclasses import dataclass, field

from .common import AwsError, ModelState

SERVICE_STARTED_BY = "ecs-svc/1234567890123456789"
DESCRIBE_TASKS_MAX = 100
FILTER = re.compile(r"^\s*ec2InstanceId\s*==\s*(i-[0-9a-f]+)\s*$")


@dataclass
class ContainerInstance:
    arn: str
    instance_id: str
    status: str = "ACTIVE"
    tasks: list = field(default_factory=list)  # task ARNs
    draining_since: float | None = None


@dataclass
class SimCluster:
    name: str
    arn: str
    group: str
    provider: str
    tasks_per_instance: int
    drain_seconds: int
    container_instances: dict = field(default_factory=dict)  # instance id -> ContainerInstance
    tasks_lost: int = 0


class Ecs(ModelState):
    """The ECS calls answered here, on the clusters kept in self.clusters."""

    clusters: dict[str, SimCluster]
    ecs_calls: list[dict]  # every ECS call the project made, reads included (the report's ecs_calls)

    def add_cluster(self, group: str, tasks_per_instance: int, drain_seconds: int) -> SimCluster:
        """The group becomes the capacity of a cluster of its own, through a capacity provider; its instances
        run tasks_per_instance service tasks each."""
        name = f"{group}-cluster"
        cluster = SimCluster(
            name,
            f"{self._ecs_arn()}:cluster/{name}",
            group,
            f"{group}-capacity",
            tasks_per_instance,
            drain_seconds,
        )
        self.clusters[cluster.arn] = cluster
        for sim in self.instances.values():
            if sim.group == group:
                self._register_container(cluster, sim.instance_id).tasks.extend(
                    self._task_arn(cluster) for _ in range(tasks_per_instance)
                )
        return cluster

    def cluster_of_group(self, group: str) -> SimCluster | None:
        return next((c for c in self.clusters.values() if c.group == group), None)

    def container_instance_statuses(self, group: str) -> dict[str, str]:
        """instance id -> its container instance's status (none without a cluster)."""
        cluster = self.cluster_of_group(group)
        if cluster is None:
            return {}
        self._settle_cluster(cluster)
        return {i: c.status for i, c in sorted(cluster.container_instances.items())}

    def rebooted(self, instance_id: str) -> None:
        """The instance rebooted (its patch): the tasks still on it stop, lost, and start again elsewhere."""
        sim = self.instances.get(instance_id)
        cluster = self.cluster_of_group(sim.group) if sim else None
        if cluster is None:
            return
        self._settle_cluster(cluster)
        container = cluster.container_instances.get(instance_id)
        if container and container.tasks:
            cluster.tasks_lost += len(container.tasks)
            self.log(self.clock.now(), cluster.group, instance_id, f"{len(container.tasks)} ECS task(s) lost at reboot")
            lost, container.tasks = container.tasks, []
            self._place_tasks(cluster, [self._task_arn(cluster) for _ in lost], exclude=instance_id)

    # the calls -------------------------------------------------------------------------------
    def _ecs_DescribeCapacityProviders(self, params):
        names = params.get("capacityProviders")
        providers: list[dict] = [
            {"name": n, "capacityProviderArn": self._provider_arn(n), "status": "ACTIVE"}
            for n in ("FARGATE", "FARGATE_SPOT")
        ]
        for cluster in self.clusters.values():
            group = self.asg.autoscaling_groups.get(cluster.group)
            providers.append(
                {
                    "name": cluster.provider,
                    "capacityProviderArn": self._provider_arn(cluster.provider),
                    "status": "ACTIVE",
                    "autoScalingGroupProvider": {
                        "autoScalingGroupArn": group.arn if group else "",
                        "managedTerminationProtection": "DISABLED",
                    },
                }
            )
        if names:
            providers = [p for p in providers if p["name"] in names or p["capacityProviderArn"] in names]
        return {"capacityProviders": providers}

    def _ecs_ListClusters(self, params):
        return {"clusterArns": sorted(self.clusters)}

    def _ecs_DescribeClusters(self, params):
        found, failures = [], []
        for name in params.get("clusters") or []:
            cluster = self._find_cluster(name)
            if cluster is None:
                failures.append({"arn": name, "reason": "MISSING"})
                continue
            found.append(
                {
                    "clusterArn": cluster.arn,
                    "clusterName": cluster.name,
                    "status": "ACTIVE",
                    "capacityProviders": [cluster.provider],
                }
            )
        return {"clusters": found, "failures": failures}

    def _ecs_ListContainerInstances(self, params):
        cluster = self._ecs_cluster(params)
        chosen = list(cluster.container_instances.values())
        if params.get("filter") is not None:
            match = FILTER.match(params["filter"])
            if not match:
                raise AwsError(
                    "InvalidParameterException", "The simulated cluster query language knows ec2InstanceId == only."
                )
            chosen = [c for c in chosen if c.instance_id == match.group(1)]
        if params.get("status"):
            chosen = [c for c in chosen if c.status == params["status"]]
        return {"containerInstanceArns": [c.arn for c in chosen]}

    def _ecs_UpdateContainerInstancesState(self, params):
        cluster = self._ecs_cluster(params)
        status = params["status"]
        if status not in ("ACTIVE", "DRAINING"):
            raise AwsError("InvalidParameterException", "Container instance status should be one of [ACTIVE, DRAINING]")
        updated, failures = [], []
        by_arn = {c.arn: c for c in cluster.container_instances.values()}
        for arn in params["containerInstances"]:
            container = by_arn.get(arn)
            if container is None:
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            if container.status != status:
                container.status = status
                container.draining_since = self.clock.now() if status == "DRAINING" else None
                self.log(self.clock.now(), cluster.group, container.instance_id, f"ECS container instance {status}")
            updated.append({"containerInstanceArn": arn, "ec2InstanceId": container.instance_id, "status": status})
        return {"containerInstances": updated, "failures": failures}

    def _ecs_ListTasks(self, params):
        cluster = self._ecs_cluster(params)
        wanted = params.get("containerInstance")
        return {
            "taskArns": [
                task
                for container in cluster.container_instances.values()
                if wanted in (None, container.arn)
                for task in container.tasks
            ]
        }

    def _ecs_DescribeTasks(self, params):
        cluster = self._ecs_cluster(params)
        if len(params["tasks"]) > DESCRIBE_TASKS_MAX:
            raise AwsError("InvalidParameterException", f"Tasks cannot be longer than {DESCRIBE_TASKS_MAX}.")
        where = {t: c for c in cluster.container_instances.values() for t in c.tasks}
        found, failures = [], []
        for arn in params["tasks"]:
            container = where.get(arn)
            if container is None:
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            found.append(
                {
                    "taskArn": arn,
                    "clusterArn": cluster.arn,
                    "containerInstanceArn": container.arn,
                    "startedBy": SERVICE_STARTED_BY,
                    "lastStatus": "RUNNING",
                    "desiredStatus": "RUNNING",
                }
            )
        return {"tasks": found, "failures": failures}

    # what ECS does on its own ----------------------------------------------------------------
    def _ecs_cluster(self, params) -> SimCluster:
        cluster = self._find_cluster(params.get("cluster", "default"))
        if cluster is None:
            raise AwsError("ClusterNotFoundException", "Cluster not found.")
        self._settle_cluster(cluster)
        return cluster

    def _find_cluster(self, name: str) -> SimCluster | None:
        return next((c for c in self.clusters.values() if name in (c.arn, c.name)), None)

    def _settle_cluster(self, cluster: SimCluster) -> None:
        """Register the group's new instances, deregister terminated ones, and move the tasks of container
        instances DRAINING for drain_seconds (all but one with fault drain_stuck)."""
        now = self.clock.now()
        for sim in self.instances.values():
            if (
                sim.group == cluster.group
                and not sim.ec2_terminated
                and sim.instance_id not in cluster.container_instances
            ):
                self._register_container(cluster, sim.instance_id)
        for instance_id in [i for i in cluster.container_instances if self.instances[i].ec2_terminated]:
            gone = cluster.container_instances.pop(instance_id)
            self._place_tasks(cluster, gone.tasks, exclude=instance_id)
        for container in cluster.container_instances.values():
            if container.status != "DRAINING" or not container.tasks or container.draining_since is None:
                continue
            if now < container.draining_since + cluster.drain_seconds:
                continue
            stuck = 1 if "drain_stuck" in self.instances[container.instance_id].faults else 0
            moving = container.tasks[stuck:]
            if moving and self._place_tasks(cluster, moving, exclude=container.instance_id):
                container.tasks = container.tasks[:stuck]
                self.log(now, cluster.group, container.instance_id, f"{len(moving)} ECS task(s) moved off (drained)")

    def _place_tasks(self, cluster: SimCluster, tasks: list, exclude: str) -> bool:
        """Start tasks on the cluster's ACTIVE container instances, fewest tasks first; False when there is none."""
        targets = [c for i, c in cluster.container_instances.items() if i != exclude and c.status == "ACTIVE"]
        if not targets:
            return False
        for task in tasks:
            min(targets, key=lambda c: len(c.tasks)).tasks.append(task)
        return True

    def _register_container(self, cluster: SimCluster, instance_id: str) -> ContainerInstance:
        arn = f"{self._ecs_arn()}:container-instance/{cluster.name}/{uuid.uuid4().hex}"
        container = ContainerInstance(arn, instance_id)
        cluster.container_instances[instance_id] = container
        return container

    def _task_arn(self, cluster: SimCluster) -> str:
        return f"{self._ecs_arn()}:task/{cluster.name}/{uuid.uuid4().hex}"

    def _provider_arn(self, name: str) -> str:
        return f"{self._ecs_arn()}:capacity-provider/{name}"

    def _ecs_arn(self) -> str:
        return f"arn:aws:ecs:{self.asg.region_name}:{self.asg.account_id}"
