"""Has the patch command finished? Raises PatchCommandFailed or PatchTimedOut when it will not succeed."""

from aws_lambda_powertools import Logger, Tracer

from autopatch import patching
from autopatch.clients import named_aws_errors
from autopatch.event import field, instance_id

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    instance = instance_id(event)
    done = patching.command_finished(field(event, "CommandId", str), instance, field(event, "Deadline", int))
    return {"Finished": done}
