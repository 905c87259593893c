"""AWS-RunPatchBaseline through Run Command: send it once per instance and run, then follow it."""

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from . import PATCH_DOCUMENT, ledger
from .clients import client

# The statuses that end an invocation; each sends an "EC2 Command Invocation Status-change Notification".
TERMINAL = ("Success", "Failed", "TimedOut", "Cancelled")


def command_comment(run_id: str, operation: str) -> str:
    """Marks the run's command for this operation, so a repeated send finds it instead of patching twice
    (and a SkipCompliant run's Install is not mistaken for its earlier Scan)."""
    return f"autopatch {operation} run {run_id}"[:100]


def send_patch_command(
    instance_id: str, run_id: str, operation: str, reboot_option: str, snapshot_id: str, timeout: int
) -> str:
    """Send AWS-RunPatchBaseline to one instance; a command this run already sent there is reused."""
    comment = command_comment(run_id, operation)
    already = sent_command(instance_id, comment)
    if already:
        return already["CommandId"]
    sent = client("ssm").send_command(
        InstanceIds=[instance_id],
        DocumentName=PATCH_DOCUMENT,
        Comment=comment,
        TimeoutSeconds=timeout,
        Parameters={
            "Operation": [operation],
            "RebootOption": [reboot_option],
            "SnapshotId": [snapshot_id],
        },
    )
    return sent["Command"]["CommandId"]


def sent_command(instance_id: str, comment: str, document: str = PATCH_DOCUMENT) -> dict | None:
    """The command of this document (the patch's, or a hook's) with this comment on the instance, as ListCommands
    shows it, if one was sent."""
    for page in client("ssm").get_paginator("list_commands").paginate(InstanceId=instance_id):
        for command in page["Commands"]:
            if command["Comment"] == comment and command["DocumentName"] == document:
                return command
    return None


def cancel(command_id: str, instance_id: str) -> None:
    """Cancel the command on the instance. On an instance EC2 terminated (shutting-down, terminated) Systems Manager
    refuses with InvalidInstanceId; its agent went with it, nothing is left to cancel."""
    try:
        client("ssm").cancel_command(CommandId=command_id, InstanceIds=[instance_id])
    except ClientError as error:
        if error.response["Error"]["Code"] != "InvalidInstanceId":
            raise


def send_for_task(
    instance_id: str, run_id: str, task_token: str, operation: str, reboot_option: str, snapshot_id: str, timeout: int
) -> str:
    """Send the command for the state machine's task that waits on `task_token`; its end is handed to that task
    (hand_over_end). The token is stored before the command exists, so that no end of it can go unheard."""
    ledger.remember_task_token(instance_id, run_id, task_token, operation)
    command_id = send_patch_command(
        instance_id,
        run_id=run_id,
        operation=operation,
        reboot_option=reboot_option,
        snapshot_id=snapshot_id,
        timeout=timeout,
    )
    ledger.attach_command(instance_id, command_id)
    return command_id


def cancel_waiting_command(instance_id: str) -> str | None:
    """Cancel the command the instance's waiting task was sent (if it was), and forget the task."""
    waiting = ledger.waiting_task(instance_id)
    if not waiting:
        return None
    command_id = waiting.get("CommandId")
    if command_id:
        cancel(command_id, instance_id)
    ledger.forget_waiting_task(instance_id, waiting["TaskToken"])
    return command_id


@dataclass(frozen=True)
class Handover:
    """What became of a command's end: handed to the task waiting for it by this call, or not (no run waits for
    this command, or another delivery of the same end handed it over first)."""

    handled: bool
    run_id: str | None  # the run whose task waits on the instance
    task_had_ended: bool = False  # the task had timed out or its execution ended: nothing was handed over


