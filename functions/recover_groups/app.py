"""Put right what a run that died left in the run's groups: instances in Standby, a lowered MinSize."""

import os

from aws_lambda_powertools import Logger, Tracer

from autopatch import recovery
from autopatch.clients import named_aws_errors
from autopatch.event import arn, field, group_names
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    run_id, execution_arn = field(event, "RunId", str), arn(event, "ExecutionArn", "states")
    timeout = field(event, "HealthTimeoutSeconds", int)
    recovered = []
    for name in group_names(event):
        recovered += recovery.recover_group(name, run_id, execution_arn, os.environ["ALERT_TOPIC_ARN"], timeout)
    if recovered:
        logger.warning("Recovered instances left by a run that died", extra={"instances": recovered})
    return {"Recovered": recovered}
