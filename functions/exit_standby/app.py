"""Return the instance from Standby to service (raising MaxSize first if the group reached it meanwhile) and set
the deadline for it to be healthy. With Gone (the instance went while the run had it out of service), give the
group back the capacity its standby took instead (autopatch.groups.give_back_capacity). Either way, with LowerMinSize
the MinSize recorded before it was lowered is put back. AZRebalance stays suspended until the run lets go of the
group (release_locks): resumed here, it would rebalance the zones that launches made while this instance was out."""

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
        state = groups.exit_standby(event.group, event.instance, event.run_id)
        # returned (now, or by an earlier attempt): nothing of its standby is owed any more
        ledger.forget_standby(event.run_id, event.instance)
    if event.lower_min_size:
        groups.give_back(event.group, groups.MIN_SIZE)
    if event.gone:
        logger.info("Capacity of a gone instance", extra={"group": event.group, "instance_id": event.instance})
        return {"Capacity": done}
    logger.info("Returning to service", extra={"group": event.group, "instance_id": event.instance, "state": state})
    return {"LifecycleState": state, "Deadline": int(time.time()) + event.timeout_seconds}
