"""The patch command ran past CommandTimeoutSeconds: cancel it, so it cannot reboot the instance later."""

from aws_lambda_powertools import Logger

from autopatch import ledger, patching
from autopatch.step import step
from autopatch.steps import CancelPatchCommandEvent

logger = Logger()


@step(CancelPatchCommandEvent, logger)
def lambda_handler(event: CancelPatchCommandEvent, context):
    waiting = ledger.waiting_task(event.instance) or {}
    command_id = waiting.get("CommandId")
    if command_id:
        patching.cancel(command_id, event.instance)
        logger.warning("Patch command cancelled", extra={"instance_id": event.instance, "command_id": command_id})
    ledger.forget_waiting_task(event.instance)
    return {"CommandId": command_id}
