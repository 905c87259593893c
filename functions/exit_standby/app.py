"""Return the instance from Standby to service and set the deadline for it to be healthy.
With LowerMinSize, the MinSize recorded before it was lowered is put back.
With Gone (the instance went while the run had it out of service), give the group back the capacity its standby
took instead (autopatch.groups.give_back_capacity), and put MinSize back the same way."""

import time

from aws_lambda_powertools import Logger

from autopatch import groups, ledger
from autopatch.step import step
from autopatch.steps import ExitStandbyEvent

logger = Logger()


@step(ExitStandbyEvent, logger)
def lambda_handler(event: ExitStandbyEvent, context):
    if event.gone:
        done = groups.give_back_capacity(event.group, event.instance, event.run_id)
    else:
        state = groups.exit_standby(event.group, event.instance)
        if event.run_id:  # returned (now, or by an earlier attempt): nothing of its standby is owed any more
            ledger.forget_standby(event.run_id, event.instance)
    if event.lower_min_size:
        groups.restore_min_size(event.group)
    if event.gone:
        logger.info("Capacity of a gone instance", extra={"group": event.group, "instance_id": event.instance})
        return {"Capacity": done}
    logger.info("Returning to service", extra={"group": event.group, "instance_id": event.instance, "state": state})
    return {"LifecycleState": state, "Deadline": int(time.time()) + event.timeout_seconds}
