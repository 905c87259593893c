"""Preflight: before the run changes anything, is every group in a state where an instance can safely be taken out?"""

import time
from dataclasses import dataclass

from . import VERSION, groups, hooks, images, ledger, recovery, runs, surge, tags, window
from .clients import client
from .errors import InvalidInput, PreflightFailed

BLOCKING_PROCESSES = ("Launch", "Terminate")
SSM_FILTER_LIMIT = 50  # values per DescribeInstanceInformation filter
SHOWN_PER_GROUP = 50  # a dry run lists this many instances per group; the counts cover all of them
# Instances in a warm pool are stopped, hibernated or running outside the group's capacity, not in service
# (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-warm-pools.html)
WARM_POOL_NOTE = (
    "The run patches the group's InService instances, not those in its warm pool (they are not in service). One "
    "that leaves the pool for the group during the run joins it as an instance launched during the run; with "
    "BakeAmi, instances launched into the pool after the bake start from the patched image, while those already "
    "in it keep theirs. The group is not refused for its warm pool."
)


@dataclass(frozen=True)
class PlanOptions:
    """What the plan and its forecast take from the run's settings besides the preflight's own."""

    end_by: str | None = None  # the window (EndBy), None: no window
    concurrency: int = 1  # GroupConcurrency
    skip_patched_hours: int = 0  # SkipPatchedWithinHours
    hooks: dict | None = None  # the input's Hooks (autopatch.hooks), each group's tags overriding them


def plan_run(
    run_id: str,
    group_names: list[str],
    lower_min_size: bool,
    skip_offline: bool,
    keep_capacity: bool = False,
    plan: PlanOptions = PlanOptions(),
) -> dict:
    """Check the groups and keep the plan in the run's report (S3) for the slices to read, with its forecast: per
    group how many instances it patches (and its warm pool, if it has one: not patched), how many are skipped, and
    the forecast, its counts only (which instances of each group fit in the window, and which not, are in the
    report's plan)."""
    found = check(run_id, group_names, lower_min_size, skip_offline, keep_capacity, plan.skip_patched_hours, plan.hooks)
    found["Forecast"] = window.forecast(run_id, found["Groups"], plan.end_by, plan.concurrency)
    runs.save_plan(run_id, found)
    forecast = found["Forecast"]
    return {
        "Groups": [{"GroupName": g["GroupName"], "Count": len(g["Instances"]), **_warm(g)} for g in found["Groups"]],
        "Skipped": len(found["Skipped"]),
        "Forecast": {
            **forecast,
            "Groups": [{k: v for k, v in g.items() if k not in ("Fit", "Left")} for g in forecast["Groups"]],
        },
    }


def dry_run(
    run_id: str,
    group_names: list[str],
    lower_min_size: bool,
    skip_offline: bool,
    bake: bool,
    opt_in_value: str,
    keep_capacity: bool = False,
    plan: PlanOptions = PlanOptions(),
) -> dict:
    """Check the groups as a run would, holds first (GroupLocked while a live run holds one), and say what it
    would do, writing nothing: per group its instances in order (the first SHOWN_PER_GROUP), what it would
    recover first (Recover), whose hold it would take over (TakeOverHoldOf), its warm pool if it has one
    (WarmPool: what is in it, and that the run does not patch it), with KeepCapacity what it would add to the group
    while patching it (KeepCapacity), and, with BakeAmi, which launch template a bake would change or why it would
    not bake), the product's version that would run it, and the forecast (autopatch.window.forecast: what fits is
    the first FitCount of each group's Instances, so only Left is listed, its first SHOWN_PER_GROUP, for the dry
    run's output to stay well within the 256 KiB a state's output may have)."""
    taken_over = ledger.holds_to_take_over(group_names)
    found = check(run_id, group_names, lower_min_size, skip_offline, keep_capacity, plan.skip_patched_hours, plan.hooks)
    forecast = window.forecast(run_id, found["Groups"], plan.end_by, plan.concurrency)
    return {
        "Groups": [
            {
                "GroupName": g["GroupName"],
                "Count": len(g["Instances"]),
                "Instances": g["Instances"][:SHOWN_PER_GROUP],
                "Recover": g["Recover"],
                "TakeOverHoldOf": taken_over.get(g["GroupName"]),
                "Hooks": g["Hooks"],
                **_warm(g),
                **({"KeepCapacity": surge.plan(groups.describe_group(g["GroupName"]))} if keep_capacity else {}),
                **({"Bake": images.bake_plan(g["GroupName"], opt_in_value)} if bake else {}),
            }
            for g in found["Groups"]
        ],
        "Skipped": found["Skipped"],
        "Version": VERSION,
        "Forecast": {
            **forecast,
            "Groups": [
                {**{k: v for k, v in g.items() if k != "Fit"}, "Left": g["Left"][:SHOWN_PER_GROUP]}
                for g in forecast["Groups"]
            ],
        },
    }


