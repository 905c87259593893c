"""Put right what a run that died left in the run's groups: instances in Standby, a lowered MinSize."""

import os

from aws_lambda_powertools import Logger

from autopatch import recovery
from autopatch.step import step
from autopatch.steps import RecoverGroupsEvent

logger = Logger()


@step(RecoverGroupsEvent, logger)
def lambda_handler(event: RecoverGroupsEvent, context):
    recovered = recovery.recover_groups(
        event.group_names,
        event.run_id,
        event.execution_arn,
        topic_arn=os.environ["ALERT_TOPIC_ARN"],
        health_timeout=event.health_timeout_seconds,
    )
    if recovered:
        logger.warning("Recovered instances left by a run that died", extra={"instances": recovered})
    return {"Recovered": recovered}
