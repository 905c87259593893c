"""Send AWS-RunPatchBaseline to the instance (once per run) and set the deadline for it to finish."""

import time

from aws_lambda_powertools import Logger, Tracer

from autopatch import patching
from autopatch.clients import named_aws_errors
from autopatch.errors import InvalidInput
from autopatch.event import field, instance_id
from autopatch.run_input import OPERATIONS, REBOOT_OPTIONS

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    instance = instance_id(event)
    operation, reboot = field(event, "Operation", str), field(event, "RebootOption", str)
    if operation not in OPERATIONS or reboot not in REBOOT_OPTIONS:
        raise InvalidInput(f"Operation must be one of {OPERATIONS} and RebootOption one of {REBOOT_OPTIONS}.")
    timeout = field(event, "TimeoutSeconds", int)
    command_id = patching.send_patch_command(
        instance,
        run_id=field(event, "RunId", str),
        operation=operation,
        reboot_option=reboot,
        snapshot_id=field(event, "SnapshotId", str),
        timeout=timeout,
    )
    logger.info("Patch command sent", extra={"instance_id": instance, "command_id": command_id})
    return {"CommandId": command_id, "Deadline": int(time.time()) + timeout}
