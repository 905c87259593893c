"""Publish the alert for one failed instance, or for a group whose image bake failed, to the stack's SNS topic."""

import os

from aws_lambda_powertools import Logger, Tracer

from autopatch import alerts
from autopatch.clients import named_aws_errors
from autopatch.errors import InvalidInput
from autopatch.event import arn, field, group_name, image_id, instance_id
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()
KINDS = ("instance-failed", "bake-failed")


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    kind = field(event, "Kind", str, "instance-failed")
    if kind not in KINDS:
        raise InvalidInput(f"Kind must be one of {', '.join(KINDS)}.")
    failure = {
        "InstanceId": instance_id(event),
        "GroupName": group_name(event),
        "RunId": field(event, "RunId", str),
        "ExecutionArn": arn(event, "ExecutionArn", "states"),
        "Step": field(event, "Step", str),
        "Error": field(event, "Error", str),
        "Cause": field(event, "Cause", str, ""),
        "CommandId": field(event, "CommandId", str, None),
        "ReturnedToService": field(event, "ReturnedToService", bool, None),
    }
    image = image_id(event) if event.get("ImageId") is not None else None
    topic = os.environ["ALERT_TOPIC_ARN"]
    if kind == "bake-failed":
        message_id = alerts.publish_bake_failure(topic, {**failure, "ImageId": image})
    else:
        message_id = alerts.publish_failure(topic, failure)
    logger.info("Alert sent", extra={"kind": kind, "instance_id": failure["InstanceId"], "error": failure["Error"]})
    return {"MessageId": message_id}
