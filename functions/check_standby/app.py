"""Wait, within this invocation, until the instance reaches Standby and, when the run set its ECS container instance
DRAINING, no service task runs on it. Raises StandbyTimedOut, or DrainTimedOut, past its deadline."""

from autopatch import ecs, groups, ledger, polling
from autopatch.step import step
from autopatch.steps import WaitForInstanceEvent


@step(WaitForInstanceEvent)
def lambda_handler(event: WaitForInstanceEvent, context):
    drain = ledger.drain(event.instance)
    reached = polling.poll(
        lambda: groups.standby_reached(event.group, event.instance, event.deadline) and ecs.drained(drain),
        context,
        event.poll_interval_seconds,
    )
    return {"InStandby": reached}
