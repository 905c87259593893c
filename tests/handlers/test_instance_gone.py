"""An instance that goes while the run has it out of service: the checks that find it gone (InstanceGone), the
Failed tag it does not get, the capacity its group gets back (exit_standby with Gone) and its alert.
Against a moto account; conftest.py says how and holds the shared fixtures. moto takes an instance EC2 terminates
out of its group at once, where Auto Scaling keeps one in Standby listed: the tests set each state by hand."""

import json

import pytest
from moto.autoscaling.models import autoscaling_backends
from moto.ec2.models import ec2_backends

from autopatch import ledger as run_ledger
from autopatch.errors import InstanceGone
from tests.handlers.helpers import (
    ACCOUNT,
    EXECUTION_ARN,
    REGION,
    RUN_ID,
    calls_to,
    desired,
    ledger_item,
    patch_tags,
    raises_twice,
    sent_kinds,
    sent_messages,
    set_lifecycle_state,
    standby,
    standby_event,
    tag,
    twice,
    wait_event,
)


def terminated_by_ec2(instance):
    """EC2 terminated it; Auto Scaling still lists it (in Standby it is not health-checked)."""
    state = ec2_backends[ACCOUNT][REGION].get_instance(instance)._state
    state.name, state.code = "terminated", 48


def without_target_groups(aws, group="web"):
    """moto's ExitStandby registers the instance in the group's target groups, and moto's ELB refuses a terminated
    one; AWS takes a terminated instance out of Standby, then finds it unhealthy and replaces it
    (https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-enter-exit-standby.html)."""
    autoscaling_backends[ACCOUNT][REGION].autoscaling_groups[group].target_group_arns = []


def left_group(group, instance):
    """It is no longer listed in its group (detached, or terminated and gone)."""
    states = autoscaling_backends[ACCOUNT][REGION].autoscaling_groups[group].instance_states
    states[:] = [s for s in states if s.instance.id != instance]


def take_out(load_handler, context, instance, **extra):
    """The run's EnterStandby (desired capacity 3 -> 2), with its RunId: the ledger notes the capacity taken."""
    load_handler("enter_standby").lambda_handler(standby_event(instance, RunId=RUN_ID, **extra), context)


def give_back_event(instance, **extra):
    return {"GroupName": "web", "InstanceId": instance, "RunId": RUN_ID, "TimeoutSeconds": 600, "Gone": True, **extra}


@pytest.mark.parametrize(
    ("handler", "gone"),
    [
        ("check_standby", terminated_by_ec2),
        ("check_standby", lambda instance: left_group("web", instance)),
        ("check_standby", lambda instance: set_lifecycle_state("web", instance, "Terminating")),
        ("check_health", lambda instance: left_group("web", instance)),
        ("check_health", lambda instance: set_lifecycle_state("web", instance, "Terminating:Wait")),
        ("exit_standby", lambda instance: set_lifecycle_state("web", instance, "Detaching")),
    ],
)
def test_a_check_of_an_instance_out_of_service_that_went_raises_instance_gone_at_once(
    aws, fleet, ledger, load_handler, lambda_context, frozen_now, handler, gone
):
    # Given an instance the run took out, which then went (terminated by EC2, out of the group, or leaving it)
    instance = fleet.instance_ids[0]
    take_out(load_handler, lambda_context, instance)
    gone(instance)
    event = wait_event(instance, frozen_now + 900) if handler != "exit_standby" else give_back_event(instance)
    event.pop("Gone", None)
    # When the run checks on it (twice, as a retry would)
    errors = raises_twice(load_handler(handler), event, lambda_context, InstanceGone)
    # Then InstanceGone names it at once, without waiting for its deadline, and nothing was returned to service
    assert instance in str(errors[0])
    assert desired(aws, "web") == 2


def test_a_failed_tag_is_refused_for_a_gone_instance_which_is_not_counted_as_failed(
    aws, fleet, ledger, load_handler, lambda_context, api_calls
):
    # Given two instances of web: one EC2 terminated while in Standby, one in Standby still there
    gone, there = fleet.instance_ids[:2]
    for instance in (gone, there):
        take_out(load_handler, lambda_context, instance, LowerMinSize=False)
    terminated_by_ec2(gone)
    app = load_handler("tag_instance")

    def failed(instance):
        return {"InstanceId": instance, "Value": "Failed", "RunId": RUN_ID, "GroupName": "web", "Step": "Patch"}

    # When the failure path tags each Failed
    errors = raises_twice(app, failed(gone), lambda_context, InstanceGone)
    app.lambda_handler(failed(there), lambda_context)
    # Then the gone one is not tagged nor counted against MaxErrors (InstanceGone says why); the other one is both
    assert str(errors[0]) == f"EC2 instance {gone} is terminated"
    assert patch_tags(aws, gone) == {}
    assert patch_tags(aws, there)["AutoPatchInstanceInASG"] == "Failed"
    assert run_ledger.failures(RUN_ID) == [there]


