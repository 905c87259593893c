"""EventBridge target for "EC2 Command Invocation Status-change Notification": when a patch command ends,
hand its outcome to the Step Functions task waiting for it. The event is best effort (follow_commands hands over
the end of a command whose event is lost); one that comes late, twice or for a command no run waits for any more
changes nothing."""

from aws_lambda_powertools import Logger, Metrics

from autopatch import patching
from autopatch.step import step
from autopatch.steps import CommandFinishedEvent

logger = Logger()
metrics = Metrics()


@step(CommandFinishedEvent, logger, metrics)
def lambda_handler(event: CommandFinishedEvent, context):
    command, status = event.detail, event.detail.status
    if status not in patching.TERMINAL:
        return {"Handled": False, "Reason": f"status {status} does not end the command"}
    handover = patching.hand_over_end(command.instance, command.command_id, status)
    if handover.run_id:
        logger.append_keys(run_id=handover.run_id)
    ids = {"instance_id": command.instance, "command_id": command.command_id}
    if not handover.handled:
        logger.info("No run waits for this command", extra=ids)
        return {"Handled": False, "Reason": "no run waits for this command"}
    if handover.task_had_ended:
        logger.warning("The waiting task had ended", extra={"command_id": command.command_id})
    patching.count_duration(metrics, command.requested, event.time)
    logger.info("Patch command ended", extra={**ids, "status": status})
    return {"Handled": True, "Status": status}
