"""SNS subscriber (created only when the stack has a Slack webhook secret): posts each alert to Slack."""

import os

from aws_lambda_powertools import Logger

from autopatch import slack
from autopatch.step import step
from autopatch.steps import NotifySlackEvent

logger = Logger()


@step(NotifySlackEvent, logger)
def lambda_handler(event: NotifySlackEvent, context):
    posted = []
    for alert in event.messages:
        kind, status = slack.post_alert(os.environ["SLACK_SECRET_NAME"], alert.subject, alert.message, alert.attributes)
        logger.info("Alert posted to Slack", extra={"kind": kind, "status": status})
        posted.append(kind)
    return {"Posted": posted}
