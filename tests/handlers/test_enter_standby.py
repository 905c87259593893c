"""enter_standby: the instance to Standby, the group's capacity lowered once.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import pytest
from botocore.stub import Stubber

import autopatch.clients
from autopatch.errors import InstanceNotInGroup, InstanceNotInService, ResourceContention
from tests.handlers.helpers import (
    REGION,
    RUN_ID,
    calls_to,
    desired,
    group_of,
    ledger_item,
    lifecycle,
    mutating,
    raises_twice,
    set_lifecycle_state,
    standby_event,
    twice,
)


@pytest.fixture(autouse=True)
def run_ledger(ledger):
    """Every standby records in the run ledger what it changes on the group (AZRebalance suspended, at least)."""
    return ledger


def test_enter_standby_moves_the_instance_to_standby_and_lowers_capacity_once(
    aws, fleet, load_handler, lambda_context, api_calls, frozen_now
):
    # Given "web" with 3 InService instances, desired capacity 3
    instance = fleet.instance_ids[0]
    app = load_handler("enter_standby")
    # When the instance is sent to standby, twice
    first, second = twice(app, standby_event(instance), lambda_context)
    # Then the instance is in Standby (moto skips EnteringStandby) and capacity dropped by one, once
    assert lifecycle(aws, instance) == "Standby"
    assert desired(aws, "web") == 2
    assert calls_to(api_calls, "EnterStandby") == [
        {"AutoScalingGroupName": "web", "InstanceIds": [instance], "ShouldDecrementDesiredCapacity": True}
    ]
    # and each call returns the state it saw and a deadline TimeoutSeconds from now
    assert first == {"LifecycleState": "EnteringStandby", "Deadline": frozen_now + 900}
    assert second == {"LifecycleState": "Standby", "Deadline": frozen_now + 900}
    # and the other instances are untouched, MinSize and MaxSize too
    assert [lifecycle(aws, other) for other in fleet.instance_ids[1:]] == ["InService", "InService"]
    assert (group_of(aws, "web")["MinSize"], group_of(aws, "web")["MaxSize"]) == (1, 6)
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == []


def test_enter_standby_suspends_az_rebalance_once_recorded_first(
    aws, fleet, run_ledger, load_handler, lambda_context, api_calls
):
    # Given "web", none of its processes suspended
    instance = fleet.instance_ids[0]
    app = load_handler("enter_standby")
    # When the instance is sent to standby, twice
    twice(app, standby_event(instance), lambda_context)
    # Then AZRebalance is suspended, once, after the ledger recorded that this run suspended it
    assert [p["ProcessName"] for p in group_of(aws, "web")["SuspendedProcesses"]] == ["AZRebalance"]
    assert calls_to(api_calls, "SuspendProcesses") == [
        {"AutoScalingGroupName": "web", "ScalingProcesses": ["AZRebalance"]}
    ]
    operations = [name for _, name, _ in api_calls]
    assert operations.index("PutItem") < operations.index("SuspendProcesses") < operations.index("EnterStandby")
    assert ledger_item(aws, run_ledger, "azrebalance#web")["RunId"]["S"] == RUN_ID


@pytest.mark.parametrize("theirs", [["AZRebalance"], ["AZRebalance", "ScheduledActions"]])
def test_enter_standby_leaves_az_rebalance_its_owner_suspended(
    aws, fleet, run_ledger, load_handler, lambda_context, api_calls, theirs
):
    # Given "web" whose owner suspended AZRebalance (and maybe more)
    aws.client("autoscaling").suspend_processes(AutoScalingGroupName="web", ScalingProcesses=theirs)
    api_calls.clear()
    # When an instance is sent to standby
    load_handler("enter_standby").lambda_handler(standby_event(fleet.instance_ids[0]), lambda_context)
    # Then the run suspends nothing and records nothing: the suspension stays the owner's
    assert calls_to(api_calls, "SuspendProcesses") == []
    assert ledger_item(aws, run_ledger, "azrebalance#web") is None
    assert sorted(p["ProcessName"] for p in group_of(aws, "web")["SuspendedProcesses"]) == theirs


@pytest.mark.parametrize(
    ("owner_max", "max_at_end"), [(None, 3), (5, 5)], ids=["still-the-runs", "owner-set-5-meanwhile"]
)
def test_enter_standby_puts_back_a_max_size_the_run_raised_once_the_next_instance_is_out(
    aws, fleet, run_ledger, load_handler, lambda_context, api_calls, owner_max, max_at_end
):
    # Given "web" (3 instances, desired 3) whose MaxSize 3 the run raised to 4 to return an instance; the owner
    # may have set another MaxSize since
    asg = aws.client("autoscaling")
    asg.update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=4 if owner_max is None else owner_max)
    aws.client("dynamodb").put_item(
        TableName=run_ledger,
        Item={"Id": {"S": "maxsize#web"}, "Original": {"N": "3"}, "SetTo": {"N": "4"}, "RunId": {"S": RUN_ID}},
    )
    api_calls.clear()
    # When the group's next instance is sent to standby, twice
    twice(load_handler("enter_standby"), standby_event(fleet.instance_ids[1]), lambda_context)
    # Then, once it is entering standby (desired capacity 2), MaxSize is the owner's again, put back once if it was
    # still the run's; the record is gone, and no instance was terminated for it
    grp = group_of(aws, "web")
    assert (grp["MaxSize"], grp["DesiredCapacity"], len(grp["Instances"])) == (max_at_end, 2, 3)
    operations = [name for _, name, _ in api_calls]
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == (
        [] if owner_max else [{"AutoScalingGroupName": "web", "MaxSize": 3}]
    )
    if owner_max is None:
        assert operations.index("EnterStandby") < operations.index("UpdateAutoScalingGroup")
    assert ledger_item(aws, run_ledger, "maxsize#web") is None


def test_enter_standby_with_lower_min_size_lowers_a_group_at_its_minimum_once(
    aws, fleet_builder, ledger, load_handler, lambda_context, api_calls
):
    # Given "web" at its minimum (MinSize 3, desired 3), and a run with LowerMinSize
    web = fleet_builder.group("web", size=3, min_size=3)
    instance = web.instance_ids[0]
    app = load_handler("enter_standby")
    # When the instance is sent to standby, twice
    twice(app, standby_event(instance, LowerMinSize=True), lambda_context)
    # Then MinSize went to 2 once, the original is recorded for this run, and the instance is in Standby
    grp = group_of(aws, "web")
    assert (grp["MinSize"], grp["DesiredCapacity"], lifecycle(aws, instance)) == (2, 2, "Standby")
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == [{"AutoScalingGroupName": "web", "MinSize": 2}]
    item = ledger_item(aws, ledger, "minsize#web")
    assert (item["Original"]["N"], item["SetTo"]["N"], item["RunId"]["S"]) == ("3", "2", RUN_ID)


def test_enter_standby_with_lower_min_size_leaves_a_group_above_its_minimum(
    aws, fleet, ledger, load_handler, lambda_context, api_calls
):
    # Given "web" above its minimum (MinSize 1, desired 3), and a run with LowerMinSize
    app = load_handler("enter_standby")
    # When an instance is sent to standby
    app.lambda_handler(standby_event(fleet.instance_ids[0], LowerMinSize=True), lambda_context)
    # Then MinSize is untouched and nothing is recorded
    assert group_of(aws, "web")["MinSize"] == 1
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == []
    assert ledger_item(aws, ledger, "minsize#web") is None


def test_enter_standby_leaves_an_instance_that_is_already_entering_standby(
    aws, fleet, load_handler, lambda_context, api_calls
):
    # Given an instance on its way into Standby
    instance = fleet.instance_ids[0]
    set_lifecycle_state("web", instance, "EnteringStandby")
    app = load_handler("enter_standby")
    # When it is sent to standby again
    result = app.lambda_handler(standby_event(instance), lambda_context)
    # Then nothing is called on the group (the ledger notes again the capacity its standby took) and the state is
    # reported
    assert result["LifecycleState"] == "EnteringStandby"
    assert mutating(api_calls) == ["PutItem"]
    assert desired(aws, "web") == 3


def test_enter_standby_refuses_an_instance_of_another_group(
    aws, fleet, fleet_builder, load_handler, lambda_context, api_calls
):
    # Given an instance of the group "api"
    api = fleet_builder.group("api", size=2)
    stranger = api.instance_ids[0]
    app = load_handler("enter_standby")
    # When the run asks to take it out of "web", twice
    errors = raises_twice(app, standby_event(stranger), lambda_context, InstanceNotInGroup)
    # Then InstanceNotInGroup names instance and group, and neither group changed
    assert str(errors[0]) == f"Instance {stranger} is not a member of group web."
    assert calls_to(api_calls, "EnterStandby") == []
    assert lifecycle(aws, stranger) == "InService"
    assert (desired(aws, "web"), desired(aws, "api")) == (3, 2)


def test_enter_standby_refuses_an_instance_in_no_group(aws, fleet, load_handler, lambda_context):
    # Given an instance id that no Auto Scaling group knows
    app = load_handler("enter_standby")
    # When the run asks to take it out of "web"
    # Then InstanceNotInGroup names it
    with pytest.raises(InstanceNotInGroup, match="i-0123456789abcdef0 is not a member of group web"):
        app.lambda_handler(standby_event("i-0123456789abcdef0"), lambda_context)


def test_enter_standby_refuses_an_instance_that_is_not_in_service(aws, fleet, load_handler, lambda_context, api_calls):
    # Given an instance still Pending
    instance = fleet.instance_ids[0]
    set_lifecycle_state("web", instance, "Pending")
    app = load_handler("enter_standby")
    # When it is sent to standby, twice
    errors = raises_twice(app, standby_event(instance), lambda_context, InstanceNotInService)
    # Then InstanceNotInService says what state it is in, and capacity is unchanged
    assert str(errors[0]) == f"Instance {instance} is Pending; only an InService instance can enter standby."
    assert calls_to(api_calls, "EnterStandby") == []
    assert desired(aws, "web") == 3


def test_enter_standby_turns_resource_contention_into_a_named_error(aws, fleet, load_handler, lambda_context):
    # Given Auto Scaling busy with another update of the group
    instance = fleet.instance_ids[0]
    app = load_handler("enter_standby")
    described = {
        "AutoScalingInstances": [
            {
                "InstanceId": instance,
                "AutoScalingGroupName": "web",
                "AvailabilityZone": f"{REGION}a",
                "LifecycleState": "InService",
                "HealthStatus": "HEALTHY",
                "ProtectedFromScaleIn": False,
            }
        ]
    }
    # (its owner suspended AZRebalance: the run has nothing to suspend first)
    owners = {"ProcessName": "AZRebalance", "SuspensionReason": "User suspended at 2026-11-25T00:00:00Z"}
    group = {**group_of(aws, "web"), "SuspendedProcesses": [owners]}
    # When the instance is sent to standby
    with Stubber(autopatch.clients.client("autoscaling")) as stub:
        stub.add_response("describe_auto_scaling_instances", described, {"InstanceIds": [instance]})
        stub.add_response("describe_auto_scaling_groups", {"AutoScalingGroups": [group]})
        stub.add_response("describe_auto_scaling_groups", {"AutoScalingGroups": [group]})  # its ECS cluster, if any
        stub.add_response("describe_auto_scaling_instances", described, {"InstanceIds": [instance]})
        stub.add_client_error(
            "enter_standby",
            service_error_code="ResourceContention",
            service_message="pending update",
            http_status_code=500,
        )
        with pytest.raises(ResourceContention) as caught:
            app.lambda_handler(standby_event(instance), lambda_context)
    # Then the state machine gets ResourceContention, which it retries with back-off
    assert str(caught.value) == "EnterStandby: pending update"
