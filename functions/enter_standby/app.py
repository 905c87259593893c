"""Move the instance into Standby (desired capacity minus one) and set the deadline to reach it.
With LowerMinSize, MinSize is first lowered by one if the group is at its minimum (and recorded, to be restored).
The ledger notes the capacity taken, owed to the group until the instance is returned (or, gone, given back)."""

import time

from aws_lambda_powertools import Logger

from autopatch import groups, ledger
from autopatch.step import step
from autopatch.steps import EnterStandbyEvent

logger = Logger()


@step(EnterStandbyEvent, logger)
def lambda_handler(event: EnterStandbyEvent, context):
    group, instance = event.group, event.instance
    if event.lower_min_size and groups.lifecycle_state(group, instance) == "InService":
        groups.lower_min_size_if_needed(group, event.run_id)
    state = groups.enter_standby(group, instance)
    if event.run_id:
        ledger.remember_standby(event.run_id, instance)
    logger.info("Entering standby", extra={"group": group, "instance_id": instance, "state": state})
    return {"LifecycleState": state, "Deadline": int(time.time()) + event.timeout_seconds}
