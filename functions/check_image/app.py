"""Wait, within this invocation, until the baked image is available. Raises ImageFailed if it never will be and
BakeTimedOut past its deadline."""

from autopatch import images, polling
from autopatch.step import step
from autopatch.steps import CheckImageEvent

POLL_SECONDS = 15  # an image takes minutes; DescribeImages four times a minute is plenty


@step(CheckImageEvent)
def lambda_handler(event: CheckImageEvent, context):
    available = polling.poll(lambda: images.image_available(event.image, event.deadline), context, POLL_SECONDS)
    return {"Available": available}