def hand_over_end(instance_id: str, command_id: str, status: str) -> Handover:
    """Give the task that waits for this command (it ended with a TERMINAL status) its outcome, once: the
    status-change event, its repeats and the follower may all bring the same end, at the same moment."""
    waiting = ledger.waiting_task(instance_id)
    run_id = waiting["RunId"] if waiting else None
    if waiting and "CommandId" not in waiting:  # it ended before send_for_task could note its id
        waiting["CommandId"] = (_waited_command(instance_id, waiting) or {}).get("CommandId")
    if not waiting or waiting["CommandId"] != command_id:
        return Handover(handled=False, run_id=run_id)
    task_had_ended = False
    try:
        client("stepfunctions").send_task_success(
            taskToken=waiting["TaskToken"],
            output=json.dumps({"CommandId": command_id, "Status": status}),
        )
    except ClientError as error:
        # a token already used (by a delivery of the same end a moment ago) is refused the same way
        if error.response["Error"]["Code"] not in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
            raise
        task_had_ended = True
    # Forgotten only after SendTaskSuccess, so that a crash in between leaves the end for the next delivery or
    # the follower; the one that forgets the task is the one that handled it.
    if not ledger.forget_waiting_task(instance_id, waiting["TaskToken"]):
        return Handover(handled=False, run_id=run_id)
    return Handover(handled=True, run_id=run_id, task_had_ended=task_had_ended)


def _waited_command(instance_id: str, waiting: dict) -> dict | None:
    """The command sent for the waiting task, found by the comment its run and operation give it."""
    if "Operation" not in waiting:
        return None
    return sent_command(instance_id, command_comment(waiting["RunId"], waiting["Operation"]))


@dataclass(frozen=True)
class Followed:
    """A waited-for command the follower found ended, and what became of its end."""

    instance_id: str
    command_id: str
    status: str
    requested: str  # when it was sent (ISO 8601)
    learnt: str  # when the follower found it ended (ISO 8601), within a minute of its end
    handover: Handover


def follow_waiting_commands() -> Iterator[Followed]:
    """Read the status of every waited-for patch command and hand over the end of each one that ended: the end
    is learnt within a minute (the follower's schedule) even when its status-change event never comes. An AWS
    error on one task holds up no other's handover: the first is raised once the others are followed."""
    failed = None
    for waiting in ledger.waiting_tasks():
        try:
            followed = _follow(waiting)
        except ClientError as error:
            failed = failed or error
            continue
        if followed is not None:
            yield followed
    if failed is not None:
        raise failed


def _follow(waiting: dict) -> Followed | None:
    instance_id = waiting["InstanceId"]
    command = _followed_command(instance_id, waiting)
    if command is None or command["Status"] not in TERMINAL:
        return None
    handover = hand_over_end(instance_id, command["CommandId"], command["Status"])
    requested, learnt = command["RequestedDateTime"].isoformat(), dt.datetime.now(dt.UTC).isoformat()
    return Followed(instance_id, command["CommandId"], command["Status"], requested, learnt, handover)


def _followed_command(instance_id: str, waiting: dict) -> dict | None:
    if "CommandId" not in waiting:
        return _waited_command(instance_id, waiting)
    commands = client("ssm").list_commands(CommandId=waiting["CommandId"])["Commands"]
    return commands[0] if commands else None


def duration_seconds(requested, ended) -> float | None:
    """Seconds from SendCommand to the end of the command (ISO 8601 times, as its event or the follower tell
    them), if they tell them."""
    try:
        start = dt.datetime.fromisoformat(requested.replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(ended.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    if (start.tzinfo is None) != (end.tzinfo is None):
        return None  # one of them without a zone: no duration to tell
    return (end - start).total_seconds()


def count_duration(metrics, requested, ended) -> None:
    """PatchDuration, counted by whichever delivery handed the end over (so once per command)."""
    seconds = duration_seconds(requested, ended)
    if seconds is not None:
        metrics.add_metric(name="PatchDuration", unit=MetricUnit.Seconds, value=seconds)


def run_command(instance_id: str, run_id: str) -> dict | None:
    """The run's patch command on the instance (its Install, else its Scan) as ListCommands shows it:
    {"CommandId", "Operation", "Status"}, or None when the run sent none there."""
    comments = {command_comment(run_id, operation): operation for operation in ("Install", "Scan")}
    found = []
    for page in client("ssm").get_paginator("list_commands").paginate(InstanceId=instance_id):
        for command in page["Commands"]:
            if command.get("Comment") in comments and command.get("DocumentName") == PATCH_DOCUMENT:
                operation = comments[command["Comment"]]
                found.append({"CommandId": command["CommandId"], "Operation": operation, "Status": command["Status"]})
    found.sort(key=lambda command: command["Operation"] != "Install")
    return found[0] if found else None


def command_status(command_id: str) -> str | None:
    commands = client("ssm").list_commands(CommandId=command_id)["Commands"]
    return commands[0]["Status"] if commands else None
