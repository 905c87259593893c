"""The patch command ran past CommandTimeoutSeconds: cancel it, so it cannot reboot the instance later."""

from aws_lambda_powertools import Logger

from autopatch import patching
from autopatch.step import step
from autopatch.steps import CancelPatchCommandEvent

logger = Logger()


@step(CancelPatchCommandEvent, logger)
def lambda_handler(event: CancelPatchCommandEvent, context):
    command_id = patching.cancel_waiting_command(event.instance)
    if command_id:
        logger.warning("Patch command cancelled", extra={"instance_id": event.instance, "command_id": command_id})
    return {"CommandId": command_id}
