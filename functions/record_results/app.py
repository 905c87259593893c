"""Keep this execution's per-instance results in the run's report (S3), where the summary reads them."""

from aws_lambda_powertools import Logger, Tracer

from autopatch import runs
from autopatch.clients import named_aws_errors
from autopatch.event import field

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    results = [item for group in field(event, "Results", list) for item in group]
    runs.save_part(field(event, "RunId", str), field(event, "Part", int), results)
    return {"Recorded": len(results)}
