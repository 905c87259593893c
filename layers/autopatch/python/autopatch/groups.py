"""Auto Scaling groups: which ones a run targets, their instances, standby and health."""

import time

from botocore.exceptions import ClientError

from . import ALARM_TAG_KEY, OPT_IN_TAG_KEY, ledger
from .clients import client
from .errors import (
    HealthCheckTimedOut,
    InstanceGone,
    InstanceNotInGroup,
    InstanceNotInService,
    InstanceNotReady,
    InvalidInput,
    StandbyTimedOut,
)


def find_groups(names: list[str] | None, opt_in_key: str, opt_in_value: str) -> list[dict]:
    """The groups to patch: the ones named (each must exist and be opted in) or every opted-in group."""
    if names:
        found = {group["AutoScalingGroupName"]: group for group in _describe_groups(names)}
        missing = [name for name in names if name not in found]
        if missing:
            raise InvalidInput(f"AutoScalingGroupNames: no Auto Scaling group named {missing[0]!r}.")
        not_opted = [name for name in names if not _opted_in(found[name], opt_in_key, opt_in_value)]
        if not_opted:
            raise InvalidInput(
                f"AutoScalingGroupNames: group {not_opted[0]!r} does not carry the opt-in tag "
                f"{opt_in_key}={opt_in_value}."
            )
        return [found[name] for name in names]
    groups = [g for g in _describe_groups(None) if _opted_in(g, opt_in_key, opt_in_value)]
    if not groups:
        raise InvalidInput(
            f"AutoScalingGroupNames: none given and no group carries the opt-in tag {opt_in_key}={opt_in_value}."
        )
    return sorted(groups, key=lambda group: group["AutoScalingGroupName"])


def in_service_instances(group: dict) -> list[str]:
    return [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]


# An instance refresh in one of these is replacing the group's instances, or about to, or rolling back, or baking
# (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_InstanceRefresh.html)
REFRESH_ACTIVE = ("Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking")


def active_refreshes(group_name: str) -> list[str]:
    """Each instance refresh at work on the group, as "instance refresh <id> is <Status>" (newest first, as
    DescribeInstanceRefreshes lists them: an active one is on its first page)."""
    found = client("autoscaling").describe_instance_refreshes(AutoScalingGroupName=group_name)["InstanceRefreshes"]
    return [
        f"instance refresh {r['InstanceRefreshId']} is {r['Status']}" for r in found if r["Status"] in REFRESH_ACTIVE
    ]


def warm_pool(group_name: str) -> dict | None:
    """The group's warm pool, if it has one: {"PoolState", "Instances" (how many), "States" (lifecycle state ->
    how many, e.g. "Warmed:Stopped")} (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeWarmPool.html)."""
    pages = client("autoscaling").get_paginator("describe_warm_pool").paginate(AutoScalingGroupName=group_name)
    configuration, states = None, dict[str, int]()
    for page in pages:
        configuration = page.get("WarmPoolConfiguration") or configuration
        for instance in page.get("Instances", []):
            states[instance["LifecycleState"]] = states.get(instance["LifecycleState"], 0) + 1
    if configuration is None:
        return None
    return {"PoolState": configuration.get("PoolState", "Stopped"), "Instances": sum(states.values()), "States": states}


def describe_group(name: str) -> dict:
    groups = _describe_groups([name])
    if not groups:
        raise InvalidInput(f"GroupName: no Auto Scaling group named {name!r}.")
    return groups[0]


# An instance on its way out of the group, or out of it: a scale-in, a Spot interruption, a replacement, a detach
# (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-lifecycle.html)
LEAVING = ("Terminating", "Terminating:Wait", "Terminating:Proceed", "Terminated", "Detaching", "Detached")
# EC2 states of an instance that is gone for good (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_InstanceState.html)
EC2_GONE = ("shutting-down", "terminated")


