"""Publish the alert for one failed instance, for a group whose image bake failed, for a gate that failed (which
stops the run), or for an instance that went while out of service, to the stack's SNS topic. A failed instance is
counted against the run's MaxErrors first, whichever path it failed on (a Scan too); a gone one is not counted."""

import os

from aws_lambda_powertools import Logger

from autopatch import alerts, gates
from autopatch.step import step
from autopatch.steps import SendAlertEvent

logger = Logger()

PUBLISH = {
    "instance-failed": alerts.publish_counted_failure,
    "bake-failed": alerts.publish_bake_failure,
    "gate-failed": gates.stop_on_gate_error,  # the first of a run's gates to fail alerts; the others send nothing
    "instance-gone": alerts.publish_gone,
}


@step(SendAlertEvent, logger)
def lambda_handler(event: SendAlertEvent, context):
    message_id = PUBLISH[event.kind](os.environ["ALERT_TOPIC_ARN"], event.failure)
    logger.info("Alert sent", extra={"kind": event.kind, "instance_id": event.instance, "error": event.error})
    return {"MessageId": message_id}
