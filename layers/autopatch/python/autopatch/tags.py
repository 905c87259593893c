"""The instance tags a run leaves behind: its result, and which run set it."""

from . import PATCH_TAG_KEY, RUN_TAG_KEY
from .clients import client
from .errors import InvalidInput

RESULTS = ("InProgress", "Completed", "Failed")


def tag_instance(instance_id: str, value: str, run_id: str) -> None:
    """Set AutoPatchInstanceInASG (and the run id) on the instance. Tagging twice is harmless."""
    if value not in RESULTS:
        raise InvalidInput(f"Value must be one of {', '.join(RESULTS)}; got {value!r}.")
    client("ec2").create_tags(
        Resources=[instance_id],
        Tags=[{"Key": PATCH_TAG_KEY, "Value": value}, {"Key": RUN_TAG_KEY, "Value": run_id}],
    )
