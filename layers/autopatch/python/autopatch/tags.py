"""The instance tags a run leaves behind: its result, and which run set it."""

import time

from . import PATCH_TAG_KEY, PATCHED_TAG_KEY, RUN_TAG_KEY
from .clients import client
from .errors import InvalidInput
from .run_input import end_by_time, utc_text

RESULTS = ("InProgress", "Completed", "Failed")


def tag_instance(instance_id: str, value: str, run_id: str) -> None:
    """Set AutoPatchInstanceInASG (and the run id) on the instance; Completed also sets AutoPatchPatched, the time
    and the run (patched_since). Tagging twice is harmless."""
    if value not in RESULTS:
        raise InvalidInput(f"Value must be one of {', '.join(RESULTS)}; got {value!r}.")
    found = [{"Key": PATCH_TAG_KEY, "Value": value}, {"Key": RUN_TAG_KEY, "Value": run_id}]
    if value == "Completed":
        found.append({"Key": PATCHED_TAG_KEY, "Value": f"{utc_text(time.time())} {run_id}"})
    client("ec2").create_tags(Resources=[instance_id], Tags=found)


# DescribeTags filters by resource-id and key, paginated
# (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeTags.html); the ids go in chunks of this many
# values per filter (no limit of its own is documented there), as DescribeInstances' in autopatch.newcomers
DESCRIBE_TAGS_VALUES = 200


def patched_since(instance_ids: list[str], since: float) -> dict[str, dict]:
    """The instances a run of this stack patched at or after `since` (epoch seconds): id -> {"PatchedAt",
    "PatchedBy"}, read from their AutoPatchPatched tags. A tag that does not read as a time and a run is ignored."""
    found = {}
    paginator = client("ec2").get_paginator("describe_tags")
    for start in range(0, len(instance_ids), DESCRIBE_TAGS_VALUES):
        filters = [
            {"Name": "resource-id", "Values": instance_ids[start : start + DESCRIBE_TAGS_VALUES]},
            {"Name": "key", "Values": [PATCHED_TAG_KEY]},
        ]
        for page in paginator.paginate(Filters=filters):
            for tag in page["Tags"]:
                at, _, run_id = tag["Value"].partition(" ")
                try:
                    when = end_by_time(at).timestamp()
                except InvalidInput:
                    continue
                if run_id and when >= since:
                    found[tag["ResourceId"]] = {"PatchedAt": at, "PatchedBy": run_id}
    return found
