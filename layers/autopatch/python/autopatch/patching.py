"""AWS-RunPatchBaseline through Run Command: send it once per instance and run, then follow it."""

import datetime as dt
import json
from dataclasses import dataclass

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
    ssm = client("ssm")
    comment = command_comment(run_id, operation)
    for page in ssm.get_paginator("list_commands").paginate(InstanceId=instance_id):
        for command in page["Commands"]:
            if command["Comment"] == comment and command["DocumentName"] == PATCH_DOCUMENT:
                return command["CommandId"]
    sent = ssm.send_command(
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


def sent_by_run(command_id: str, run_id: str) -> bool:
    """Whether this command is one the run sent (its comment says so)."""
    commands = client("ssm").list_commands(CommandId=command_id)["Commands"]
    return any(c["Comment"].startswith("autopatch ") and c["Comment"].endswith(f" run {run_id}") for c in commands)


def cancel(command_id: str, instance_id: str) -> None:
    client("ssm").cancel_command(CommandId=command_id, InstanceIds=[instance_id])


def send_for_task(
    instance_id: str, run_id: str, task_token: str, operation: str, reboot_option: str, snapshot_id: str, timeout: int
) -> str:
    """Send the command for the state machine's task that waits on `task_token`; its end is handed to that task
    (hand_over_end). The token is stored before the command exists, so that no end of it can go unheard."""
    ledger.remember_task_token(instance_id, run_id, task_token)
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
    command_id = (ledger.waiting_task(instance_id) or {}).get("CommandId")
    if command_id:
        cancel(command_id, instance_id)
    ledger.forget_waiting_task(instance_id)
    return command_id


@dataclass(frozen=True)
class Handover:
    """What became of a command's end: handed to the task waiting for it, or no run waits for this command."""

    handled: bool
    run_id: str | None  # the run whose task waits on the instance
    task_had_ended: bool = False  # the task had timed out or its execution ended: nothing was handed over


def hand_over_end(instance_id: str, command_id: str, status: str) -> Handover:
    """Give the task that waits for this command (it ended with a TERMINAL status) its outcome."""
    waiting = ledger.waiting_task(instance_id)
    run_id = waiting["RunId"] if waiting else None
    if waiting and "CommandId" not in waiting and sent_by_run(command_id, waiting["RunId"]):
        waiting["CommandId"] = command_id  # it ended before send_for_task could note its id
    if not waiting or waiting.get("CommandId") != command_id:
        return Handover(handled=False, run_id=run_id)
    task_had_ended = False
    try:
        client("stepfunctions").send_task_success(
            taskToken=waiting["TaskToken"],
            output=json.dumps({"CommandId": command_id, "Status": status}),
        )
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
            raise
        task_had_ended = True
    ledger.forget_waiting_task(instance_id)
    return Handover(handled=True, run_id=run_id, task_had_ended=task_had_ended)


def duration_seconds(requested, ended) -> float | None:
    """Seconds from SendCommand to the end of the command, as its event tells them (ISO 8601), if it does."""
    try:
        start = dt.datetime.fromisoformat(requested.replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(ended.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    if (start.tzinfo is None) != (end.tzinfo is None):
        return None  # one of them without a zone: no duration to tell
    return (end - start).total_seconds()


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
