"""KeepCapacity: the group gets one instance more before its first instance leaves service, and gives one back
when the run is done with it, so that it serves at its full capacity throughout the patching (and a group of one
instance, or one at its MinSize, can be patched without downtime).

The addition is recorded in the ledger before it is made, like a lowered MinSize, with the group's instances at
that moment: the instance launched for it is one that was not among them. It is made once per run and group
(the group's next instance, or its next slice in a new execution, finds the record): MaxSize plus one if the
group is at its maximum (groups.make_room, recorded as the run's MaxSize change), then desired capacity plus one
(SetDesiredCapacity). The run waits until the added instance is InService and healthy in every load
balancer.

It is given back by removing one instance (TerminateInstanceInAutoScalingGroup, decrementing the desired
capacity: Auto Scaling deregisters it from its load balancers first), then MaxSize:
- never more than the one added, whatever the scaling did meanwhile: a scale-out stands, and a scale-in took
  its own share;
- never below MinSize (a scale-in took the group to it: the added instance is then needed, and stays, patched
  like any newcomer);
- not while an instance the run took out is still in Standby: the added one stands in for it until the next
  run's recovery returns it (and then gives the addition back);
- by preference one the run did not patch (the one added, launched from the unpatched launch source; then any
  other launched during the run), not one patched by this run or launched from the image it baked; and, among
  those alike, one in the Availability Zone with the most instances, so the zones stay balanced.
https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetDesiredCapacity.html
https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_TerminateInstanceInAutoScalingGroup.html"""

import os
import time

from botocore.exceptions import ClientError

from . import PATCH_TAG_KEY, RUN_TAG_KEY, alerts, groups, images, ledger
from .clients import client
from .errors import AddedInstanceNotHealthy

ADDED = "AddedInstance"  # the ledger's record of the addition: addedinstance#<group>
OUT_OF_SERVICE = ("EnteringStandby", "Standby")


def add(group_name: str, run_id: str) -> None:
    """Add one instance to the group, unless this run did already (a retry, the group's next instance or slice)."""
    change = ledger.change(group_name, ADDED)
    if change is not None and change["RunId"] != run_id:
        change = None  # a dead run's, left after its recovery (surge.take_over): this run's replaces it
    if change and change.get("Made"):
        return
    group = groups.describe_group(group_name)
    if change and _made(group, change):
        ledger.note_on_change(group_name, ADDED, Made="true")
        return
    desired = group["DesiredCapacity"]
    if not change:
        instances = [i["InstanceId"] for i in group["Instances"]]
        ledger.remember_change(group_name, ADDED, run_id, original=desired, set_to=desired + 1, instances=instances)
    groups.make_room(group_name, run_id)
    client("autoscaling").set_desired_capacity(
        AutoScalingGroupName=group_name, DesiredCapacity=desired + 1, HonorCooldown=False
    )
    ledger.note_on_change(group_name, ADDED, Made="true")


def added_instance(group_name: str, run_id: str, deadline: float) -> str | None:
    """The instance added to the group, once it is InService and healthy in every load balancer; None until
    then; AddedInstanceNotHealthy, naming what is wrong, past the deadline."""
    change = ledger.change(group_name, ADDED)
    if change and change.get("InstanceId"):
        return change["InstanceId"]
    group = groups.describe_group(group_name)
    new = _new_instances(group, change or {})
    problems = groups.target_problems(group)
    for instance in new:
        if instance["LifecycleState"] == "InService" and instance["InstanceId"] not in problems:
            ledger.note_on_change(group_name, ADDED, InstanceId=instance["InstanceId"])
            return instance["InstanceId"]
    if time.time() <= deadline:
        return None
    found = [f"{i['InstanceId']} is {', '.join(problems.get(i['InstanceId'], [])) or i['LifecycleState']}" for i in new]
    raise AddedInstanceNotHealthy(
        f"KeepCapacity: the instance added to group {group_name} was not InService and healthy in every load "
        f"balancer in time: {'; '.join(found) or 'none was launched'}."
    )


def give_back(group_name: str, run_id: str | None = None) -> str | None:
    """Give back the instance a run added to the group (this run's only when run_id is given, any run's
    otherwise), then the MaxSize raised for it; what was done, or None when there was nothing to give back, or
    it must wait (an instance of that run still in Standby)."""
    change = ledger.change(group_name, ADDED)
    if change is None or run_id not in (None, change["RunId"]):
        return None
    group = groups.describe_group(group_name)
    if _still_out(group, change["RunId"]):
        return None
    done = _remove_one(group, change) if change.get("Made") or _made(group, change) else "nothing was added"
    ledger.forget_change(group_name, ADDED)
    groups.give_back(group_name, groups.MAX_SIZE, change["RunId"])
    return done


