"""BakeAmi: make the group launch from the new image (a launch template version that differs only in ImageId),
then deregister the images this stack baked for it beyond KeepAmis and delete their snapshots."""

import os

from aws_lambda_powertools import Logger, Tracer

from autopatch import images
from autopatch.clients import named_aws_errors
from autopatch.errors import InvalidInput
from autopatch.event import field, group_name, image_id
from autopatch.observability import run_context
from autopatch.run_input import MAX_KEEP_AMIS

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    group, image = group_name(event), image_id(event)
    run_id, keep = field(event, "RunId", str), field(event, "KeepAmis", int)
    if not 1 <= keep <= MAX_KEEP_AMIS:
        raise InvalidInput(f"KeepAmis must be between 1 and {MAX_KEEP_AMIS}.")
    stack = os.environ["STACK_NAME"]
    template = images.use_image(group, image, run_id, stack, os.environ["OPT_IN_TAG_VALUE"])
    removed, problems = images.remove_old_images(stack, group, keep, image)
    if problems:
        logger.warning("Old images not removed", extra={"group": group, "problems": problems})
    logger.info("Group launches from the new image", extra={"group": group, "image_id": image, **template})
    return {
        "Status": "Baked",
        "ImageId": image,
        **template,
        "Deregistered": removed,
        "NotDeregistered": problems,
    }
