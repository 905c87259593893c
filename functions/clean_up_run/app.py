"""EventBridge target for "Step Functions Execution Status Change" (FAILED, TIMED_OUT, ABORTED) of the state
machine: put right what the ended execution's run left (instances out of service, MinSize, holds) and alert once."""

import os

from aws_lambda_powertools import Logger

from autopatch import cleanup
from autopatch.step import step
from autopatch.steps import CleanUpRunEvent

logger = Logger()


@step(CleanUpRunEvent, logger)
def lambda_handler(event: CleanUpRunEvent, context):
    execution = event.detail
    if not execution.ended_badly:
        return {"CleanedUp": False, "Reason": f"status {execution.status} needs no clean-up"}
    logger.append_keys(execution=execution.name)
    done = cleanup.clean_up(execution, context, os.environ["ALERT_TOPIC_ARN"], context.aws_request_id)
    if done.get("CleanedUp"):
        logger.warning("Cleaned up after a run that ended badly", extra={"cleaned_up": done})
    return done
