"""Validate the run's input and find the groups it will patch."""

import os
import uuid

from aws_lambda_powertools import Logger, Tracer

from autopatch import OPT_IN_TAG_KEY, groups
from autopatch.clients import named_aws_errors
from autopatch.event import field
from autopatch.run_input import parse_run_input

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    execution_arn = field(event, "ExecutionArn", str)
    run_id = field(event, "ExecutionName", str)
    settings = parse_run_input(event.get("Input"))
    logger.append_keys(run_id=run_id)
    found = groups.find_groups(settings.AutoScalingGroupNames, OPT_IN_TAG_KEY, os.environ["OPT_IN_TAG_VALUE"])
    names = [group["AutoScalingGroupName"] for group in found]
    logger.info("Run input valid", extra={"groups": names})
    return {
        "RunId": run_id,
        "ExecutionArn": execution_arn,
        # One patch snapshot for the whole run, so every instance installs the same patch set.
        # Derived from the execution, so a retried invocation returns the same id.
        "SnapshotId": str(uuid.uuid5(uuid.NAMESPACE_URL, execution_arn)),
        "Settings": {**settings.to_dict(), "AlarmNames": settings.AlarmNames or []},
        "GroupNames": names,
    }
