"""Return the instance from Standby to service and set the deadline for it to be healthy.
With LowerMinSize, the MinSize recorded before it was lowered is put back."""

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
    state = groups.exit_standby(group, instance)
    if field(event, "LowerMinSize", bool, False):
        groups.restore_min_size(group)
    logger.info("Returning to service", extra={"group": group, "instance_id": instance, "state": state})
    return {"LifecycleState": state, "Deadline": int(time.time()) + timeout}