def existing_groups(names: list[str]) -> dict[str, dict]:
    """The groups of these names that still exist, by name (a deleted one is left out)."""
    return {g["AutoScalingGroupName"]: g for g in _describe_groups(names)}


def lifecycle_state(group_name: str, instance_id: str) -> str:
    """The instance's lifecycle state, after checking it belongs to the group. In no group at all: InstanceGone
    (it left; Auto Scaling lists an instance no longer once it is Terminated or Detached)."""
    found = client("autoscaling").describe_auto_scaling_instances(InstanceIds=[instance_id])
    instances = found["AutoScalingInstances"]
    if not instances:
        raise InstanceGone(f"Instance {instance_id} is not a member of group {group_name}: it left the group.")
    if instances[0]["AutoScalingGroupName"] != group_name:
        raise InstanceNotInGroup(f"Instance {instance_id} is not a member of group {group_name}.")
    return instances[0]["LifecycleState"]


def state_while_out(group_name: str, instance_id: str) -> str:
    """lifecycle_state of an instance the run has out of service; InstanceGone once it is leaving the group."""
    state = lifecycle_state(group_name, instance_id)
    if state in LEAVING:
        raise InstanceGone(f"Instance {instance_id} is {state} in group {group_name}.")
    return state


def terminated_by_ec2(instance_id: str) -> str | None:
    """Why the instance is gone, when EC2 terminated it. Auto Scaling does not health-check a Standby instance, so
    one EC2 terminates stays listed in Standby, and Healthy, until it is returned to service:
    https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-enter-exit-standby.html"""
    try:
        found = client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "InvalidInstanceID.NotFound":  # terminated over an hour ago
            raise
        found = []
    state = next((i["State"]["Name"] for r in found for i in r["Instances"]), "terminated")
    return f"EC2 instance {instance_id} is {state}" if state in EC2_GONE else None


def gone_reason(group_name: str, instance_id: str) -> str | None:
    """Why the instance is gone from the group (left it, leaving it, or terminated by EC2), or None."""
    try:
        state_while_out(group_name, instance_id)
    except InstanceGone as gone:
        return str(gone)
    return terminated_by_ec2(instance_id)


def give_back_capacity(group_name: str, instance_id: str, run_id: str) -> str:
    """Give the group back the capacity the run's standby took from it, for an instance that went while out of
    service; returns what was done. Still listed in Standby (EC2 terminated it): ExitStandby, which raises desired
    capacity by one; Auto Scaling then finds it terminated and launches a replacement. Already out of the group while
    the run's decrement is outstanding (a person detached or terminated it in Standby): desired capacity plus one.
    Once ExitStandby gave it back, Auto Scaling replaces an instance that goes: nothing more to give."""
    try:
        state = state_while_out(group_name, instance_id)
    except InstanceGone:
        state = None
    if state == "EnteringStandby":
        raise InstanceNotReady(f"Instance {instance_id} is still EnteringStandby.")
    if state == "Standby":
        _return_from_standby(group_name, instance_id, run_id)
        ledger.forget_standby(run_id, instance_id)
        return "ExitStandby gave back the capacity its standby took: Auto Scaling replaces it"
    if state is not None or not ledger.standby_taken(run_id, instance_id):
        return (
            "nothing to give back: none of its standby's capacity was still owed (it was returned, or never taken out),"
            " and Auto Scaling replaces an instance that goes"
        )
    group = describe_group(group_name)
    desired = group["DesiredCapacity"] + 1
    if desired > group["MaxSize"]:
        ledger.forget_standby(run_id, instance_id)
        return f"desired capacity NOT raised: {desired} would exceed MaxSize {group['MaxSize']}"
    client("autoscaling").set_desired_capacity(
        AutoScalingGroupName=group_name, DesiredCapacity=desired, HonorCooldown=False
    )
    ledger.forget_standby(run_id, instance_id)
    return f"desired capacity raised to {desired} (the standby had lowered it): Auto Scaling launches a replacement"


