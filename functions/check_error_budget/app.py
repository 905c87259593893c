"""Before an instance is touched: has the run already had more failures than MaxErrors allows?"""

from aws_lambda_powertools import Logger, Tracer

from autopatch import tags
from autopatch.event import field

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event, context):
    run_id = field(event, "RunId", str)
    max_errors = field(event, "MaxErrors", int)
    failed = tags.failed_in_run(run_id)
    if len(failed) > max_errors:
        reason = f"{len(failed)} instance(s) failed in this run, more than MaxErrors={max_errors}."
        logger.warning("Stopping: error budget spent", extra={"failed": failed})
        return {"Proceed": False, "Reason": reason}
    return {"Proceed": True}
