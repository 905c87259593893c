"""Take the next slice of the run's plan: the instances of every group this execution patches."""

from aws_lambda_powertools import Logger

from autopatch import runs
from autopatch.step import step
from autopatch.steps import PlanSliceEvent

logger = Logger()


@step(PlanSliceEvent, logger)
def lambda_handler(event: PlanSliceEvent, context):
    if runs.stopped(event.run_id, event.max_errors):
        # the run has stopped: the summary reports every instance not reached as NotStarted
        return {"Groups": [], "NextOffset": None}
    per_instance = runs.events_per_instance(event.standby_timeout, event.health_timeout)
    found = runs.next_slice(event.run_id, event.offset, event.bake_ami, per_instance)
    counts = {g["GroupName"]: len(g["Instances"]) for g in found["Groups"]}
    logger.info("Slice", extra={"offset": event.offset, "groups": counts})
    return found
