"""Take the next slice of the run's plan: the instances of every group this execution patches."""

from aws_lambda_powertools import Logger, Tracer

from autopatch import runs
from autopatch.clients import named_aws_errors
from autopatch.event import field
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    run_id, offset = field(event, "RunId", str), field(event, "Offset", int)
    if runs.stopped(run_id, field(event, "MaxErrors", int)):
        # the run has stopped: the summary reports every instance not reached as NotStarted
        return {"Groups": [], "NextOffset": None}
    found = runs.next_slice(run_id, offset, field(event, "BakeAmi", bool, False))
    logger.info(
        "Slice", extra={"offset": offset, "groups": {g["GroupName"]: len(g["Instances"]) for g in found["Groups"]}}
    )
    return found
