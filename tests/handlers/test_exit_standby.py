"""exit_standby: the instance back in service, the group's capacity restored once.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import pytest

from autopatch.errors import InstanceNotInGroup, InstanceNotReady
from tests.handlers.helpers import (
    RUN_ID,
    calls_to,
    desired,
    group_of,
    ledger_item,
    lifecycle,
    raises_twice,
    set_lifecycle_state,
    standby,
    standby_event,
    twice,
)


@pytest.fixture(autouse=True)
def run_ledger(ledger):
    """The run ledger, where standby records what it changes on the group and returning gives it back."""
    return ledger


def exit_event(instance, group="web", **extra):
    return {"GroupName": group, "InstanceId": instance, "TimeoutSeconds": 600, "RunId": RUN_ID, **extra}


def test_exit_standby_returns_the_instance_to_service_and_restores_capacity_once(
    aws, fleet, load_handler, lambda_context, api_calls, frozen_now
):
    # Given an instance the run put in Standby (desired capacity 3 -> 2)
    instance = fleet.instance_ids[0]
    load_handler("enter_standby").lambda_handler(standby_event(instance), lambda_context)
    assert (lifecycle(aws, instance), desired(aws, "web")) == ("Standby", 2)
    app = load_handler("exit_standby")
    # When it is returned to service, twice
    first, second = twice(app, exit_event(instance), lambda_context)
    # Then it is InService (moto skips Pending) and capacity is back to 3, raised once
    assert lifecycle(aws, instance) == "InService"
    assert desired(aws, "web") == 3
    assert calls_to(api_calls, "ExitStandby") == [{"AutoScalingGroupName": "web", "InstanceIds": [instance]}]
    # and the second call is a no-op that reports the state, each with the health deadline
    assert first == {"LifecycleState": "Pending", "Deadline": frozen_now + 600}
    assert second == {"LifecycleState": "InService", "Deadline": frozen_now + 600}


def test_exit_standby_with_lower_min_size_puts_the_min_size_back_once(
    aws, fleet_builder, ledger, load_handler, lambda_context, api_calls
):
    # Given "web" (MinSize 3) whose instance the run took out with LowerMinSize (MinSize 3 -> 2)
    web = fleet_builder.group("web", size=3, min_size=3)
    instance = web.instance_ids[0]
    load_handler("enter_standby").lambda_handler(standby_event(instance, LowerMinSize=True), lambda_context)
    app = load_handler("exit_standby")
    # When it is returned to service with LowerMinSize, twice
    twice(app, exit_event(instance, LowerMinSize=True), lambda_context)
    # Then MinSize and capacity are 3 again, MinSize put back once, and the ledger record is gone
    grp = group_of(aws, "web")
    assert (grp["MinSize"], grp["DesiredCapacity"], lifecycle(aws, instance)) == (3, 3, "InService")
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == [
        {"AutoScalingGroupName": "web", "MinSize": 2},
        {"AutoScalingGroupName": "web", "MinSize": 3},
    ]
    assert ledger_item(aws, ledger, "minsize#web") is None


@pytest.mark.parametrize("theirs", [0, 1], ids=["owner-set-0", "owner-set-1"])
def test_exit_standby_with_lower_min_size_leaves_a_min_size_someone_set_meanwhile(
    aws, fleet_builder, ledger, load_handler, lambda_context, api_calls, theirs
):
    # Given "web" (MinSize 3) whose instance the run took out with LowerMinSize (MinSize 3 -> 2), then its owner
    # set another MinSize while the instance was out
    web = fleet_builder.group("web", size=3, min_size=3)
    instance = web.instance_ids[0]
    load_handler("enter_standby").lambda_handler(standby_event(instance, LowerMinSize=True), lambda_context)
    aws.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="web", MinSize=theirs)
    # When it is returned to service with LowerMinSize
    load_handler("exit_standby").lambda_handler(exit_event(instance, LowerMinSize=True), lambda_context)
    # Then the owner's MinSize stands, and the ledger forgets the run's record
    assert group_of(aws, "web")["MinSize"] == theirs
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == [{"AutoScalingGroupName": "web", "MinSize": 2}]
    assert ledger_item(aws, ledger, "minsize#web") is None


def test_exit_standby_leaves_an_instance_that_never_left_service(aws, fleet, load_handler, lambda_context, api_calls):
    # Given an InService instance (its run failed before standby)
    instance = fleet.instance_ids[0]
    app = load_handler("exit_standby")
    # When it is returned to service
    result = app.lambda_handler(exit_event(instance), lambda_context)
    # Then nothing is called and capacity is unchanged
    assert result["LifecycleState"] == "InService"
    assert calls_to(api_calls, "ExitStandby") == []
    assert desired(aws, "web") == 3


def test_exit_standby_asks_to_be_retried_while_the_instance_is_entering_standby(
    aws, fleet, load_handler, lambda_context, api_calls
):
    # Given an instance still EnteringStandby
    instance = fleet.instance_ids[0]
    set_lifecycle_state("web", instance, "EnteringStandby")
    app = load_handler("exit_standby")
    # When it is returned to service, twice
    errors = raises_twice(app, exit_event(instance), lambda_context, InstanceNotReady)
    # Then InstanceNotReady (which the state machine retries) says so, and nothing was called
    assert str(errors[0]) == f"Instance {instance} is still EnteringStandby."
    assert calls_to(api_calls, "ExitStandby") == []
    assert lifecycle(aws, instance) == "EnteringStandby"


def test_exit_standby_refuses_an_instance_of_another_group(
    aws, fleet, fleet_builder, load_handler, lambda_context, api_calls
):
    # Given an instance of "api" in Standby
    api = fleet_builder.group("api", size=2)
    stranger = api.instance_ids[0]
    standby(aws, "api", stranger)
    app = load_handler("exit_standby")
    # When the run asks "web" to take it back
    # Then InstanceNotInGroup, and it stays in Standby
    with pytest.raises(InstanceNotInGroup, match=f"{stranger} is not a member of group web"):
        app.lambda_handler(exit_event(stranger), lambda_context)
    assert calls_to(api_calls, "ExitStandby") == []
    assert lifecycle(aws, stranger) == "Standby"


@pytest.mark.parametrize(
    ("meanwhile", "max_size", "original"),
    [({"DesiredCapacity": 3}, 4, 3), ({"MaxSize": 2}, 3, 2), ({"MaxSize": 5, "DesiredCapacity": 5}, 6, 5)],
    ids=["scaled-out-to-max-size", "owner-lowered-max-size", "owner-scaled-out-to-a-higher-max-size"],
)
def test_exit_standby_makes_room_when_the_group_reached_max_size_while_the_instance_was_out(
    aws, fleet, run_ledger, load_handler, lambda_context, api_calls, meanwhile, max_size, original
):
    # Given "web" (3 instances, MaxSize 3) whose instance the run put in Standby (desired 2), then the group
    # reached its MaxSize: a scale-out, or its owner lowering MaxSize
    asg = aws.client("autoscaling")
    asg.update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=3)
    instance = fleet.instance_ids[0]
    load_handler("enter_standby").lambda_handler(standby_event(instance), lambda_context)
    asg.update_auto_scaling_group(AutoScalingGroupName="web", **meanwhile)
    api_calls.clear()
    # When it is returned to service, twice
    twice(load_handler("exit_standby"), exit_event(instance), lambda_context)
    # Then MaxSize was raised by as much as ExitStandby needs, once, after the ledger recorded the owner's MaxSize
    # for this run, and the instance is back (desired capacity at the raised MaxSize)
    grp = group_of(aws, "web")
    assert (grp["MaxSize"], grp["DesiredCapacity"], lifecycle(aws, instance)) == (max_size, max_size, "InService")
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == [{"AutoScalingGroupName": "web", "MaxSize": max_size}]
    operations = [name for _, name, _ in api_calls]
    assert operations.index("PutItem") < operations.index("UpdateAutoScalingGroup") < operations.index("ExitStandby")
    item = ledger_item(aws, run_ledger, "maxsize#web")
    assert (item["Original"]["N"], item["SetTo"]["N"], item["RunId"]["S"]) == (str(original), str(max_size), RUN_ID)


def test_exit_standby_leaves_max_size_alone_when_there_is_room(
    aws, fleet, run_ledger, load_handler, lambda_context, api_calls
):
    # Given "web" (3 instances, MaxSize 3) whose instance the run put in Standby (desired 2, room for one)
    aws.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=3)
    instance = fleet.instance_ids[0]
    load_handler("enter_standby").lambda_handler(standby_event(instance), lambda_context)
    # When it is returned to service
    load_handler("exit_standby").lambda_handler(exit_event(instance), lambda_context)
    # Then MaxSize is untouched and nothing is recorded of it
    assert (group_of(aws, "web")["MaxSize"], desired(aws, "web")) == (3, 3)
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == []
    assert ledger_item(aws, run_ledger, "maxsize#web") is None


@pytest.mark.parametrize("owner_suspended", [False, True], ids=["run-suspended-it", "owner-suspended-it"])
def test_exit_standby_leaves_az_rebalance_suspended_for_the_run_to_resume_when_it_lets_go(
    aws, fleet, run_ledger, load_handler, lambda_context, api_calls, owner_suspended
):
    # Given "web", AZRebalance suspended by its owner or not, whose instance the run put in Standby
    if owner_suspended:
        aws.client("autoscaling").suspend_processes(AutoScalingGroupName="web", ScalingProcesses=["AZRebalance"])
    instance = fleet.instance_ids[0]
    load_handler("enter_standby").lambda_handler(standby_event(instance), lambda_context)
    # When it is returned to service, twice
    twice(load_handler("exit_standby"), exit_event(instance), lambda_context)
    # Then AZRebalance is still suspended (by the run, recorded for it to resume when it lets go of the group, or
    # by its owner, nothing recorded) and nothing resumed it
    suspended = [p["ProcessName"] for p in group_of(aws, "web")["SuspendedProcesses"]]
    assert suspended == ["AZRebalance"]
    assert calls_to(api_calls, "ResumeProcesses") == []
    recorded = ledger_item(aws, run_ledger, "azrebalance#web")
    assert (recorded is None) == owner_suspended