def check(
    run_id: str,
    group_names: list[str],
    lower_min_size: bool,
    skip_offline: bool,
    keep_capacity: bool = False,
    skip_patched_hours: int = 0,
    run_hooks: dict | None = None,
) -> dict:
    """The plan (instances to patch per group, what the run recovers first in each, its hooks, instances
    skipped), or PreflightFailed listing every problem (InvalidInput first when the input's Hooks name a document
    or function the stack does not allow). With skip_patched_hours, an instance a run of this stack patched within
    that many hours is skipped (with that run and when), offline or not. Each group is judged as it will be once
    the run has recovered what runs that died left in it (recovery.left_behind): an instance it will return from
    Standby counts as InService, what those runs changed on the group as given back."""
    plan, skipped, problems = [], [], []
    given = hooks.parse_input(run_hooks or {})
    hooks.check_input(given)
    for name in group_names:
        group = groups.describe_group(name)
        group_hooks, hook_problems = _hooks(group, given)
        left = recovery.left_behind(group, run_id)
        returning = {i["InstanceId"] for i in left if i["LifecycleState"] == "Standby" and "NotReady" not in i}
        group = _as_recovered(group, returning)
        found, offline = _group_problems(group, lower_min_size, keep_capacity, returning)
        recent = _patched_recently(groups.in_service_instances(group), skip_patched_hours)
        skipped += [
            {"InstanceId": i, "GroupName": name, "Result": "Skipped", "Reason": why["Reason"], **why["By"]}
            for i, why in recent.items()
        ]
        offline = [(i, r) for i, r in offline if i not in recent]
        found += [i["NotReady"] for i in left if "NotReady" in i] + hook_problems
        if offline and skip_offline:
            skipped += [{"InstanceId": i, "GroupName": name, "Result": "Skipped", "Reason": r} for i, r in offline]
        else:
            found += [f"{i}: SSM agent {r}" for i, r in offline]
        if found:
            problems.append(f"group {name}: " + "; ".join(found))
        skip = {s["InstanceId"] for s in skipped}
        in_service = [i for i in groups.in_service_instances(group) if i not in skip]
        plan.append(
            {"GroupName": name, "Instances": in_service, "Recover": left, "Hooks": group_hooks, **_warm_pool(name)}
        )
    if problems:
        raise PreflightFailed("Refusing to start: " + " | ".join(problems) + ".")
    return {"Groups": plan, "Skipped": skipped}


def _hooks(group: dict, given: dict) -> tuple[dict, list[str]]:
    """The group's hooks (the input's, its tags overriding them) and what is wrong with its tags' hooks."""
    try:
        found = hooks.for_group(group, given)
    except InvalidInput as error:
        return given, [str(error)]
    return found, hooks.not_allowed(found)


def _patched_recently(instance_ids: list[str], hours: int) -> dict[str, dict]:
    """SkipPatchedWithinHours: the instances a run of this stack patched within `hours`, each with why it is
    skipped and by which run ({"Reason", "By": {"PatchedAt", "PatchedBy"}})."""
    if not hours or not instance_ids:
        return {}
    found = tags.patched_since(instance_ids, time.time() - hours * 3600)
    return {
        i: {
            "Reason": f"patched by run {by['PatchedBy']} at {by['PatchedAt']}, within SkipPatchedWithinHours={hours}",
            "By": by,
        }
        for i, by in found.items()
    }


def _warm_pool(name: str) -> dict:
    """{"WarmPool": ...} of a group that has one, as the plan shows it (not a reason to refuse the group); {}."""
    pool = groups.warm_pool(name)
    return {} if pool is None else {"WarmPool": {**pool, "Patched": False, "Note": WARM_POOL_NOTE}}


