"""Move the instance into Standby (desired capacity minus one) and set the deadline to reach it.
With LowerMinSize, MinSize is first lowered by one if the group is at its minimum (and recorded, to be restored)."""

import time

from aws_lambda_powertools import Logger, Tracer

from autopatch import groups
from autopatch.clients import named_aws_errors
from autopatch.event import field, group_name, instance_id
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    group, instance = group_name(event), instance_id(event)
    timeout = field(event, "TimeoutSeconds", int)
    if field(event, "LowerMinSize", bool, False) and groups.lifecycle_state(group, instance) == "InService":
        groups.lower_min_size_if_needed(group, field(event, "RunId", str))
    state = groups.enter_standby(group, instance)
    logger.info("Entering standby", extra={"group": group, "instance_id": instance, "state": state})
    return {"LifecycleState": state, "Deadline": int(time.time()) + timeout}
