"""BakeAmi: create the image of the group's last patched instance while it is still in Standby, or say why the
group cannot be baked (nothing is created then)."""

import os

from aws_lambda_powertools import Logger

from autopatch import images
from autopatch.step import step
from autopatch.steps import CreateImageEvent

logger = Logger()


@step(CreateImageEvent, logger)
def lambda_handler(event: CreateImageEvent, context):
    bake = images.start_bake(
        event.group,
        event.instance,
        event.run_id,
        os.environ["STACK_NAME"],
        os.environ["OPT_IN_TAG_VALUE"],
        timeout=event.timeout_seconds,
    )
    if bake["Status"] == "NotBaked":
        logger.info("Group not baked", extra={"group": event.group, "reason": bake["Reason"]})
    else:
        ids = {"group": event.group, "instance_id": event.instance, "image_id": bake["ImageId"]}
        logger.info("Image being created", extra=ids)
    return bake
