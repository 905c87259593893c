"""Validate the run's input and find the groups it will patch. A run's own continuation input
({"Continuation": ...}, started by the run when it outgrows one execution) is checked the same way, and against
the previous execution: only the run itself can start it."""

import os

from aws_lambda_powertools import Logger

from autopatch import OPT_IN_TAG_KEY, alarms, groups, runs
from autopatch.run_input import parse_continuation, parse_run_input
from autopatch.step import step
from autopatch.steps import ValidateInputEvent

logger = Logger()


@step(ValidateInputEvent, logger)
def lambda_handler(event: ValidateInputEvent, context):
    if event.continues_a_run:
        continuation = parse_continuation(event.input["Continuation"])
        runs.verify_continuation(continuation, event.execution_arn, context)
        run = runs.next_part(continuation, event.execution_arn)
        logger.append_keys(run_id=run["RunId"])
        return run
    settings = parse_run_input(
        event.input,
        bake_ami_default=os.environ.get("BAKE_AMI_DEFAULT") == "true",
        keep_capacity_default=os.environ.get("KEEP_CAPACITY_DEFAULT") == "true",
        window_minutes_default=int(os.environ.get("WINDOW_MINUTES_DEFAULT") or 0),
        skip_patched_default=int(os.environ.get("SKIP_PATCHED_WITHIN_HOURS_DEFAULT") or 0),
    )
    logger.append_keys(run_id=event.execution_name)
    found = groups.find_groups(settings.AutoScalingGroupNames, OPT_IN_TAG_KEY, os.environ["OPT_IN_TAG_VALUE"])
    names = [group["AutoScalingGroupName"] for group in found]
    alarms.require_existing(settings.AlarmNames or [], found)
    logger.info("Run input valid", extra={"groups": names})
    return runs.first_part(event.execution_name, event.execution_arn, settings.to_dict(), names)