def enter_standby(group_name: str, instance_id: str) -> str:
    """Move an InService instance to Standby, lowering desired capacity. Safe to repeat."""
    state = lifecycle_state(group_name, instance_id)
    if state in ("EnteringStandby", "Standby"):
        return state
    if state != "InService":
        raise InstanceNotInService(f"Instance {instance_id} is {state}; only an InService instance can enter standby.")
    client("autoscaling").enter_standby(
        AutoScalingGroupName=group_name,
        InstanceIds=[instance_id],
        ShouldDecrementDesiredCapacity=True,
    )
    return "EnteringStandby"


def standby_reached(group_name: str, instance_id: str, deadline: float) -> bool:
    state = state_while_out(group_name, instance_id)
    if state == "Standby":
        gone = terminated_by_ec2(instance_id)
        if gone:
            raise InstanceGone(f"{gone}; it is still listed in Standby in group {group_name}.")
        return True
    if time.time() > deadline:
        raise StandbyTimedOut(f"Instance {instance_id} was still {state} when its standby wait ran out.")
    return False


def exit_standby(group_name: str, instance_id: str, run_id: str) -> str:
    """Return a Standby instance to service, making room for it (make_room) if the group is at MaxSize. Safe to
    repeat; a moving instance asks to be retried; one leaving the group is InstanceGone."""
    state = state_while_out(group_name, instance_id)
    if state == "Standby":
        _return_from_standby(group_name, instance_id, run_id)
        return "Pending"
    if state == "EnteringStandby":
        raise InstanceNotReady(f"Instance {instance_id} is still EnteringStandby.")
    return state


def _return_from_standby(group_name: str, instance_id: str, run_id: str) -> None:
    """ExitStandby, with room made for it first: it adds the instance to the desired capacity, refused above MaxSize."""
    make_room(group_name, run_id)
    client("autoscaling").exit_standby(AutoScalingGroupName=group_name, InstanceIds=[instance_id])


def healthy(group_name: str, instance_id: str, deadline: float, load_balancers: dict | None = None) -> bool:
    """True once the instance is InService and healthy in every load balancer of its group.
    load_balancers: the group's TargetGroupARNs and LoadBalancerNames, when the caller already has them.
    One leaving the group (replaced, terminated) is InstanceGone."""
    state = state_while_out(group_name, instance_id)
    problems = [] if state == "InService" else [f"lifecycle state {state}"]
    if not problems:
        problems = unhealthy_targets(load_balancers or describe_group(group_name), instance_id)
    if not problems:
        return True
    if time.time() > deadline:
        raise HealthCheckTimedOut(
            f"Instance {instance_id} was not back in service when its health wait ran out: " + "; ".join(problems) + "."
        )
    return False


def load_balancers(group_name: str) -> dict:
    """The group's target groups and classic load balancers (they do not change during a wait)."""
    group = describe_group(group_name)
    return {key: group.get(key, []) for key in ("TargetGroupARNs", "LoadBalancerNames")}


def unhealthy_targets(group: dict, instance_id: str) -> list[str]:
    """Every load balancer in which the instance is not healthy, with its state."""
    problems = []
    elbv2 = client("elbv2")
    for arn in group.get("TargetGroupARNs", []):
        descriptions = elbv2.describe_target_health(TargetGroupArn=arn, Targets=[{"Id": instance_id}])
        states = [d["TargetHealth"]["State"] for d in descriptions["TargetHealthDescriptions"]]
        if states != ["healthy"] * len(states) or not states:
            problems.append(f"target group {target_group_name(arn)}: {', '.join(states) or 'not registered'}")
    for name in group.get("LoadBalancerNames", []):
        found = client("elb").describe_instance_health(LoadBalancerName=name, Instances=[{"InstanceId": instance_id}])
        state = found["InstanceStates"][0]["State"] if found["InstanceStates"] else "Unknown"
        if state != "InService":
            problems.append(f"load balancer {name}: {state}")
    return problems


