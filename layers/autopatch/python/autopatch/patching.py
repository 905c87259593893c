"""AWS-RunPatchBaseline through Run Command: send it once per instance and run, then follow it."""

from . import PATCH_DOCUMENT
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
