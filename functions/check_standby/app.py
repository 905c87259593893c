"""Wait, within this invocation, until the instance reaches Standby. Raises StandbyTimedOut past its deadline."""

from autopatch import groups, polling
from autopatch.step import step
from autopatch.steps import WaitForInstanceEvent


@step(WaitForInstanceEvent)
def lambda_handler(event: WaitForInstanceEvent, context):
    reached = polling.poll(
        lambda: groups.standby_reached(event.group, event.instance, event.deadline),
        context,
        event.poll_interval_seconds,
    )
    return {"InStandby": reached}
