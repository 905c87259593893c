"""Every Lambda handler against a moto account: the tags, lifecycle states, capacity, ledger items, alerts,
errors and AWS calls a user would notice. Each handler is also run twice with the same event, as a Lambda or
Step Functions retry would, to show that repeating it is safe.

Where moto cannot produce a state (an invocation that does not exist yet, a failed or running command, an
unhealthy target) botocore's Stubber answers for that one client; where moto lacks an API altogether
(DescribeInstanceInformation, DescribeInstanceRefreshes, CancelCommand) a unittest.mock stand-in does.
The handlers that poll inside one invocation sleep on a frozen clock that their sleep moves forward.
`api_calls` records the calls a handler made through autopatch.clients.
"""

import json
import time
from types import SimpleNamespace
from unittest import mock

import pytest
import time_machine

import autopatch.clients
import autopatch.polling
from tests.handlers.helpers import ACCOUNT, NOW, STATE_MACHINE, patch_event


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
    """moto 5.2.5 implements neither SSM DescribeInstanceInformation nor Auto Scaling DescribeInstanceRefreshes:
    answer them on autopatch's clients. `ping` maps an instance to its PingStatus (Online when absent, not
    registered with Systems Manager when None); `refreshes` maps a group to its instance refreshes."""
    ping, refreshes = {}, {}

    def describe_instance_information(Filters, **_):
        ids = next(f["Values"] for f in Filters if f["Key"] == "InstanceIds")
        known = [i for i in ids if ping.get(i, "Online") is not None]
        return {"InstanceInformationList": [{"InstanceId": i, "PingStatus": ping.get(i, "Online")} for i in known]}

    def describe_instance_refreshes(AutoScalingGroupName, **_):
        return {"InstanceRefreshes": refreshes.get(AutoScalingGroupName, [])}

    ssm, autoscaling = autopatch.clients.client("ssm"), autopatch.clients.client("autoscaling")
    with (
        mock.patch.object(ssm, "describe_instance_information", side_effect=describe_instance_information),
        mock.patch.object(autoscaling, "describe_instance_refreshes", side_effect=describe_instance_refreshes),
    ):
        yield SimpleNamespace(ping=ping, refreshes=refreshes)


@pytest.fixture
def sent_patch(aws, fleet, ledger, load_handler, lambda_context):
    """An instance whose patch command this run sent, its task waiting on TOKEN."""
    instance = fleet.instance_ids[0]
    sent = load_handler("send_patch_command").lambda_handler(patch_event(instance), lambda_context)
    return SimpleNamespace(instance=instance, command_id=sent["CommandId"])
