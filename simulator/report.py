"""The simulator's report (the --json fields are a contract: add fields, never rename them)."""

import calendar
import datetime as dt
import functools
import json
from collections.abc import Mapping
from typing import Any

import boto3
import botocore.parsers
import botocore.session

from autopatch import PATCH_TAG_KEY

from . import moto_targets
from .aws.ssm import PATCH_DOCUMENT
from .engine import REGION


def execution_history(arn: str) -> list[dict]:
    """The execution's events as GetExecutionHistory returns them (moto returns them in one page).

    moto's response serializer walks a history field by field, which for a 500-instance run takes minutes: the
    events are taken from moto's backend instead, and botocore parses them from the JSON that serializer writes
    (timestamps in epoch seconds), into the same dicts."""
    backend = moto_targets.SFN_BACKENDS.get()[moto_targets.ACCOUNT.get()][REGION]
    events = [{**e, "timestamp": _epoch(e["timestamp"])} for e in backend.get_execution_history(arn)["events"]]
    body = json.dumps({"events": events}).encode()
    return _HISTORY.parser.parse({"body": body, "headers": {}, "status_code": 200}, _HISTORY.shape)["events"]


class _History:
    """botocore's JSON parser and GetExecutionHistory's output shape, made once."""

    @functools.cached_property
    def parser(self):
        return botocore.parsers.create_parser("json")

    @functools.cached_property
    def shape(self):
        service = botocore.session.get_session().get_service_model("stepfunctions")
        return service.operation_model("GetExecutionHistory").output_shape


_HISTORY = _History()


