"""Return the instance from Standby to service and set the deadline for it to be healthy.
With LowerMinSize, the MinSize recorded before it was lowered is put back."""

import time

from aws_lambda_powertools import Logger

from autopatch import groups
from autopatch.step import step
from autopatch.steps import ExitStandbyEvent

logger = Logger()


@step(ExitStandbyEvent, logger)
def lambda_handler(event: ExitStandbyEvent, context):
    state = groups.exit_standby(event.group, event.instance)
    if event.lower_min_size:
        groups.restore_min_size(event.group)
    logger.info("Returning to service", extra={"group": event.group, "instance_id": event.instance, "state": state})
    return {"LifecycleState": state, "Deadline": int(time.time()) + event.timeout_seconds}
