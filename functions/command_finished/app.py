"""EventBridge target for "EC2 Command Invocation Status-change Notification": when a patch command ends,
hand its outcome to the Step Functions task waiting for it."""

import datetime as dt
import json

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from autopatch import ledger, patching
from autopatch.clients import client
from autopatch.patching import TERMINAL
from autopatch.step import step
from autopatch.steps import CommandFinishedEvent

logger = Logger()
metrics = Metrics()


@step(CommandFinishedEvent, logger, metrics)
def lambda_handler(event: CommandFinishedEvent, context):
    instance, command_id, status = event.detail.instance, event.detail.command_id, event.detail.status
    if status not in TERMINAL:
        return {"Handled": False, "Reason": f"status {status} does not end the command"}
    waiting = ledger.waiting_task(instance)
    if waiting:
        logger.append_keys(run_id=waiting["RunId"])
    if waiting and "CommandId" not in waiting and patching.sent_by_run(command_id, waiting["RunId"]):
        waiting["CommandId"] = command_id  # it ended before send_patch_command could note its id
    if not waiting or waiting.get("CommandId") != command_id:
        logger.info("No run waits for this command", extra={"instance_id": instance, "command_id": command_id})
        return {"Handled": False, "Reason": "no run waits for this command"}
    try:
        client("stepfunctions").send_task_success(
            taskToken=waiting["TaskToken"],
            output=json.dumps({"CommandId": command_id, "Status": status}),
        )
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
            raise
        logger.warning("The waiting task had ended", extra={"command_id": command_id})
    ledger.forget_waiting_task(instance)
    _patch_duration(event.detail.requested, event.time)
    logger.info("Patch command ended", extra={"instance_id": instance, "command_id": command_id, "status": status})
    return {"Handled": True, "Status": status}


def _patch_duration(requested: str | None, ended: str | None) -> None:
    """Seconds from SendCommand to the end of the command, as the event tells them."""
    try:
        start = dt.datetime.fromisoformat(requested.replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(ended.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return
    if (start.tzinfo is None) != (end.tzinfo is None):
        return  # one of them without a zone: no duration to tell
    metrics.add_metric(name="PatchDuration", unit=MetricUnit.Seconds, value=(end - start).total_seconds())
