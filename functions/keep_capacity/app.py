"""KeepCapacity (autopatch.surge): before the group's first instance leaves service, Add one instance to it and
wait, within this invocation, until it is InService and healthy (Ready; asked again with the same Deadline while
not, AddedInstanceNotHealthy past it); Refuse the group when it was not, giving the instance back; Remove one
instance when the group is done."""

import os
import time

from aws_lambda_powertools import Logger

from autopatch import polling, surge
from autopatch.step import step
from autopatch.steps import KeepCapacityEvent

logger = Logger()


@step(KeepCapacityEvent, logger)
def lambda_handler(event: KeepCapacityEvent, context):
    group, run_id = event.group, event.run_id
    if event.action == "Add":
        surge.add(group, run_id)
        deadline = event.deadline or int(time.time()) + event.health_timeout
        found: list[str | None] = []
        ready = polling.poll(
            lambda: found.append(surge.added_instance(group, run_id, deadline)) or found[-1] is not None,
            context,
            event.poll_interval,
        )
        logger.info("Instance added", extra={"group": group, "instance_id": found[-1], "ready": ready})
        return {"Ready": ready, "Deadline": deadline, "InstanceId": found[-1]}
    if event.action == "Refuse":
        assert event.instance and event.execution_arn  # KeepCapacityEvent requires them for Refuse
        reason = surge.refuse(
            os.environ["ALERT_TOPIC_ARN"], group, run_id, event.instance, event.execution_arn, event.cause or ""
        )
        logger.warning("Group refused: the instance added was not healthy", extra={"reason": reason})
        return {"Reason": reason}
    done = surge.give_back(group, run_id)
    logger.info("Instance added given back", extra={"group": group, "done": done})
    return {"Done": done}
