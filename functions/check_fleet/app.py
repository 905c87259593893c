"""Preflight: refuse (PreflightFailed, every problem listed) unless every group can safely lose an instance.
Otherwise the plan, the instances to patch per group in order and the ones skipped, is kept in the run's
report (S3) for the slices to read; a dry run returns it instead and writes nothing (with BakeAmi, saying per
group which launch template a bake would change, or why it would not bake)."""

import os

from aws_lambda_powertools import Logger

from autopatch import images, preflight, runs
from autopatch.step import step
from autopatch.steps import CheckFleetEvent

logger = Logger()
SHOWN_PER_GROUP = 50  # a dry run lists this many instances per group; the counts cover all of them


@step(CheckFleetEvent, logger)
def lambda_handler(event: CheckFleetEvent, context):
    plan = preflight.check(
        event.group_names,
        lower_min_size=event.lower_min_size,
        skip_offline=event.offline_instances == "skip",
    )
    counts = {g["GroupName"]: len(g["Instances"]) for g in plan["Groups"]}
    logger.info("Preflight passed", extra={"plan": counts})
    if event.dry_run:
        return {
            "Groups": [
                {
                    "GroupName": g["GroupName"],
                    "Count": len(g["Instances"]),
                    "Instances": g["Instances"][:SHOWN_PER_GROUP],
                    **(
                        {"Bake": images.bake_plan(g["GroupName"], os.environ["OPT_IN_TAG_VALUE"])}
                        if event.bake_ami
                        else {}
                    ),
                }
                for g in plan["Groups"]
            ],
            "Skipped": plan["Skipped"],
        }
    runs.save_plan(event.run_id, plan)
    return {
        "Groups": [{"GroupName": name, "Count": count} for name, count in counts.items()],
        "Skipped": len(plan["Skipped"]),
    }