def test_a_gone_instance_still_listed_in_standby_is_exited_once_to_give_back_its_capacity(
    aws, fleet, ledger, load_handler, lambda_context, api_calls
):
    # Given an instance the run took out (desired capacity 3 -> 2) that EC2 terminated in Standby
    instance = fleet.instance_ids[0]
    take_out(load_handler, lambda_context, instance)
    terminated_by_ec2(instance)
    without_target_groups(aws)
    # When its capacity is given back, twice (a retry)
    first, second = twice(load_handler("exit_standby"), give_back_event(instance), lambda_context)
    # Then ExitStandby raised the capacity back to 3, once; Auto Scaling replaces the instance from there
    assert calls_to(api_calls, "ExitStandby") == [{"AutoScalingGroupName": "web", "InstanceIds": [instance]}]
    assert calls_to(api_calls, "SetDesiredCapacity") == []
    assert desired(aws, "web") == 3
    assert first == {"Capacity": "ExitStandby gave back the capacity its standby took: Auto Scaling replaces it"}
    assert second["Capacity"].startswith("nothing to give back")


def test_a_gone_instance_still_listed_in_standby_is_exited_even_when_the_group_reached_max_size(
    aws, fleet, ledger, load_handler, lambda_context, api_calls
):
    # Given an instance the run took out (desired capacity 3 -> 2) that EC2 terminated in Standby, in a group that
    # scaled out to its MaxSize 3 meanwhile
    instance = fleet.instance_ids[0]
    take_out(load_handler, lambda_context, instance)
    terminated_by_ec2(instance)
    without_target_groups(aws)
    aws.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=3, DesiredCapacity=3)
    # When its capacity is given back
    load_handler("exit_standby").lambda_handler(give_back_event(instance), lambda_context)
    # Then MaxSize was raised to 4 first (ExitStandby is refused above MaxSize), recorded to be put back, and the
    # capacity given back
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == [{"AutoScalingGroupName": "web", "MaxSize": 4}]
    assert calls_to(api_calls, "ExitStandby") == [{"AutoScalingGroupName": "web", "InstanceIds": [instance]}]
    assert desired(aws, "web") == 4
    assert ledger_item(aws, ledger, "maxsize#web")["Original"]["N"] == "3"


@pytest.mark.parametrize(("max_size", "raised"), [(6, True), (2, False)])
def test_a_gone_instance_that_left_the_group_from_standby_gets_its_group_one_more_once(
    aws, fleet_builder, ledger, load_handler, lambda_context, api_calls, max_size, raised
):
    # Given web (3 instances, MaxSize max_size) whose instance the run took out (desired 3 -> 2), detached meanwhile
    instance = fleet_builder.group("web", size=3).instance_ids[0]
    take_out(load_handler, lambda_context, instance)
    left_group("web", instance)
    autoscaling_backends[ACCOUNT][REGION].autoscaling_groups["web"].max_size = max_size
    # When its capacity is given back, twice
    first, second = twice(load_handler("exit_standby"), give_back_event(instance), lambda_context)
    # Then desired capacity is raised by one (without waiting for a cooldown), once; never above MaxSize
    expected = [{"AutoScalingGroupName": "web", "DesiredCapacity": 3, "HonorCooldown": False}] if raised else []
    assert calls_to(api_calls, "SetDesiredCapacity") == expected
    assert desired(aws, "web") == (3 if raised else 2)
    assert ("raised to 3" in first["Capacity"]) is raised
    assert ("NOT raised: 3 would exceed MaxSize 2" in first["Capacity"]) is not raised
    assert second["Capacity"].startswith("nothing to give back")


def test_an_instance_that_goes_after_it_was_returned_to_service_gets_no_more_capacity(
    aws, fleet, ledger, load_handler, lambda_context, api_calls
):
    # Given an instance the run took out and returned to service (desired 3 -> 2 -> 3), then replaced
    instance = fleet.instance_ids[0]
    take_out(load_handler, lambda_context, instance)
    load_handler("exit_standby").lambda_handler(
        {"GroupName": "web", "InstanceId": instance, "RunId": RUN_ID, "TimeoutSeconds": 600}, lambda_context
    )
    left_group("web", instance)
    # When the gone path gives its capacity back
    result = load_handler("exit_standby").lambda_handler(give_back_event(instance), lambda_context)
    # Then nothing is raised twice: ExitStandby gave it back already, Auto Scaling launches the replacement
    assert calls_to(api_calls, "SetDesiredCapacity") == []
    assert desired(aws, "web") == 3
    assert result["Capacity"].startswith("nothing to give back")


