"""Publish the alert for one failed instance, or for a group whose image bake failed, to the stack's SNS topic.
A failed instance is counted against the run's MaxErrors first, whichever path it failed on (a Scan too)."""

import os

from aws_lambda_powertools import Logger

from autopatch import alerts
from autopatch.step import step
from autopatch.steps import SendAlertEvent

logger = Logger()


@step(SendAlertEvent, logger)
def lambda_handler(event: SendAlertEvent, context):
    publish = alerts.publish_bake_failure if event.kind == "bake-failed" else alerts.publish_counted_failure
    message_id = publish(os.environ["ALERT_TOPIC_ARN"], event.failure)
    logger.info("Alert sent", extra={"kind": event.kind, "instance_id": event.instance, "error": event.error})
    return {"MessageId": message_id}
