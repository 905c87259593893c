"""Send AWS-RunPatchBaseline to the instance (once per run). The state machine's task waits for its task
token, which command_finished (SSM's status-change event) or follow_commands (every minute) returns when the
command ends."""

from aws_lambda_powertools import Logger

from autopatch import patching
from autopatch.step import step
from autopatch.steps import SendPatchCommandEvent

logger = Logger()


@step(SendPatchCommandEvent, logger)
def lambda_handler(event: SendPatchCommandEvent, context):
    command_id = patching.send_for_task(
        event.instance,
        run_id=event.run_id,
        task_token=event.task_token,
        operation=event.operation,
        reboot_option=event.reboot_option,
        snapshot_id=event.snapshot_id,
        timeout=event.timeout_seconds,
    )
    logger.info("Patch command sent", extra={"instance_id": event.instance, "command_id": command_id})
    return {"CommandId": command_id}
