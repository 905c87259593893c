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
    group, image = event.group, event.image
    baked = images.launch_from_new_image(
        group, image, event.run_id, os.environ["STACK_NAME"], os.environ["OPT_IN_TAG_VALUE"], keep=event.keep_amis
    )
    if baked["NotDeregistered"]:
        logger.warning("Old images not removed", extra={"group": group, "problems": baked["NotDeregistered"]})
    template = {key: baked[key] for key in ("LaunchTemplateId", "Version")}
    logger.info("Group launches from the new image", extra={"group": group, "image_id": image, **template})
    return baked
