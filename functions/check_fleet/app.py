"""Preflight: refuse (PreflightFailed, every problem listed) unless every group can safely lose an instance.
Otherwise the plan, the instances to patch per group in order and the ones skipped, is kept in the run's
report (S3) for the slices to read; a dry run returns it instead and writes nothing (with BakeAmi, saying per
group which launch template a bake would change, or why it would not bake)."""

import os

from aws_lambda_powertools import Logger, Tracer

from autopatch import images, preflight, runs
from autopatch.clients import named_aws_errors
from autopatch.event import field, group_names
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()
SHOWN_PER_GROUP = 50  # a dry run lists this many instances per group; the counts cover all of them


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    dry_run, bake = field(event, "DryRun", bool, False), field(event, "BakeAmi", bool, False)
    plan = preflight.check(
        group_names(event),
        lower_min_size=field(event, "LowerMinSize", bool),
        skip_offline=field(event, "OfflineInstances", str) == "skip",
    )
    counts = {g["GroupName"]: len(g["Instances"]) for g in plan["Groups"]}
    logger.info("Preflight passed", extra={"plan": counts})
    if dry_run:
        return {
            "Groups": [
                {
                    "GroupName": g["GroupName"],
                    "Count": len(g["Instances"]),
                    "Instances": g["Instances"][:SHOWN_PER_GROUP],
                    **({"Bake": images.bake_plan(g["GroupName"], os.environ["OPT_IN_TAG_VALUE"])} if bake else {}),
                }
                for g in plan["Groups"]
            ],
            "Skipped": plan["Skipped"],
        }
    runs.save_plan(field(event, "RunId", str), plan)
    return {
        "Groups": [{"GroupName": name, "Count": count} for name, count in counts.items()],
        "Skipped": len(plan["Skipped"]),
    }
