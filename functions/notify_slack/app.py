"""SNS subscriber (created only when the stack has a Slack webhook secret): posts each alert to Slack."""

import os

from aws_lambda_powertools import Logger, Tracer

from autopatch import slack
from autopatch.clients import named_aws_errors
from autopatch.errors import InvalidInput
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        raise InvalidInput("Records is required (an SNS event).")
    posted = []
    for record in records:
        sns = record.get("Sns") if isinstance(record, dict) else None
        if not isinstance(sns, dict) or not isinstance(sns.get("Message"), str):
            raise InvalidInput("each record needs Sns.Message.")
        attributes = sns.get("MessageAttributes") or {}
        if not isinstance(attributes, dict):
            raise InvalidInput("Sns.MessageAttributes must be an object.")
        kind = slack.kind_of(sns.get("Subject"), attributes)
        status = slack.post(os.environ["SLACK_SECRET_NAME"], slack.message(sns.get("Subject"), sns["Message"], kind))
        logger.info("Alert posted to Slack", extra={"kind": kind, "status": status})
        posted.append(kind)
    return {"Posted": posted}
