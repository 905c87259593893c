"""Wait, within this invocation, until the baked image is available. Raises ImageFailed if it never will be and
BakeTimedOut past its deadline."""

from aws_lambda_powertools import Logger, Tracer

from autopatch import images, polling
from autopatch.clients import named_aws_errors
from autopatch.event import field, image_id
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()
POLL_SECONDS = 15  # an image takes minutes; DescribeImages four times a minute is plenty


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    image, deadline = image_id(event), field(event, "Deadline", int)
    return {"Available": polling.poll(lambda: images.image_available(image, deadline), context, POLL_SECONDS)}
