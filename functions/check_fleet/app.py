"""Preflight: refuse (PreflightFailed, every problem listed) unless every group can safely lose an instance;
otherwise return the plan: the instances to patch per group and the ones skipped."""

from aws_lambda_powertools import Logger, Tracer

from autopatch import preflight
from autopatch.clients import named_aws_errors
from autopatch.event import field

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    plan = preflight.check(
        field(event, "GroupNames", list),
        lower_min_size=field(event, "LowerMinSize", bool),
        skip_offline=field(event, "OfflineInstances", str) == "skip",
    )
    logger.info("Preflight passed", extra={"plan": {g["GroupName"]: len(g["Instances"]) for g in plan["Groups"]}})
    return plan
