"""Move the instance into Standby (desired capacity minus one) and set the deadline to reach it.
First AZRebalance is suspended (unless the group's owner did), and with LowerMinSize MinSize is lowered by one if
the group is at its minimum; each is recorded, to be given back. The ledger notes the capacity taken, owed to the
group until the instance is returned (or, gone, given back). Once it is entering standby, a MaxSize the run raised
to return the group's previous instance is put back: the desired capacity fits under it again (with KeepCapacity
it stays raised for the instance added, until the group is done: autopatch.surge). An ECS container instance is
set DRAINING first (autopatch.ecs): check_standby waits, up to DrainTimeoutSeconds, until its service tasks left."""

import time

from aws_lambda_powertools import Logger

from autopatch import ecs, groups, ledger, surge
from autopatch.step import step
from autopatch.steps import EnterStandbyEvent

logger = Logger()


@step(EnterStandbyEvent, logger)
def lambda_handler(event: EnterStandbyEvent, context):
    group, instance = event.group, event.instance
    if groups.lifecycle_state(group, instance) == "InService":
        groups.suspend_az_rebalance(group, event.run_id)
        if event.lower_min_size:
            groups.lower_min_size_if_needed(group, event.run_id)
        ecs.start_draining(event.run_id, group, instance, event.drain_timeout_seconds)
    state = groups.enter_standby(group, instance)
    ledger.remember_standby(event.run_id, instance)
    if ledger.change(group, surge.ADDED) is None:  # with KeepCapacity, MaxSize makes room for the added instance
        groups.give_back(group, groups.MAX_SIZE)
    logger.info("Entering standby", extra={"group": group, "instance_id": instance, "state": state})
    return {"LifecycleState": state, "Deadline": int(time.time()) + event.timeout_seconds}