def refuse(topic_arn: str, group_name: str, run_id: str, instance_id: str, execution_arn: str, cause: str) -> str:
    """The instance added was not healthy in time (cause: the error's): the group is refused as a gate would
    stop it, first (none of its instances is taken out, whatever happens next), then the addition is given back;
    the first claimant alerts. The other groups go on. Returns why the group stopped."""
    reason = (
        f"{alerts.cause_text(cause)} The run gave back the instance it added, and leaves the group's instances as "
        "they are: check why the group's new instances do not become healthy (launch template, user data, health "
        "check), or patch it without KeepCapacity."
    )
    key = ledger.group_stop_key(run_id, group_name)  # stopped as the gate stops one group
    announce = ledger.stop(key, reason, claimant=instance_id)
    give_back(group_name, run_id)
    if announce:
        alerts.publish_stop(topic_arn, run_id, execution_arn, reason, "group", group_name)
        ledger.announced(key)
    return ledger.stop_reason(key) or reason


def take_over(group_name: str, run_id: str) -> bool:
    """A dead run's addition, and the MaxSize it raised for it, become this run's: given back when this run lets
    go of the group, once what that run left out of service is back (the added instance stands in for it)."""
    change = ledger.change(group_name, ADDED)
    if change is None or change["RunId"] == run_id:
        return False
    raised = ledger.change(group_name, groups.MAX_SIZE)
    if raised and raised["RunId"] == change["RunId"]:
        ledger.hand_over_change(group_name, groups.MAX_SIZE, run_id)
    ledger.hand_over_change(group_name, ADDED, run_id)
    return True


def plan(group: dict) -> dict:
    """What KeepCapacity would add to the group, for a dry run."""
    desired, max_size = group["DesiredCapacity"], group["MaxSize"]
    return {
        "Adds": 1,
        "DesiredCapacity": f"{desired} -> {desired + 1} while patching, then {desired}",
        "MaxSize": f"{max_size} -> {desired + 1} while patching, then {max_size}"
        if desired + 1 > max_size
        else f"{max_size}, unchanged",
    }


def _made(group: dict, change: dict) -> bool:
    """Whether the recorded addition was made (a call cut short between the record and its note): the desired
    capacity reached it, or an instance launched since is in the group."""
    return group["DesiredCapacity"] >= (change["SetTo"] or 0) or bool(_new_instances(group, change))


def _new_instances(group: dict, change: dict) -> list[dict]:
    """The group's instances launched since the addition was recorded, not leaving the group."""
    before = set(change.get("Instances", []))
    return [
        i for i in group["Instances"] if i["InstanceId"] not in before and i["LifecycleState"] not in groups.LEAVING
    ]


def _still_out(group: dict, run_id: str) -> bool:
    return any(
        i["LifecycleState"] in OUT_OF_SERVICE and ledger.standby_taken(run_id, i["InstanceId"])
        for i in group["Instances"]
    )


def _remove_one(group: dict, change: dict) -> str:
    if group["DesiredCapacity"] - 1 < group["MinSize"]:
        return f"no instance removed: the group is at its MinSize {group['MinSize']}, the instance added stays"
    victim = _to_remove(group, change)
    if victim is None:
        return "no instance removed: none of the group's instances can be"
    try:
        client("autoscaling").terminate_instance_in_auto_scaling_group(
            InstanceId=victim, ShouldDecrementDesiredCapacity=True
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ValidationError":  # at MinSize since it was read
            raise
        return f"no instance removed: {error.response['Error']['Message']}"
    return f"removed {victim} (desired capacity {group['DesiredCapacity']} -> {group['DesiredCapacity'] - 1})"


def _to_remove(group: dict, change: dict) -> str | None:
    """The instance to remove: not patched by the run before patched, launched during the run before planned,
    the one added first, not yet serving before serving, then in the zone with the most instances."""
    run_id, name = change["RunId"], group["AutoScalingGroupName"]
    candidates = [i for i in group["Instances"] if i["LifecycleState"] not in (*groups.LEAVING, *OUT_OF_SERVICE)]
    if not candidates:
        return None
    ids = [i["InstanceId"] for i in candidates]
    patched = _patched_by(run_id, ids) | set(images.from_baked_image(run_id, name, os.environ["STACK_NAME"], ids))
    before, problems = set(change.get("Instances", [])), groups.target_problems(group)
    zones: dict[str, int] = {}
    for i in candidates:
        zones[i["AvailabilityZone"]] = zones.get(i["AvailabilityZone"], 0) + 1

    def preference(instance: dict) -> tuple:
        instance_id = instance["InstanceId"]
        serving = instance["LifecycleState"] == "InService" and instance_id not in problems
        return (
            instance_id in patched,
            instance_id in before,
            instance_id != change.get("InstanceId"),
            serving,
            -zones[instance["AvailabilityZone"]],
            instance_id,
        )

    return min(candidates, key=preference)["InstanceId"]


def _patched_by(run_id: str, instance_ids: list[str]) -> set[str]:
    """The instances tagged Completed by this run."""
    tags: dict[str, dict[str, str]] = {}
    pages = (
        client("ec2")
        .get_paginator("describe_tags")
        .paginate(
            Filters=[
                {"Name": "resource-id", "Values": instance_ids},
                {"Name": "key", "Values": [PATCH_TAG_KEY, RUN_TAG_KEY]},
            ]
        )
    )
    for page in pages:
        for tag in page["Tags"]:
            tags.setdefault(tag["ResourceId"], {})[tag["Key"]] = tag["Value"]
    return {i for i, t in tags.items() if t.get(PATCH_TAG_KEY) == "Completed" and t.get(RUN_TAG_KEY) == run_id}
