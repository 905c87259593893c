"""Every minute (an EventBridge schedule): hand the end of each patch command a run waits for to its task, as
command_finished does for its status-change event. Those events are best effort: one that never comes costs no
more than a minute, and one that comes after the follower is ignored."""

from aws_lambda_powertools import Logger, Metrics

from autopatch import patching
from autopatch.step import step
from autopatch.steps import FollowCommandsEvent

logger = Logger()
metrics = Metrics()


# Its metrics are flushed when it counted some: an empty flush would log a warning every minute.
@step(FollowCommandsEvent, logger)
def lambda_handler(event: FollowCommandsEvent, context):
    handed_over = []
    try:
        for ended in patching.follow_waiting_commands():
            handover = ended.handover
            if not handover.handled:
                continue  # its event (or another follower) handed it over first
            ids = {"run_id": handover.run_id, "instance_id": ended.instance_id, "command_id": ended.command_id}
            if handover.task_had_ended:
                logger.warning("The waiting task had ended", extra=ids)
            patching.count_duration(metrics, ended.requested, ended.learnt)
            logger.info("Patch command ended (learnt by following it)", extra={**ids, "status": ended.status})
            handed_over.append({"InstanceId": ended.instance_id, "CommandId": ended.command_id, "Status": ended.status})
    finally:
        if handed_over:
            metrics.flush_metrics()
    return {"HandedOver": handed_over}
