"""Hold the run's groups, so that no other run works on them at the same time (GroupLocked otherwise)."""

from aws_lambda_powertools import Logger

from autopatch import ledger
from autopatch.step import step
from autopatch.steps import LockGroupsEvent

logger = Logger()


@step(LockGroupsEvent, logger)
def lambda_handler(event: LockGroupsEvent, context):
    taken_over = ledger.acquire_locks(
        event.group_names,
        event.execution_arn,
        event.run_id,
        previous_execution_arn=event.previous_execution_arn,
    )
    if taken_over:
        logger.warning("Took over groups held by runs that are no longer running", extra={"groups": taken_over})
    return {"Locked": event.group_names, "TakenOver": taken_over}
