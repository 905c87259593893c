"""Keep this execution's per-instance results in the run's report (S3), where the summary reads them,
and say whether the run has stopped."""

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
    run_id = field(event, "RunId", str)
    results = [item for group in field(event, "Results", list) for item in group]
    runs.save_part(run_id, field(event, "Part", int), results)
    # a run that has stopped does not continue: its summary reports the rest as NotStarted
    return {"Recorded": len(results), "Stopped": runs.stopped(run_id, field(event, "MaxErrors", int))}
