"""Start of a run: put right what a run that died left behind in this run's groups.

The preflight reads the same leftovers first (left_behind) and judges each group as it will be once they are
back. Called once this run holds the groups, so any instance still tagged InProgress by another run, any instance
another run of this stack left in Standby (whatever its tag: a deregistration that outlasted that run's waits
leaves one tagged Failed), and anything another run changed on the group (groups.SETTINGS), belong to a run that is
no longer running."""

import time

from . import PATCH_TAG_KEY, RUN_TAG_KEY, alerts, groups, ledger, patching, surge
from .clients import client
from .errors import InstanceNotReady


def recover_groups(
    group_names: list[str], run_id: str, execution_arn: str, topic_arn: str, health_timeout: int
) -> list[dict]:
    """recover_group for each of the run's groups: every instance returned to service."""
    return [
        instance
        for name in group_names
        for instance in recover_group(name, run_id, execution_arn, topic_arn, health_timeout)
    ]


def recover_group(group_name: str, run_id: str, execution_arn: str, topic_arn: str, health_timeout: int) -> list[dict]:
    """Give back what dead runs changed on the group: a MaxSize raised first (the room to return an instance is then
    made, and recorded, as this run's own: it is put back once the instance is no longer Pending); return
    left-behind instances to service, alert and tag them Failed; then a MinSize lowered and AZRebalance suspended;
    an instance a dead run added becomes this run's to give back.
    Safe to repeat: what this run recovered is kept in the ledger, and returned again, before anything is done
    to it; the tag comes last, so a retry after a failed alert still finds the instance and alerts."""
    # an instance a dead run added (KeepCapacity), and the MaxSize raised for it, serve until this run lets go of
    # the group: removing it now would take an instance out while the ones returned below are not yet healthy
    surge.take_over(group_name, run_id)
    raised = ledger.change(group_name, groups.MAX_SIZE)
    if raised and raised["RunId"] != run_id:  # this run's own (a retry's) stays while its instance may be Pending
        groups.give_back(group_name, groups.MAX_SIZE, raised["RunId"])
    for left in left_behind(groups.describe_group(group_name), run_id):
        instance_id, state, dead_run = left["InstanceId"], left["LifecycleState"], left["LeftBy"]
        if "NotReady" in left:  # the preflight refuses this; here only if it changed since
            raise InstanceNotReady(left["NotReady"])
        if groups.gone_reason(group_name, instance_id):
            # EC2 terminated it in Standby: ExitStandby gives back its capacity (Auto Scaling replaces it); there is
            # nothing to wait for or patch
            if state == "Standby":
                groups.exit_standby(group_name, instance_id, run_id)
            continue
        ledger.record_recovered(run_id, group_name, instance_id)
        if state == "Standby":
            groups.exit_standby(group_name, instance_id, run_id)
        alerts.publish_failure(
            topic_arn,
            {
                "InstanceId": instance_id,
                "GroupName": group_name,
                "RunId": run_id,
                "ExecutionArn": execution_arn,
                "Step": f"Recovery: left {state} with tag {left['Tag']} by run {dead_run}, which is no longer running",
                "Error": "LeftByDeadRun",
                "Cause": "A run stopped or crashed while patching this instance; its patch state is unknown.",
                "ReturnedToService": "ExitStandby called; the run waits until it is healthy before going on"
                if state == "Standby"
                else "it was InService; it is patched again in this run",
            },
        )
        # the tag keeps the dead run's id: this run's error budget counts only its own failures
        client("ec2").create_tags(
            Resources=[instance_id],
            Tags=[{"Key": PATCH_TAG_KEY, "Value": "Failed"}, {"Key": RUN_TAG_KEY, "Value": dead_run}],
        )
    for setting in (groups.MIN_SIZE, groups.AZ_REBALANCE):
        groups.give_back(group_name, setting)
    deadline = int(time.time()) + health_timeout
    return [
        {"InstanceId": instance_id, "GroupName": group_name, "Deadline": deadline}
        for instance_id in ledger.recovered(run_id, group_name)
    ]


def left_behind(group: dict, run_id: str) -> list[dict]:
    """What runs that no longer run left in the group, read only: per instance InstanceId, LifecycleState,
    LeftBy (that run's id) and Tag, and NotReady (why) while it cannot be returned to service yet."""
    states = {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]}
    found = []
    for instance_id, (dead_run, tag) in _left_by_other_runs(states, run_id).items():
        left = {"InstanceId": instance_id, "LifecycleState": states[instance_id], "LeftBy": dead_run, "Tag": tag}
        not_ready = _not_ready(instance_id, states[instance_id], dead_run)
        found.append({**left, "NotReady": not_ready} if not_ready else left)
    return found


def _not_ready(instance_id: str, state: str, dead_run: str) -> str | None:
    if state == "EnteringStandby":
        return f"Instance {instance_id}, left by run {dead_run}, is still EnteringStandby."
    command = patching.run_command(instance_id, dead_run) if state == "Standby" else None
    if command and command["Status"] not in patching.TERMINAL:
        return (
            f"Instance {instance_id}, left in Standby by run {dead_run}, still has its patch command "
            f"{command['CommandId']} {command['Status']}: it is not returned to service while that command may "
            "reboot it."
        )
    return None


OUT_OF_SERVICE = ("EnteringStandby", "Standby")


def _left_by_other_runs(states: dict[str, str], run_id: str) -> dict[str, tuple[str, str]]:
    """Instances another run left behind: tagged InProgress by it, or in Standby with its run id, whatever the
    tag. Instance id -> (that run's id, the tag's value)."""
    instance_ids = list(states)
    if not instance_ids:
        return {}
    found: dict[str, dict[str, str]] = {}  # instance id -> its tags
    paginator = client("ec2").get_paginator("describe_tags")
    for page in paginator.paginate(
        Filters=[
            {"Name": "resource-id", "Values": instance_ids},
            {"Name": "key", "Values": [PATCH_TAG_KEY, RUN_TAG_KEY]},
        ]
    ):
        for tag in page["Tags"]:
            found.setdefault(tag["ResourceId"], {})[tag["Key"]] = tag["Value"]
    return {
        instance_id: (tags.get(RUN_TAG_KEY, "unknown"), tags.get(PATCH_TAG_KEY, "none"))
        for instance_id, tags in found.items()
        if tags.get(RUN_TAG_KEY) != run_id
        and (tags.get(PATCH_TAG_KEY) == "InProgress" or (RUN_TAG_KEY in tags and states[instance_id] in OUT_OF_SERVICE))
    }