def test_lower_min_size_is_put_back_on_the_gone_path(aws, fleet_builder, ledger, load_handler, lambda_context):
    # Given web at its MinSize 3, whose instance the run took out with LowerMinSize (MinSize 3 -> 2), then EC2
    # terminated in Standby
    web = fleet_builder.group("web", size=3, min_size=3)
    instance = web.instance_ids[0]
    take_out(load_handler, lambda_context, instance, LowerMinSize=True)
    terminated_by_ec2(instance)
    without_target_groups(aws)
    # When its capacity is given back with LowerMinSize
    load_handler("exit_standby").lambda_handler(give_back_event(instance, LowerMinSize=True), lambda_context)
    # Then MinSize and desired capacity are 3 again
    group = aws.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["web"])
    assert (group["AutoScalingGroups"][0]["MinSize"], desired(aws, "web")) == (3, 3)


def test_the_gone_alert_says_where_it_went_and_what_was_done_and_counts_nothing(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context
):
    # Given an instance that went during its patch, its capacity given back
    instance = fleet.instance_ids[0]
    cause = {"errorType": "InstanceGone", "errorMessage": f"EC2 instance {instance} is terminated"}
    event = {
        "Kind": "instance-gone",
        "InstanceId": instance,
        "GroupName": "web",
        "RunId": RUN_ID,
        "ExecutionArn": EXECUTION_ARN,
        "Step": "Patch",
        "Error": "PatchTimedOut",
        "Cause": json.dumps(cause),
        "CommandId": None,
        "Capacity": {"Done": "ExitStandby gave back the capacity its standby took: Auto Scaling replaces it"},
    }
    # When its alert is sent
    load_handler("send_alert").lambda_handler(event, lambda_context)
    # Then one alert of kind instance-gone names it, the step, why, and the capacity; no failure is counted
    [(_, body, subject)] = sent_messages(alert_topic)
    assert sent_kinds(alert_topic) == ["instance-gone"]
    assert subject == f"Instance gone while out of service: {instance} in web, run {RUN_ID}"
    assert "Step:         Patch (noticed as PatchTimedOut)" in body
    assert f"Why:          EC2 instance {instance} is terminated" in body
    assert "Capacity:     ExitStandby gave back the capacity its standby took" in body
    assert run_ledger.failures(RUN_ID) == []


def test_the_gone_alert_says_when_the_capacity_could_not_be_given_back(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context
):
    # Given the give-back failed (its error caught by the state machine)
    instance = fleet.instance_ids[0]
    event = {
        "Kind": "instance-gone",
        "InstanceId": instance,
        "GroupName": "web",
        "RunId": RUN_ID,
        "ExecutionArn": EXECUTION_ARN,
        "Step": "Return to service",
        "Error": "InstanceGone",
        "Cause": "gone",
        "Capacity": {"Error": "ValidationError", "Cause": '{"errorMessage": "New SetDesiredCapacity value"}'},
    }
    # When its alert is sent
    load_handler("send_alert").lambda_handler(event, lambda_context)
    # Then it says so and what to check
    [(_, body, _)] = sent_messages(alert_topic)
    assert "Capacity:     NOT given back (ValidationError: New SetDesiredCapacity value): check the desired" in body


def test_the_next_run_gives_back_the_capacity_of_a_dead_run_s_instance_ec2_terminated_in_standby(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, api_calls
):
    # Given an instance a dead run tagged InProgress and left in Standby (capacity 3 -> 2), which EC2 then terminated
    left = fleet.instance_ids[0]
    tag(aws, left, "InProgress", "run-dead")
    standby(aws, "web", left)
    terminated_by_ec2(left)
    without_target_groups(aws)
    event = {"RunId": RUN_ID, "ExecutionArn": EXECUTION_ARN, "GroupNames": ["web"], "HealthTimeoutSeconds": 600}
    # When this run recovers "web", twice
    first, second = twice(load_handler("recover_groups"), event, lambda_context)
    # Then ExitStandby gave the capacity back, once, and the run is not told to wait for its health (it is gone)
    assert calls_to(api_calls, "ExitStandby") == [{"AutoScalingGroupName": "web", "InstanceIds": [left]}]
    assert desired(aws, "web") == 3
    assert first == second == {"Recovered": []}
