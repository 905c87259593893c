"""Publish the alert for one failed instance, or for a group whose image bake failed, to the stack's SNS topic."""

import os

from aws_lambda_powertools import Logger

from autopatch import alerts
from autopatch.step import step
from autopatch.steps import SendAlertEvent

logger = Logger()


@step(SendAlertEvent, logger)
def lambda_handler(event: SendAlertEvent, context):
    failure = {
        "InstanceId": event.instance,
        "GroupName": event.group,
        "RunId": event.run_id,
        "ExecutionArn": event.execution_arn,
        "Step": event.step,
        "Error": event.error,
        "Cause": event.cause,
        "CommandId": event.command_id,
        "ReturnedToService": event.returned_to_service,
    }
    topic = os.environ["ALERT_TOPIC_ARN"]
    if event.kind == "bake-failed":
        message_id = alerts.publish_bake_failure(topic, {**failure, "ImageId": event.image})
    else:
        message_id = alerts.publish_failure(topic, failure)
    logger.info("Alert sent", extra={"kind": event.kind, "instance_id": event.instance, "error": event.error})
    return {"MessageId": message_id}