def _warm(group: dict) -> dict:
    """A planned group's WarmPool, to show where the plan is shown."""
    return {"WarmPool": group["WarmPool"]} if "WarmPool" in group else {}


def _as_recovered(group: dict, returning: set[str]) -> dict:
    """The group once the run's recovery has given back what dead runs changed on it (each only while the group
    still has that run's value) and the instances returning from Standby are back InService (ExitStandby adds
    each to the desired capacity, MaxSize raised if need be)."""
    name = group["AutoScalingGroupName"]
    lowered, raised, suspended = (ledger.change(name, setting) for setting in groups.SETTINGS)
    added = ledger.change(name, surge.ADDED)
    min_size = lowered["Original"] if lowered and group["MinSize"] == lowered["SetTo"] else group["MinSize"]
    # a MaxSize raised for an instance a dead run added stays with it (surge.take_over)
    kept = added is not None and raised is not None and added["RunId"] == raised["RunId"]
    max_size = raised["Original"] if raised and group["MaxSize"] == raised["SetTo"] and not kept else group["MaxSize"]
    desired = min(group["DesiredCapacity"], max_size) + len(returning)
    processes = group.get("SuspendedProcesses", [])
    instances = group["Instances"]
    return {
        **group,
        "Instances": [{**i, "LifecycleState": "InService"} if i["InstanceId"] in returning else i for i in instances],
        "DesiredCapacity": desired,
        "MinSize": min_size,
        "MaxSize": max(max_size, desired),
        "SuspendedProcesses": [p for p in processes if not (suspended and p["ProcessName"] == groups.AZ_REBALANCE)],
    }


def _group_problems(
    group: dict, lower_min_size: bool, keep_capacity: bool, returning: set[str]
) -> tuple[list[str], list[tuple[str, str]]]:
    """returning: instances the run returns from Standby before it patches; their health is waited for then.
    With KeepCapacity an instance is added before one leaves: one InService instance is enough, and MinSize is
    never crossed."""
    name, problems = group["AutoScalingGroupName"], []
    instances = group["Instances"]
    in_service = groups.in_service_instances(group)
    if not in_service:
        problems.append("no InService instance")
    elif len(in_service) < 2 and not keep_capacity:
        problems.append(
            f"fewer than two InService instances ({len(in_service)}): taking one out would leave the group without"
            " service (KeepCapacity: true adds one first and patches it with no downtime)"
        )
    desired, min_size = group["DesiredCapacity"], group["MinSize"]
    if desired - 1 < min_size and not (lower_min_size or keep_capacity):
        problems.append(
            f"desired capacity {desired} minus one is below MinSize {min_size} (KeepCapacity: true adds an instance"
            " first; LowerMinSize: true lowers MinSize by one while an instance is out)"
        )
    suspended = sorted({p["ProcessName"] for p in group.get("SuspendedProcesses", [])} & set(BLOCKING_PROCESSES))
    if suspended:
        problems.append(f"suspended processes: {', '.join(suspended)}")
    problems += groups.active_refreshes(name)
    problems += [f"{i['InstanceId']} is {i['LifecycleState']}" for i in instances if i["LifecycleState"] != "InService"]
    unhealthy = groups.target_problems(group)
    problems += [f"{i} is {', '.join(unhealthy[i])}" for i in in_service if i in unhealthy and i not in returning]
    return problems, _offline(in_service)


def _offline(instance_ids: list[str]) -> list[tuple[str, str]]:
    """Instances whose SSM agent cannot take a command, with their PingStatus."""
    ping = {}
    paginator = client("ssm").get_paginator("describe_instance_information")
    for start in range(0, len(instance_ids), SSM_FILTER_LIMIT):
        chunk = instance_ids[start : start + SSM_FILTER_LIMIT]
        for page in paginator.paginate(Filters=[{"Key": "InstanceIds", "Values": chunk}]):
            ping.update({i["InstanceId"]: i["PingStatus"] for i in page["InstanceInformationList"]})
    return [(i, ping.get(i, "not registered with Systems Manager")) for i in instance_ids if ping.get(i) != "Online"]
