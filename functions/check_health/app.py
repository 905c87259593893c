"""Wait, within this invocation, until the instance is InService and healthy in every target group.
Raises HealthCheckTimedOut past its deadline."""

from autopatch import groups, polling
from autopatch.step import step
from autopatch.steps import WaitForInstanceEvent


@step(WaitForInstanceEvent)
def lambda_handler(event: WaitForInstanceEvent, context):
    balancers = groups.load_balancers(event.group)
    healthy = polling.poll(
        lambda: groups.healthy(event.group, event.instance, event.deadline, balancers),
        context,
        event.poll_interval_seconds,
    )
    return {"Healthy": healthy}
