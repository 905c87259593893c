"""BakeAmi: create the image of the group's last patched instance while it is still in Standby, or say why the
group cannot be baked (nothing is created then)."""

import os
import time

from aws_lambda_powertools import Logger, Tracer

from autopatch import images
from autopatch.clients import named_aws_errors
from autopatch.errors import NotBakeable
from autopatch.event import field, group_name, instance_id
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    group, instance = group_name(event), instance_id(event)
    run_id, timeout = field(event, "RunId", str), field(event, "TimeoutSeconds", int)
    try:
        image = images.start_image(group, instance, run_id, os.environ["STACK_NAME"], os.environ["OPT_IN_TAG_VALUE"])
    except NotBakeable as reason:
        logger.info("Group not baked", extra={"group": group, "reason": str(reason)})
        return {"Status": "NotBaked", "Reason": str(reason), "ImageId": None, "Deadline": None}
    logger.info("Image being created", extra={"group": group, "instance_id": instance, "image_id": image})
    return {"Status": "Creating", "Reason": None, "ImageId": image, "Deadline": int(time.time()) + timeout}
