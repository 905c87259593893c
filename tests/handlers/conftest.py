"""Every Lambda handler against a moto account: the tags, lifecycle states, capacity, ledger items, alerts,
errors and AWS calls a user would notice. Each handler is also run twice with the same event, as a Lambda or
Step Functions retry would, to show that repeating it is safe.

Where moto cannot produce a state (an invocation that does not exist yet, a failed or running command, an
unhealthy target) botocore's Stubber answers for that one client; where moto lacks an API altogether the
simulator's own fake answers (DescribeInstanceInformation, DescribeInstancePatchStates, CancelCommand,
DescribeInstanceRefreshes, and DescribeWarmPool, which moto answers without instances: simulator/aws/gaps.py), on
the instances, groups and commands moto holds.
The handlers that poll inside one invocation sleep on a frozen clock that their sleep moves forward.
`api_calls` records the calls a handler made through autopatch.clients.
"""

import json
import time
from types import SimpleNamespace

import pytest
import time_machine

import autopatch.clients
import autopatch.polling
from simulator.aws.gaps import MotoGaps
from tests.handlers.helpers import ACCOUNT, NOW, REGION, STATE_MACHINE, hold, patch_event


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def clock(monkeypatch):
    """A clock frozen at NOW that the polling handlers' sleep moves forward instead of waiting.
    clock.at(seconds, action) runs an action once the clock reaches NOW + seconds."""
    with time_machine.travel(NOW, tick=False) as traveller:
        state = SimpleNamespace(now=NOW, slept=[], timers=[])
        state.at = lambda seconds, action: state.timers.append((NOW + seconds, action))

        def sleep(seconds):
            state.slept.append(seconds)
            traveller.shift(seconds)
            for timer in [t for t in state.timers if t[0] <= time.time()]:
                state.timers.remove(timer)
                timer[1]()

        monkeypatch.setattr(autopatch.polling, "sleep", sleep)
        yield state


@pytest.fixture
def executions(aws):
    """Step Functions executions of the state machine, to hold or have held a group's lock."""
    sfn = aws.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=STATE_MACHINE,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/autopatch-states",
    )["stateMachineArn"]
    return SimpleNamespace(
        machine=machine,
        start=lambda name: sfn.start_execution(stateMachineArn=machine, name=name)["executionArn"],
        stop=lambda arn: sfn.stop_execution(executionArn=arn),
    )


@pytest.fixture
def unimplemented(aws, api_calls):
    """moto 5.2.5 implements none of SSM DescribeInstanceInformation, DescribeInstancePatchStates and
    CancelCommand, nor Auto Scaling DescribeInstanceRefreshes: the simulator's fake answers them on autopatch's
    clients. `ping` maps an instance to its PingStatus (Online unless set, not registered with Systems Manager
    when None); `refreshes` maps a group to its instance refreshes; `group(name)` is the fake's SimGroup (the
    instances of its warm pool, .warm_instances, which moto's DescribeWarmPool never lists); `instance(id)` is the
    fake's SimInstance (what
    its agent last reported to Patch Manager: .patches, .last_operation) and `invocation(command id, instance id)`
    its record of a command moto sent (.status, .details, which moto's ListCommands and GetCommandInvocation
    show). All set the fake's own state."""
    gaps = MotoGaps(REGION)
    for service in ("ssm", "autoscaling"):
        gaps.install(autopatch.clients.client(service))
    return SimpleNamespace(
        ping=_PingStatus(gaps),
        refreshes=_Refreshes(gaps),
        instance=gaps.instance,
        invocation=gaps.invocation,
        group=gaps.group,
    )


@pytest.fixture(autouse=True)
def ecs(request):
    """ECS as the simulator's model answers it (moto's lacks what the project calls: simulator/aws/gaps.py), on
    autopatch's ECS client, for every handler test that has an AWS account: no cluster unless a test makes a group
    one, `ecs.cluster(group, tasks_per_instance, drain_seconds)` (the model's SimCluster: .container_instances by
    instance id, each with .status and .tasks; `ecs.instance(id)` the SimInstance whose .faults may hold
    drain_stuck)."""
    if "aws" not in request.fixturenames:
        return None
    request.getfixturevalue("aws")
    if "api_calls" in request.fixturenames:  # it records the calls of clients made after it
        request.getfixturevalue("api_calls")
    gaps = MotoGaps(REGION)
    gaps.install(autopatch.clients.client("ecs"))
    return SimpleNamespace(cluster=gaps.cluster, instance=gaps.instance)


@pytest.fixture
def held(aws, ledger, unimplemented):
    """The run holds "web" and "api", as it does from its start to its end, as the gate before each instance checks
    (with no instance refresh unless a test starts one: `unimplemented.refreshes`). Returns `unimplemented`."""
    for group in ("web", "api"):
        hold(aws, ledger, group)
    return unimplemented


class _PingStatus:
    """instance id -> PingStatus, written to the fake's SimInstance."""

    def __init__(self, gaps: MotoGaps):
        self.gaps = gaps

    def __setitem__(self, instance_id: str, status: str | None) -> None:
        if status not in ("Online", "ConnectionLost", None):
            raise ValueError(f"the fake knows PingStatus Online and ConnectionLost, not {status}")
        sim = self.gaps.instance(instance_id)
        sim.registered, sim.agent_online = status is not None, status == "Online"

    def update(self, statuses: dict) -> None:
        for instance_id, status in statuses.items():
            self[instance_id] = status


class _Refreshes:
    """group name -> its instance refreshes, written to the fake's SimGroup."""

    def __init__(self, gaps: MotoGaps):
        self.gaps = gaps

    def __setitem__(self, group: str, refreshes: list[dict]) -> None:
        self.gaps.group(group).refreshes = list(refreshes)


@pytest.fixture
def sent_patch(aws, fleet, ledger, load_handler, lambda_context):
    """An instance whose patch command this run sent, its task waiting on TOKEN."""
    instance = fleet.instance_ids[0]
    sent = load_handler("send_patch_command").lambda_handler(patch_event(instance), lambda_context)
    return SimpleNamespace(instance=instance, command_id=sent["CommandId"])
