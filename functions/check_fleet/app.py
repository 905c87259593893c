"""Preflight, before the run changes anything: refuse (PreflightFailed, every problem listed) unless every group,
as it will be once the run has recovered what a run that died left in it, can safely lose an instance.
Otherwise the plan, the instances to patch per group in order, what the run recovers first, each group's warm
pool (not patched, not a reason to refuse) and the ones skipped, is kept in the run's report (S3) for the slices
to read. A dry run first checks the holds as a run would take them (GroupLocked while a live run holds a group)
and returns the plan instead, writing nothing (with BakeAmi, saying per group which launch template a bake would
change, or why it would not bake). Both forecast the run (autopatch.window): how long it would take, and with a
window which instances fit and which would be left; instances a run of this stack patched within
SkipPatchedWithinHours are skipped. Each group's hooks are resolved (the input's, its tags overriding them) and
checked against the documents and functions the stack allows."""

import os

from aws_lambda_powertools import Logger

from autopatch import preflight
from autopatch.step import step
from autopatch.steps import CheckFleetEvent

logger = Logger()


@step(CheckFleetEvent, logger)
def lambda_handler(event: CheckFleetEvent, context):
    checks = {
        "lower_min_size": event.lower_min_size,
        "skip_offline": event.offline_instances == "skip",
        "keep_capacity": event.keep_capacity,
    }
    options = preflight.PlanOptions(event.end_by, event.group_concurrency, event.skip_patched_hours, event.hooks)
    if event.dry_run:
        plan = preflight.dry_run(
            event.run_id,
            event.group_names,
            **checks,
            bake=event.bake_ami,
            opt_in_value=os.environ["OPT_IN_TAG_VALUE"],
            plan=options,
        )
    else:
        plan = preflight.plan_run(event.run_id, event.group_names, **checks, plan=options)
    logger.info("Preflight passed", extra={"plan": {g["GroupName"]: g["Count"] for g in plan["Groups"]}})
    return plan
