"""BakeAmi: make the group launch from the new image (a launch template version that differs only in ImageId),
then deregister the images this stack baked for it beyond KeepAmis and delete their snapshots."""

import os

from aws_lambda_powertools import Logger

from autopatch import images
from autopatch.step import step
from autopatch.steps import UseImageEvent

logger = Logger()


@step(UseImageEvent, logger)
def lambda_handler(event: UseImageEvent, context):
    group, image, stack = event.group, event.image, os.environ["STACK_NAME"]
    template = images.use_image(group, image, event.run_id, stack, os.environ["OPT_IN_TAG_VALUE"])
    removed, problems = images.remove_old_images(stack, group, event.keep_amis, image)
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
