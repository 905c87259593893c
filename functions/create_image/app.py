"""BakeAmi: create the image of the group's last patched instance while it is still in Standby, or say why the
group cannot be baked (nothing is created then)."""

import os
import time

from aws_lambda_powertools import Logger

from autopatch import images
from autopatch.errors import NotBakeable
from autopatch.step import step
from autopatch.steps import CreateImageEvent

logger = Logger()


@step(CreateImageEvent, logger)
def lambda_handler(event: CreateImageEvent, context):
    group, instance = event.group, event.instance
    try:
        image = images.start_image(
            group, instance, event.run_id, os.environ["STACK_NAME"], os.environ["OPT_IN_TAG_VALUE"]
        )
    except NotBakeable as reason:
        logger.info("Group not baked", extra={"group": group, "reason": str(reason)})
        return {"Status": "NotBaked", "Reason": str(reason), "ImageId": None, "Deadline": None}
    logger.info("Image being created", extra={"group": group, "instance_id": instance, "image_id": image})
    deadline = int(time.time()) + event.timeout_seconds
    return {"Status": "Creating", "Reason": None, "ImageId": image, "Deadline": deadline}
