"""Summarize the run: per instance its group, result and command id, and the counts per result."""

from aws_lambda_powertools import Logger, Tracer

from autopatch.event import field
from autopatch.summary import summarize

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event, context):
    summary = summarize(field(event, "RunId", str), field(event, "MaxErrors", int), field(event, "Groups", list))
    logger.info(summary["Message"], extra={"counts": summary["Counts"]})
    return summary
