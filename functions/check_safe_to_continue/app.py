"""The gate before each instance: error budget, a stopped run, a paused group, the instance still in the group,
the group still held by the run with no instance refresh at work on it, the other instances' health and the
alarms, and the window (an instance not expected back in service before it closes is left for the next run). Says
whether to go on; the one call that stops the run (or a group) sends the alert. While the only
problems are instances launching or terminating (or a target still registering), it waits for them within this
invocation, and says Wait (with the deadline, HealthTimeoutSeconds after the first wait) when its time is nearly
spent: the state machine asks again. After a patched instance, its soak: Soak "Start" says how long to wait
(CanarySoakSeconds for the run's first, else SoakSeconds), Soak "Check" is the gate at its end, that instance's
own health among what it checks."""

import os

from aws_lambda_powertools import Logger

from autopatch import gates
from autopatch.step import step
from autopatch.steps import CheckSafeToContinueEvent

logger = Logger()


@step(CheckSafeToContinueEvent, logger)
def lambda_handler(event: CheckSafeToContinueEvent, context):
    if event.soak == "Start":
        seconds = gates.soak_seconds(event.run_id, event.instance, event.soak_seconds, event.canary_soak_seconds)
        return {"Seconds": seconds}

    def gate(deadline: int | None) -> dict:
        return gates.gate_next_instance(
            event.run_id,
            event.group,
            event.instance,
            max_errors=event.max_errors,
            alarm_names=event.alarm_names,
            opt_in_value=os.environ["OPT_IN_TAG_VALUE"],
            topic_arn=os.environ["ALERT_TOPIC_ARN"],
            execution_arn=event.execution_arn,
            settle=(deadline, event.health_timeout),
            end_by=event.end_by,
            soak=event.soak == "Check",
        )

    verdict = gates.gate_until_settled(context, event.poll_interval, event.settle_deadline, gate)
    if verdict.get("Announce"):
        logger.warning("Stopping before the next instance", extra={"reason": verdict["Reason"]})
    if verdict.get("Gone"):
        logger.info("The instance left the group before its turn", extra={"reason": verdict["Reason"]})
    if verdict.get("Wait"):
        logger.info("Waiting for the group to settle", extra={"reason": verdict["Reason"]})
    if verdict.get("WindowEnded"):
        logger.info("Left for the next window", extra={"reason": verdict["Reason"]})
    return {
        "Proceed": verdict["Proceed"],
        "Gone": verdict.get("Gone", False),
        "Wait": verdict.get("Wait", False),
        "Deadline": verdict.get("Deadline"),
        "Reason": verdict.get("Reason"),
    }
