"""The calls moto lacks altogether, answered by the simulator's own AwsModel for code that runs on plain moto.

The handler tests run each handler against moto alone, without the simulated timing of the rest of AwsModel:
only the operations in GAPS go to the model, on the groups, instances and Run Command invocations moto holds
(each known to the model as a SimGroup, a SimInstance and an Invocation once a call or a knob names it), so those
tests and the simulator get the same answers from the same code. The knobs are the model's own:
SimInstance.agent_online, .registered, .patches and .last_operation, SimGroup.refreshes and .warm_instances (the
pool itself is moto's, PutWarmPool), the ECS clusters MotoGaps.cluster makes of groups, Invocation.status and
.details (an Invocation of moto's command keeps its status in moto's, so ListCommands and GetCommandInvocation,
which moto answers, show what CancelCommand or a knob did to it).
"""

import datetime as dt

from moto.autoscaling.models import autoscaling_backends
from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ssm.models import ssm_backends

from simulator.clock import VirtualClock

from .common import AwsError, SimGroup, SimInstance, error_response, ok_response
from .ecs import SimCluster
from .model import AwsModel
from .ssm import Invocation

# (service, operation) of the calls the project makes that moto does not implement
GAPS = {
    ("ssm", "DescribeInstanceInformation"),
    ("ssm", "DescribeInstancePatchStates"),
    ("ssm", "CancelCommand"),
    ("autoscaling", "DescribeInstanceRefreshes"),
    ("autoscaling", "DescribeWarmPool"),  # moto answers it, without the pool's instances
    # moto's ECS lists no capacity provider without names, ignores ListContainerInstances' filter and never moves
    # a DRAINING container instance's tasks: the model's clusters (ecs.py) answer every ECS call the project makes
    *(
        ("ecs", operation)
        for operation in (
            "DescribeCapacityProviders",
            "ListClusters",
            "DescribeClusters",
            "ListContainerInstances",
            "UpdateContainerInstancesState",
            "ListTasks",
            "DescribeTasks",
        )
    ),
}


class MotoGaps:
    """An AwsModel that answers GAPS on the clients it is installed on; moto answers everything else."""

    def __init__(self, region: str, account: str = DEFAULT_ACCOUNT_ID):
        backends = {
            "autoscaling": autoscaling_backends[account][region],
            "cloudwatch": cloudwatch_backends[account][region],
            "ec2": ec2_backends[account][region],
        }
        self.ssm = ssm_backends[account][region]
        # A VirtualClock never entered tells the time as it is (time-machine's, in a test that freezes it); the
        # calls in GAPS set no timers, and what they log or send to EventBridge goes nowhere.
        clock = VirtualClock(dt.datetime.now(dt.UTC))
        self.model = AwsModel(clock, backends, _nothing, _nothing, _nothing)

    def install(self, client) -> None:
        """Answer GAPS on a boto3 client (botocore hooks on its own events)."""
        client.meta.events.register("before-parameter-build", _remember_params)
        client.meta.events.register("before-call", self._before_call)

    def instance(self, instance_id: str) -> SimInstance:
        """The model's record of an instance of one of moto's groups."""
        self._sync()
        return self.model.instances[instance_id]

    def group(self, name: str) -> SimGroup:
        self._sync()
        return self.model.groups[name]

    def cluster(self, group: str, tasks_per_instance: int, drain_seconds: int) -> SimCluster:
        """The group made the capacity of an ECS cluster of the model's (Ecs.add_cluster)."""
        self._sync()
        return self.model.add_cluster(group, tasks_per_instance, drain_seconds)

    def invocation(self, command_id: str, instance_id: str) -> Invocation:
        """The model's record of a command moto sent, on one instance."""
        self._sync()
        return self.model.invocations[(command_id, instance_id)]

    def _sync(self) -> None:
        """Every group, instance and command invocation moto holds, known to the model (those it knows already
        keep their state)."""
        for name, group in self.model.asg.autoscaling_groups.items():
            if name not in self.model.groups:
                self.model.groups[name] = SimGroup(name, list(group.target_group_arns or []), 0, 0)
            for index, state in enumerate(group.instance_states):
                if state.instance.id not in self.model.instances:
                    self.model.instances[state.instance.id] = SimInstance(state.instance.id, name, index)
        for command in self.ssm.list_commands(None, None):
            for invocation in command.invocations:
                key = (command.command_id, invocation["InstanceId"])
                if key not in self.model.invocations:
                    self.model.invocations[key] = MotoInvocation(command, invocation)

    def _before_call(self, model, context, **_):
        service = model.service_model.service_name
        if (service, model.name) not in GAPS:
            return None
        self._sync()
        try:
            return ok_response(self.model.handle(service, model.name, context.get("simulator_params", {})))
        except AwsError as error:
            return error_response(error)


class MotoInvocation(Invocation):
    """An invocation of a command moto sent, whose status and details are moto's (which leaves every command
    Success): the invocation's, and the command's, which follows the last of its invocations to change, as
    autopatch sends each command to one instance."""

    def __init__(self, command, invocation: dict):
        self.command, self.moto = command, invocation
        requested = command.requested_date_time.replace(tzinfo=dt.UTC)  # moto's naive UTC
        super().__init__(
            command.command_id,
            invocation["InstanceId"],
            command.document_name,
            command.comment,
            command.parameters,
            requested.timestamp(),
            command.timeout_seconds,
            invocation["Status"],
            invocation["StatusDetails"],
        )

    @property
    def status(self) -> str:
        return self.moto["Status"]

    @status.setter
    def status(self, status: str) -> None:
        self.moto["Status"] = self.command.status = status

    @property
    def details(self) -> str:
        return self.moto["StatusDetails"]

    @details.setter
    def details(self, details: str) -> None:
        self.moto["StatusDetails"] = self.command.status_details = details


def _remember_params(params, context, **_):
    context["simulator_params"] = params


def _nothing(*_):
    pass
