"""Send AWS-RunPatchBaseline to the instance (once per run). The state machine's task waits for its task
token, which command_finished returns when SSM reports the command's end."""

from aws_lambda_powertools import Logger

from autopatch import ledger, patching
from autopatch.step import step
from autopatch.steps import SendPatchCommandEvent

logger = Logger()


@step(SendPatchCommandEvent, logger)
def lambda_handler(event: SendPatchCommandEvent, context):
    instance = event.instance
    # the token is stored before the command exists, so that no end of it can go unheard
    ledger.remember_task_token(instance, event.run_id, event.task_token)
    command_id = patching.send_patch_command(
        instance,
        run_id=event.run_id,
        operation=event.operation,
        reboot_option=event.reboot_option,
        snapshot_id=event.snapshot_id,
        timeout=event.timeout_seconds,
    )
    ledger.attach_command(instance, command_id)
    logger.info("Patch command sent", extra={"instance_id": instance, "command_id": command_id})
    return {"CommandId": command_id}
