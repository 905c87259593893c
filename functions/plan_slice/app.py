"""Take the next slice of the run's plan: the instances of every group this execution patches. When a pass
(the plan, then each newcomer pass) has ended, find the instances that joined the groups meanwhile and save them
as the next pass."""

import os

from aws_lambda_powertools import Logger

from autopatch import newcomers, runs, window
from autopatch.step import step
from autopatch.steps import PlanSliceEvent

logger = Logger()


@step(PlanSliceEvent, logger)
def lambda_handler(event: PlanSliceEvent, context):
    nothing = {"Groups": [], "Pass": event.pass_number, "NextOffset": None}
    if runs.stopped(event.run_id, event.max_errors):
        # the run has stopped: the summary reports every instance not reached as NotStarted
        return nothing
    if window.closed(event.end_by):
        # the window has closed: no instance can start (the run ends WindowEnded, the rest NotStarted)
        window.leave_for_window(event.run_id, f"the window closed at {event.end_by}")
        return nothing
    if event.find_newcomers:
        found = newcomers.find_next_pass(event.run_id, event.pass_number, event.bake_ami, os.environ["STACK_NAME"])
        logger.info("Newcomers", extra={"after_pass": event.pass_number, "next": found})
        return found
    per_instance = runs.events_per_instance(max(event.standby_timeout, event.drain_timeout), event.health_timeout)
    found = runs.next_slice(event.run_id, event.offset, event.bake_ami, per_instance, event.pass_number)
    counts = {g["GroupName"]: len(g["Instances"]) for g in found["Groups"]}
    logger.info("Slice", extra={"pass": event.pass_number, "offset": event.offset, "groups": counts})
    return found