@functools.cache
def _epoch(timestamp: str) -> int | float:
    """An event's timestamp (moto keeps ISO 8601 in milliseconds) as moto's serializer sends it: epoch seconds,
    truncated to the millisecond."""
    moment = dt.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ")
    seconds = calendar.timegm(moment.timetuple())
    return seconds + (moment.microsecond // 1000) / 1000.0 if moment.microsecond else seconds


def state_transitions(events: list[dict]) -> int:
    """What AWS bills: every state entered, and every retry of a task."""
    entered = sum(1 for e in events if e["type"].endswith("StateEntered"))
    task_entries = sum(1 for e in events if e["type"] == "TaskStateEntered")
    scheduled = sum(1 for e in events if e["type"] in ("TaskScheduled", "LambdaFunctionScheduled"))
    return entered + max(scheduled - task_entries, 0)


def run_summary(description: Mapping[str, Any]) -> dict:
    """The run's summary: the output of a run that succeeded, the cause of one that failed on instances;
    for a large run the per-instance list is read from the report it names (ReportLocation)."""
    text = description.get("output") or description.get("cause") or "{}"
    try:
        summary = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(summary, dict):
        return {}
    if "ReportLocation" in summary and not isinstance(summary.get("Instances"), list):
        bucket, key = summary["ReportLocation"].removeprefix("s3://").split("/", 1)
        s3 = boto3.client("s3", region_name=REGION)
        summary = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return summary


def follow_chain(descriptions: dict, name: str) -> list[str]:
    """A run's executions in order: each one that continued names the next in its output (ContinuedAs)."""
    chain = [name]
    while True:
        output = json.loads(descriptions[chain[-1]].get("output") or "{}")
        following = output.get("ContinuedAs") if isinstance(output, dict) else None
        if not following or following not in descriptions:
            return chain
        chain.append(following)


def build_report(sim, execution_arns: list[str]) -> dict:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    ec2 = boto3.client("ec2", region_name=REGION)
    asg = boto3.client("autoscaling", region_name=REGION)
    machine = sfn.describe_execution(executionArn=execution_arns[0])["stateMachineArn"]
    listed = [
        e["executionArn"]
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
        for e in page["executions"]
    ]
    descriptions, executions, histories = {}, [], {}
    for arn in listed:
        description = sfn.describe_execution(executionArn=arn)
        descriptions[description["name"]] = description
    for description in sorted(descriptions.values(), key=lambda d: (d["startDate"], d["name"])):
        events = execution_history(description["executionArn"])
        histories[description["name"]] = events
        executions.append(
            {
                "name": description["name"],
                "status": description["status"],
                "error": description.get("error"),
                "cause": description.get("cause"),
                "history_events": len(events),
                "state_transitions": state_transitions(events),
                "input_bytes": len(description.get("input") or ""),
                "output_bytes": len(description.get("output") or ""),
                "largest_state_bytes": largest_state(events),
                "description": description,
            }
        )
    started = [sfn.describe_execution(executionArn=arn)["name"] for arn in execution_arns]
    chain = follow_chain(descriptions, started[0])
    first, main = descriptions[chain[0]], descriptions[chain[-1]]
    results = {}  # an instance's result in the run that reached it (also_start runs share the fleet)
    for run in reversed(started):
        last = descriptions[follow_chain(descriptions, run)[-1]]
        for item in run_summary(last).get("Instances", []):
            if item["Result"] != "NotStarted" or item["InstanceId"] not in results:
                results[item["InstanceId"]] = item
    tags = {}
    for page in ec2.get_paginator("describe_tags").paginate(
        Filters=[{"Name": "key", "Values": [PATCH_TAG_KEY]}, {"Name": "resource-type", "Values": ["instance"]}]
    ):
        tags.update({t["ResourceId"]: t["Value"] for t in page["Tags"]})
    instances = []
    order = {spec.name: n for n, spec in enumerate(sim.scenario.groups)}
    # every instance that was in a group during the run: by group, then launch order
    for inst in sorted(sim.model.instances.values(), key=lambda i: (order[i.group], i.index)):
        health = sorted({state for state, _ in inst.targets.values()})
        instances.append(
            {
                "instance_id": inst.instance_id,
                "group": inst.group,
                "index": inst.index,
                "result": results.get(inst.instance_id, {}).get("Result", "NotStarted"),
                "command_id": results.get(inst.instance_id, {}).get("CommandId"),
                "compliance": _compliance(results.get(inst.instance_id, {}).get("Compliance")),
                "tag": tags.get(inst.instance_id),
                "lifecycle_state": sim._lifecycle(inst),
                "health": ",".join(health) if health else "not load balanced",
                "launched_during_run": inst.launched_during_run,
            }
        )
    groups = []
    end = (main.get("stopDate") or sim.clock.now_datetime()).timestamp()  # the end of the run
    for spec in sim.scenario.groups:
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[spec.name])["AutoScalingGroups"][0]
        groups.append(
            {
                "name": spec.name,
                "desired": group["DesiredCapacity"],
                "min_size": group["MinSize"],
                "max_size": group["MaxSize"],
                "max_out_of_service": sim.model.max_out_of_service.get(spec.name, 0),
                "image_id": sim.model.launch_image(spec.name),
                "launch_template": _launch_template(group),
                "scaled_out": sim.scaled_out[spec.name],
                "suspended_processes": [p["ProcessName"] for p in group["SuspendedProcesses"]],
                "min_healthy": sim.model.min_healthy[spec.name],
                # instance-seconds below the healthy count at the start (min_healthy's), to the end of the run
                "capacity_seconds_lost": round(sim.model.capacity_seconds_lost(spec.name, end), 3),
                "desired_moved_by_events": sim.model.groups[spec.name].desired_moved_by_events,
                # ECS (a group with `ecs`): the service tasks a reboot killed, and each container instance's status
                "tasks_lost": cluster.tasks_lost if (cluster := sim.model.cluster_of_group(spec.name)) else 0,
                "container_instances": sim.model.container_instance_statuses(spec.name),
                # the warm pool's instances and their lifecycle state at the end (none without a warm pool)
                "warm_instances": [
                    {"instance_id": w["InstanceId"], "lifecycle_state": w["LifecycleState"]}
                    for w in sim.model.groups[spec.name].warm_instances
                ],
            }
        )
    calls = sim.model.api_calls
    report = {
        "scenario": sim.scenario.name,
        "status": main["status"],
        "error": main.get("error"),
        "cause": main.get("cause"),
        "output": json.loads(main["output"]) if main.get("output") else None,
        "virtual_seconds": round(end - first["startDate"].timestamp(), 3),
        "run_executions": chain,
        "lambda_invocations": sim.lambda_invocations,
        "lambda_gb_seconds": round(sim.lambda_gb_seconds, 3),
        "executions": [{k: v for k, v in e.items() if k != "description"} for e in executions],
        "instances": instances,
        "groups": groups,
        "ecs_calls": sim.model.ecs_calls,
        "hook_invocations": _hook_invocations(sim),
        "notifications": sorted(
            [
                {
                    "t": c["t"],
                    "subject": c["params"].get("Subject"),
                    "message": c["params"].get("Message"),
                    "source": "run",
                }
                for c in calls
                if c["operation"] == "Publish"
            ]
            + sim.event_notifications,
            key=lambda n: n["t"],
        ),
        "slack": sim.slack_messages,
        "dead_letters": sim.dead_letters,
        "holds": _holds(sim),
        "images": _images(ec2),
        "deregistered_images": sim.model.deregistered_images,
        "deleted_snapshots": sim.model.deleted_snapshots,
        "api_calls": calls,
        "timeline": [{"t": e.t, "group": e.group, "instance": e.instance, "text": e.text} for e in sim.timeline],
    }
    report["runs"] = [_run(descriptions, run, first["startDate"]) for run in started]
    report["_histories"] = histories
    report["_logs"] = sim.log_lines
    report["summary"] = run_summary(main)
    return report


