"""Release the run's hold on its groups (at the end of the run, whatever its outcome)."""

from aws_lambda_powertools import Logger, Tracer

from autopatch import ledger
from autopatch.clients import named_aws_errors
from autopatch.event import arn, group_names
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    names = group_names(event)
    ledger.release_locks(names, arn(event, "ExecutionArn", "states"))
    return {"Released": names}
