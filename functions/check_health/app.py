"""Wait, within this invocation, until the instance is InService and healthy in every target group.
Raises HealthCheckTimedOut past its deadline."""

from aws_lambda_powertools import Logger, Tracer

from autopatch import groups, polling
from autopatch.clients import named_aws_errors
from autopatch.event import field, group_name, instance_id
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    group, instance = group_name(event), instance_id(event)
    deadline, interval = field(event, "Deadline", int), field(event, "PollIntervalSeconds", int)
    balancers = groups.load_balancers(group)
    healthy = polling.poll(lambda: groups.healthy(group, instance, deadline, balancers), context, interval)
    return {"Healthy": healthy}
