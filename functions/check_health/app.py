"""Wait, within this invocation, until the instance is InService and healthy in every target group.
Raises HealthCheckTimedOut past its deadline. Once healthy, an ECS container instance a run set DRAINING is set
ACTIVE again (autopatch.ecs): after its patch, on the failure path, and for an instance a dead run left."""

from autopatch import ecs, groups, polling
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
    if healthy:
        ecs.reactivate(event.instance)
    return {"Healthy": healthy}
