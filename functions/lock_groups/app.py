"""Hold the run's groups, so that no other run works on them at the same time (GroupLocked otherwise)."""

from aws_lambda_powertools import Logger, Tracer

from autopatch import ledger
from autopatch.clients import named_aws_errors
from autopatch.event import arn, field, group_names
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    names = group_names(event)
    taken_over = ledger.acquire_locks(
        names,
        arn(event, "ExecutionArn", "states"),
        field(event, "RunId", str),
        previous_execution_arn=field(event, "PreviousExecutionArn", str, None),
    )
    if taken_over:
        logger.warning("Took over groups held by runs that are no longer running", extra={"groups": taken_over})
    return {"Locked": names, "TakenOver": taken_over}
