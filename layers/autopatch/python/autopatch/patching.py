"""AWS-RunPatchBaseline through Run Command: send it once per instance and run, then follow it."""

import time

from botocore.exceptions import ClientError

from . import PATCH_DOCUMENT
from .clients import client
from .errors import PatchCommandFailed, PatchTimedOut

TERMINAL_FAILURES = ("Cancelled", "TimedOut", "Failed")
STILL_RUNNING = ("Pending", "InProgress", "Delayed", "Cancelling")


def command_comment(run_id: str) -> str:
    """Marks the run's command, so a repeated send finds it instead of patching twice."""
    return f"autopatch run {run_id}"[:100]


def send_patch_command(
    instance_id: str, run_id: str, operation: str, reboot_option: str, snapshot_id: str, timeout: int
) -> str:
    """Send AWS-RunPatchBaseline to one instance; a command this run already sent there is reused."""
    ssm = client("ssm")
    comment = command_comment(run_id)
    existing = ssm.list_commands(InstanceId=instance_id)["Commands"]
    for command in existing:
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


def command_finished(command_id: str, instance_id: str, deadline: float) -> bool:
    """True once the command succeeded; raises when it failed or ran past its deadline."""
    ssm = client("ssm")
    try:
        invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
    except ClientError as error:
        # Right after SendCommand the invocation may not exist yet: that is Pending.
        if error.response["Error"]["Code"] != "InvocationDoesNotExist":
            raise
        invocation = {"Status": "Pending", "StatusDetails": "Pending"}
    status = invocation["Status"]
    if status == "Success":
        return True
    if status in TERMINAL_FAILURES:
        raise PatchCommandFailed(
            f"AWS-RunPatchBaseline {status} on {instance_id} ({invocation.get('StatusDetails', status)}, "
            f"response code {invocation.get('ResponseCode', -1)}); command {command_id}."
        )
    if time.time() > deadline:
        ssm.cancel_command(CommandId=command_id, InstanceIds=[instance_id])
        raise PatchTimedOut(
            f"AWS-RunPatchBaseline was still {status} on {instance_id} when CommandTimeoutSeconds ran out; "
            f"command {command_id} was cancelled."
        )
    return False