def target_problems(group: dict) -> dict[str, list[str]]:
    """For every instance of the group that is not healthy in one of its load balancers, what is wrong.
    One call per load balancer, whatever the group's size."""
    problems: dict[str, list[str]] = {}
    elbv2 = client("elbv2")
    for arn in group.get("TargetGroupARNs", []):
        found = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        states = {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in found}
        for instance in group["Instances"]:
            state = states.get(instance["InstanceId"], "not registered")
            if state != "healthy":
                problems.setdefault(instance["InstanceId"], []).append(
                    f"{state} in target group {target_group_name(arn)}"
                )
    for name in group.get("LoadBalancerNames", []):
        found = client("elb").describe_instance_health(LoadBalancerName=name)["InstanceStates"]
        states = {d["InstanceId"]: d["State"] for d in found}
        for instance in group["Instances"]:
            state = states.get(instance["InstanceId"], "not registered")
            if state != "InService":
                problems.setdefault(instance["InstanceId"], []).append(f"{state} in load balancer {name}")
    return problems


def target_group_name(arn: str) -> str:
    """arn:...:targetgroup/<name>/<id> -> <name>"""
    return arn.split(":")[-1].split("/")[1] if "/" in arn else arn


# What a run changes on a group and must give back. Each change is recorded in the ledger, with the run's id,
# before it is made, so that a run that dies leaves a record for its clean-up or the next run's recovery; each is
# given back only while the group still has the run's value: a change someone made since stands.
MIN_SIZE = "MinSize"  # lowered by one while an instance is out (LowerMinSize), when the group is at its minimum
MAX_SIZE = "MaxSize"  # raised as far as ExitStandby needs, when the group reached MaxSize while an instance was out
AZ_REBALANCE = "AZRebalance"  # suspended from the first standby until the run lets go, unless the owner suspended it
SETTINGS = (MIN_SIZE, MAX_SIZE, AZ_REBALANCE)


def lower_min_size_if_needed(group_name: str, run_id: str) -> None:
    """Lower MinSize by one when taking an instance out would otherwise go below it (LowerMinSize)."""
    group = describe_group(group_name)
    change = ledger.change(group_name, MIN_SIZE)
    if change is None:
        if group["DesiredCapacity"] - 1 >= group["MinSize"] or group["MinSize"] == 0:
            return
        change = {"Original": group["MinSize"], "SetTo": group["MinSize"] - 1}
        ledger.remember_change(group_name, MIN_SIZE, run_id, original=change["Original"], set_to=change["SetTo"])
    if group["MinSize"] > change["SetTo"]:
        client("autoscaling").update_auto_scaling_group(AutoScalingGroupName=group_name, MinSize=change["SetTo"])


def make_room(group_name: str, run_id: str) -> None:
    """Raise MaxSize as far as one more instance in the desired capacity needs: returning an instance from
    Standby (ExitStandby adds it to the desired capacity, and is refused above MaxSize: the group reached it while
    the instance was out, by a scale-out or a person), or KeepCapacity's addition (surge.add). The owner's MaxSize
    is the original kept; a raise of the run's still in place keeps its original."""
    group = describe_group(group_name)
    needed = group["DesiredCapacity"] + 1
    if needed <= group["MaxSize"]:
        return
    change = ledger.change(group_name, MAX_SIZE)
    raised = change is not None and change["SetTo"] == group["MaxSize"]
    original = change["Original"] if raised and change else group["MaxSize"]
    ledger.remember_change(group_name, MAX_SIZE, run_id, original=original, set_to=needed)
    client("autoscaling").update_auto_scaling_group(AutoScalingGroupName=group_name, MaxSize=needed)


