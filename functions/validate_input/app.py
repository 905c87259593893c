"""Validate the run's input and find the groups it will patch. A run's own continuation input
({"Continuation": ...}, started by the run when it outgrows one execution) is checked the same way."""

import os
import uuid

from aws_lambda_powertools import Logger

from autopatch import OPT_IN_TAG_KEY, groups
from autopatch.errors import InvalidInput
from autopatch.run_input import parse_continuation, parse_run_input
from autopatch.step import step
from autopatch.steps import ValidateInputEvent

logger = Logger()


@step(ValidateInputEvent, logger)
def lambda_handler(event: ValidateInputEvent, context):
    execution_arn, raw = event.execution_arn, event.input
    if isinstance(raw, dict) and "Continuation" in raw:
        if len(raw) != 1:
            raise InvalidInput("Continuation comes alone: it is the input a run gives its next execution.")
        return _continuation(parse_continuation(raw["Continuation"]), execution_arn)
    run_id = event.execution_name
    settings = parse_run_input(raw, bake_ami_default=os.environ.get("BAKE_AMI_DEFAULT") == "true")
    logger.append_keys(run_id=run_id)
    found = groups.find_groups(settings.AutoScalingGroupNames, OPT_IN_TAG_KEY, os.environ["OPT_IN_TAG_VALUE"])
    names = [group["AutoScalingGroupName"] for group in found]
    logger.info("Run input valid", extra={"groups": names})
    return {
        "RunId": run_id,
        "ExecutionArn": execution_arn,
        "Part": 1,
        "Offset": 0,
        "PreviousExecutionArn": None,
        # One patch snapshot for the whole run, so every instance installs the same patch set.
        # Derived from the execution, so a retried invocation returns the same id.
        "SnapshotId": str(uuid.uuid5(uuid.NAMESPACE_URL, execution_arn)),
        "Settings": {**settings.to_dict(), "AlarmNames": settings.AlarmNames or []},
        "GroupNames": names,
        "Recovered": {"Instances": []},
    }


def _continuation(continuation: dict, execution_arn: str) -> dict:
    logger.append_keys(run_id=continuation["RunId"])
    settings = {**continuation["Settings"], "AlarmNames": continuation["Settings"].get("AlarmNames") or []}
    recovered = {"Instances": continuation["Recovered"]}
    return {**continuation, "ExecutionArn": execution_arn, "Settings": settings, "Recovered": recovered}
