"""The calls moto lacks altogether, answered by the simulator's own AwsModel for code that runs on plain moto.

The handler tests run each handler against moto alone, without the simulated timing of the rest of AwsModel:
only the operations in GAPS go to the model, on the groups and instances moto holds (each known to the model as
a SimGroup and a SimInstance once a call or a knob names it), so those tests and the simulator get the same
answers from the same code. The knobs are the model's own: SimInstance.agent_online, .registered, .patches and
.last_operation, SimGroup.refreshes.
"""

import datetime as dt

from moto.autoscaling.models import autoscaling_backends
from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

from simulator.clock import VirtualClock

from .common import AwsError, SimGroup, SimInstance, error_response, ok_response
from .model import AwsModel

# (service, operation) of the calls the project makes that moto does not implement
GAPS = {
    ("ssm", "DescribeInstanceInformation"),
    ("ssm", "DescribeInstancePatchStates"),
    ("autoscaling", "DescribeInstanceRefreshes"),
}


class MotoGaps:
    """An AwsModel that answers GAPS on the clients it is installed on; moto answers everything else."""

    def __init__(self, region: str, account: str = DEFAULT_ACCOUNT_ID):
        backends = {
            "autoscaling": autoscaling_backends[account][region],
            "cloudwatch": cloudwatch_backends[account][region],
            "ec2": ec2_backends[account][region],
        }
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

    def _sync(self) -> None:
        """Every group and instance moto holds, known to the model (those it knows already keep their state)."""
        for name, group in self.model.asg.autoscaling_groups.items():
            if name not in self.model.groups:
                self.model.groups[name] = SimGroup(name, list(group.target_group_arns or []), 0, 0)
            for index, state in enumerate(group.instance_states):
                if state.instance.id not in self.model.instances:
                    self.model.instances[state.instance.id] = SimInstance(state.instance.id, name, index)

    def _before_call(self, model, context, **_):
        service = model.service_model.service_name
        if (service, model.name) not in GAPS:
            return None
        self._sync()
        try:
            return ok_response(self.model.handle(service, model.name, context.get("simulator_params", {})))
        except AwsError as error:
            return error_response(error)


def _remember_params(params, context, **_):
    context["simulator_params"] = params


def _nothing(*_):
    pass
