"""A later run's recovery (recover_groups, after its preflight): any instance another run of this stack left in
Standby is returned, whatever its tag (issue 12, point 2: a deregistration that outlasted the run's waits leaves
one tagged Failed); one no run of the stack tagged is not ours to touch."""

import pytest

from autopatch import PATCH_TAG_KEY, RUN_TAG_KEY, recovery
from autopatch.errors import InstanceNotReady

NEXT = "arn:aws:states:us-east-1:123456789012:execution:autopatch-rolling-patch:run-next"


def tag(aws, instance, value, run_id):
    aws.client("ec2").create_tags(
        Resources=[instance], Tags=[{"Key": PATCH_TAG_KEY, "Value": value}, {"Key": RUN_TAG_KEY, "Value": run_id}]
    )


def standby(aws, instance):
    aws.client("autoscaling").enter_standby(
        AutoScalingGroupName="web", InstanceIds=[instance], ShouldDecrementDesiredCapacity=True
    )


@pytest.mark.parametrize("value", ["Failed", "Completed", "InProgress"])
def test_a_later_run_recovers_an_instance_another_run_left_in_standby_whatever_its_tag(
    aws, fleet, ledger, alert_topic, value
):
    left = fleet.instance_ids[0]
    tag(aws, left, value, "run-gave-up")
    standby(aws, left)

    recovered = recovery.recover_group("web", "run-next", NEXT, alert_topic, 600)

    assert [r["InstanceId"] for r in recovered] == [left]
    state = aws.client("autoscaling").describe_auto_scaling_instances(InstanceIds=[left])["AutoScalingInstances"]
    assert state[0]["LifecycleState"] in ("Pending", "InService")


def test_recovery_leaves_standby_instances_no_run_of_the_stack_tagged(aws, fleet, ledger, alert_topic):
    left = fleet.instance_ids[0]
    standby(aws, left)  # someone put it in Standby by hand: not ours

    assert recovery.recover_group("web", "run-next", NEXT, alert_topic, 600) == []


@pytest.mark.parametrize("status", ["InProgress", "Pending", "Cancelling", "Delayed"])
def test_recovery_never_returns_an_instance_whose_patch_command_may_still_reboot_it(
    aws, fleet, ledger, alert_topic, monkeypatch, status
):
    left = fleet.instance_ids[0]
    tag(aws, left, "InProgress", "run-dead")
    standby(aws, left)
    command = {"CommandId": "c-1", "Operation": "Install", "Status": status}
    monkeypatch.setattr(recovery.patching, "run_command", lambda instance, run: command if run == "run-dead" else None)

    with pytest.raises(InstanceNotReady, match=f"still has its patch command c-1 {status}"):
        recovery.recover_group("web", "run-next", NEXT, alert_topic, 600)

    state = aws.client("autoscaling").describe_auto_scaling_instances(InstanceIds=[left])["AutoScalingInstances"]
    assert state[0]["LifecycleState"] == "Standby"
