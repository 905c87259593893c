"""Publish the alert for one failed instance to the stack's SNS topic."""

import os

from aws_lambda_powertools import Logger, Tracer

from autopatch import alerts
from autopatch.clients import named_aws_errors
from autopatch.event import arn, field, group_name, instance_id
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
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
    message_id = alerts.publish_failure(os.environ["ALERT_TOPIC_ARN"], failure)
    logger.info("Failure alert sent", extra={"instance_id": failure["InstanceId"], "error": failure["Error"]})
    return {"MessageId": message_id}
