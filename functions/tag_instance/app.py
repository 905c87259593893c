"""Tag an instance with its patch state (InProgress, Completed or Failed) and the run id."""

from aws_lambda_powertools import Logger, Tracer

from autopatch import tags
from autopatch.clients import named_aws_errors
from autopatch.event import field, instance_id

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    instance = instance_id(event)
    value = field(event, "Value", str)
    tags.tag_instance(instance, value, field(event, "RunId", str))
    logger.info("Tagged", extra={"instance_id": instance, "value": value})
    return {"Tag": value}