def suspend_az_rebalance(group_name: str, run_id: str) -> None:
    """Suspend AZRebalance before an instance is taken out: standby can unbalance the group's zones, and Auto
    Scaling would then rebalance them (launch in one zone, terminate in another). It stays suspended until the run
    lets go of the group (let_go): a launch while an instance is out goes to the zone that instance left, so once
    it is back the zones can be two apart, and rebalancing would terminate an instance in the middle of the run.
    Left alone when the group's owner suspended it: theirs is never resumed."""
    suspended = suspended_processes(describe_group(group_name))
    if ledger.change(group_name, AZ_REBALANCE) is None:
        if AZ_REBALANCE in suspended:
            return
        ledger.remember_change(group_name, AZ_REBALANCE, run_id)
    if AZ_REBALANCE not in suspended:
        client("autoscaling").suspend_processes(AutoScalingGroupName=group_name, ScalingProcesses=[AZ_REBALANCE])


def give_back(group_name: str, setting: str, run_id: str | None = None) -> dict | None:
    """Give back what a run changed on the group (one of SETTINGS): this run's only when run_id is given, any
    run's (one that died) otherwise. Not while the group no longer has the run's value: someone changed it since,
    and theirs stands. The record is forgotten either way. Returns the change ({"Original", ...}) if given back.
    MaxSize back below the desired capacity lowers it: Auto Scaling then terminates instances (termination policy)."""
    change = ledger.change(group_name, setting)
    if change is None or run_id not in (None, change["RunId"]):
        return None
    group = describe_group(group_name)
    if setting == AZ_REBALANCE:
        still = AZ_REBALANCE in suspended_processes(group)
        if still:
            client("autoscaling").resume_processes(AutoScalingGroupName=group_name, ScalingProcesses=[AZ_REBALANCE])
    else:
        still = group[setting] == change["SetTo"]
        if still:
            client("autoscaling").update_auto_scaling_group(
                AutoScalingGroupName=group_name, **{setting: change["Original"]}
            )
    ledger.forget_change(group_name, setting)
    return change if still else None


def let_go(group_names: list[str], run_id: str) -> None:
    """At the end of a run: give back the MaxSize it raised and the AZRebalance it suspended on its groups (a
    lowered MinSize comes back with its instance, in exit_standby; one still lowered has an instance left out)."""
    for name in group_names:
        for setting in (MAX_SIZE, AZ_REBALANCE):
            give_back(name, setting, run_id)


def changes_by(group_name: str, run_id: str) -> list[str]:
    """The SETTINGS of the group this run changed and has not given back."""
    return [s for s in SETTINGS if (ledger.change(group_name, s) or {}).get("RunId") == run_id]


def suspended_processes(group: dict) -> set[str]:
    return {p["ProcessName"] for p in group.get("SuspendedProcesses", [])}


def tag_value(resource: dict, key: str) -> str | None:
    """The value of a tag on a resource as AWS describes it ({"Tags": [{"Key", "Value"}, ...]})."""
    return next((t["Value"] for t in resource.get("Tags", []) if t["Key"] == key), None)


def opt_in_value(group: dict) -> str | None:
    return tag_value(group, OPT_IN_TAG_KEY)


def alarm_names(group: dict) -> list[str]:
    """The CloudWatch alarms a group names in its AutoPatchAlarmNames tag (comma-separated)."""
    value = tag_value(group, ALARM_TAG_KEY) or ""
    return [name.strip() for name in value.split(",") if name.strip()]


def _describe_groups(names: list[str] | None) -> list[dict]:
    paginator = client("autoscaling").get_paginator("describe_auto_scaling_groups")
    kwargs = {"AutoScalingGroupNames": names} if names else {}
    try:
        # a page of 100 also lifts the default limit of 50 names per call
        pages = paginator.paginate(**kwargs, PaginationConfig={"PageSize": 100})
        return [g for page in pages for g in page["AutoScalingGroups"]]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ValidationError":
            raise InvalidInput(f"AutoScalingGroupNames: {error.response['Error']['Message']}") from error
        raise


def _opted_in(group: dict, key: str, value: str) -> bool:
    return any(tag["Key"] == key and tag["Value"] == value for tag in group.get("Tags", []))
