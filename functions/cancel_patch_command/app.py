"""The patch command ran past CommandTimeoutSeconds: cancel it, so it cannot reboot the instance later."""

from aws_lambda_powertools import Logger, Tracer

from autopatch import ledger, patching
from autopatch.clients import named_aws_errors
from autopatch.event import instance_id
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    instance = instance_id(event)
    waiting = ledger.waiting_task(instance) or {}
    command_id = waiting.get("CommandId")
    if command_id:
        patching.cancel(command_id, instance)
        logger.warning("Patch command cancelled", extra={"instance_id": instance, "command_id": command_id})
    ledger.forget_waiting_task(instance)
    return {"CommandId": command_id}
