"""Send AWS-RunPatchBaseline to the instance (once per run). The state machine's task waits for its task
token, which command_finished returns when SSM reports the command's end."""

from aws_lambda_powertools import Logger, Tracer

from autopatch import ledger, patching
from autopatch.clients import named_aws_errors
from autopatch.errors import InvalidInput
from autopatch.event import field, instance_id
from autopatch.observability import run_context
from autopatch.run_input import OPERATIONS, REBOOT_OPTIONS

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    instance, run_id = instance_id(event), field(event, "RunId", str)
    operation, reboot = field(event, "Operation", str), field(event, "RebootOption", str)
    if operation not in OPERATIONS or reboot not in REBOOT_OPTIONS:
        raise InvalidInput(f"Operation must be one of {OPERATIONS} and RebootOption one of {REBOOT_OPTIONS}.")
    token, snapshot_id = field(event, "TaskToken", str), field(event, "SnapshotId", str)
    timeout = field(event, "TimeoutSeconds", int)
    # the token is stored before the command exists, so that no end of it can go unheard
    ledger.remember_task_token(instance, run_id, token)
    command_id = patching.send_patch_command(
        instance, run_id=run_id, operation=operation, reboot_option=reboot, snapshot_id=snapshot_id, timeout=timeout
    )
    ledger.attach_command(instance, command_id)
    logger.info("Patch command sent", extra={"instance_id": instance, "command_id": command_id})
    return {"CommandId": command_id}