def _run(descriptions: dict, name: str, start: dt.datetime) -> dict:
    """A run the simulation started (the first, also_start, later_runs): its executions, when it started and how
    long it took (virtual seconds, to its last execution's end), its status and summary."""
    chain = follow_chain(descriptions, name)
    first, last = descriptions[chain[0]], descriptions[chain[-1]]
    ended = last.get("stopDate")
    return {
        "name": name,
        "executions": chain,
        "started_at": round(first["startDate"].timestamp() - start.timestamp(), 3),
        "virtual_seconds": round(ended.timestamp() - first["startDate"].timestamp(), 3) if ended else None,
        "status": last["status"],
        "summary": run_summary(last),
    }


def _hook_invocations(sim) -> list[dict]:
    """Every hook run, in the order they started: each document but AWS-RunPatchBaseline run on an instance (its
    phase from the command's Comment) and each hook function invoked (from its payload's Hook)."""
    start = sim.clock.start.timestamp()
    documents = [
        {
            "at": round(inv.sent_at - start, 3),
            "group": sim.model.instances[inv.instance_id].group,
            "instance_id": inv.instance_id,
            "phase": inv.phase,
            "kind": "document",
            "hook": inv.document,
            "status": inv.status,
            "seconds": round(inv.end_at - inv.sent_at, 3) if inv.end_at is not None else None,
        }
        for inv in sim.model.invocations.values()
        if inv.document != PATCH_DOCUMENT
    ]
    return sorted(documents + sim.hook_function_runs, key=lambda run: run["at"])


def _holds(sim) -> list[dict]:
    """The groups the ledger still holds at the end, and which execution holds each."""
    items = boto3.client("dynamodb", region_name=REGION).get_paginator("scan").paginate(TableName=sim.ledger_table)
    locks = [i for page in items for i in page["Items"] if i["Id"]["S"].startswith("lock#")]
    return sorted(
        ({"group": i["Id"]["S"].removeprefix("lock#"), "held_by": i["Holder"]["S"].rsplit(":", 1)[-1]} for i in locks),
        key=lambda hold: hold["group"],
    )


def largest_state(events: list[dict]) -> int:
    """The largest state input or output in the history, in bytes (Step Functions' limit is 262,144)."""
    sizes = [0]
    for event in events:
        for details in event.values():
            if isinstance(details, dict):
                for key in ("input", "output"):
                    if isinstance(details.get(key), str):
                        sizes.append(len(details[key].encode()))
    return max(sizes)


def _launch_template(group: dict) -> dict | None:
    """The launch template the group follows, as DescribeAutoScalingGroups shows it; None for a launch
    configuration."""
    if "MixedInstancesPolicy" in group:
        template = group["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]
    else:
        template = group.get("LaunchTemplate")
    if template is None:
        return None
    return {
        "id": template["LaunchTemplateId"],
        "name": template["LaunchTemplateName"],
        "version": template.get("Version"),
    }


def _images(ec2) -> list[dict]:
    """Every registered image of the account tagged with a group, oldest first."""
    images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag-key", "Values": ["AutoPatchGroup"]}])
    found = []
    for image in sorted(images["Images"], key=lambda i: (i["CreationDate"], i["ImageId"])):
        tags = {t["Key"]: t["Value"] for t in image.get("Tags", [])}
        found.append(
            {
                "image_id": image["ImageId"],
                "name": image["Name"],
                "state": image["State"],
                "group": tags["AutoPatchGroup"],
                "baked_by": tags.get("AutoPatchBakedBy"),
                "snapshot_ids": [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if "Ebs" in m],
            }
        )
    return found


def _compliance(state: dict | None) -> dict | None:
    """installed, missing, failed, pending_reboot, when the run read them."""
    return {key: state[key] for key in ("installed", "missing", "failed", "pending_reboot")} if state else None
