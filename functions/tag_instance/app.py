"""Tag an instance with its patch state (InProgress, Completed or Failed) and the run id. A Failed instance
is also counted in the run ledger, against the run's MaxErrors."""

from aws_lambda_powertools import Logger, Tracer

from autopatch import ledger, tags
from autopatch.clients import named_aws_errors
from autopatch.event import field, instance_id

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    instance, run_id = instance_id(event), field(event, "RunId", str)
    value = field(event, "Value", str)
    tags.tag_instance(instance, value, run_id)
    if value == "Failed":
        ledger.record_failure(run_id, instance)
    logger.info("Tagged", extra={"instance_id": instance, "value": value})
    return {"Tag": value}
