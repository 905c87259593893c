"""The gate before each instance: error budget, a stopped run, a paused group, the other instances' health
and the alarms. Says whether to go on; the one call that stops the run (or a group) sends the alert."""

import os

from aws_lambda_powertools import Logger, Tracer

from autopatch import alerts, gates, ledger
from autopatch.clients import named_aws_errors
from autopatch.event import arn, field, group_name, instance_id, names
from autopatch.observability import run_context
from autopatch.run_input import ALARM_NAME_MAX

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    run_id, group, instance = field(event, "RunId", str), group_name(event), instance_id(event)
    execution_arn, max_errors = arn(event, "ExecutionArn", "states"), field(event, "MaxErrors", int)
    alarm_names = names(event, "AlarmNames", ALARM_NAME_MAX, default=[])
    verdict = gates.check_next_instance(
        run_id,
        group,
        instance,
        max_errors=max_errors,
        alarm_names=alarm_names,
        opt_in_value=os.environ["OPT_IN_TAG_VALUE"],
    )
    if verdict.get("Announce"):
        logger.warning("Stopping before the next instance", extra={"reason": verdict["Reason"]})
        alerts.publish_stop(
            os.environ["ALERT_TOPIC_ARN"],
            run_id,
            execution_arn,
            verdict["Reason"],
            verdict["Scope"],
        )
        ledger.announced(verdict["StopKey"])
    return {"Proceed": verdict["Proceed"], "Reason": verdict.get("Reason")}
