"""Patch compliance as the SSM agent reports it (DescribeInstancePatchStates), after each command."""

from .clients import client
from .errors import PatchesFailed

COUNTS = {
    "installed": "InstalledCount",
    "missing": "MissingCount",
    "failed": "FailedCount",
    "pending_reboot": "InstalledPendingRebootCount",
}


def patch_state(instance_id: str) -> dict | None:
    """installed, missing, failed and pending_reboot counts, with the operation that reported them."""
    states = client("ssm").describe_instance_patch_states(InstanceIds=[instance_id])["InstancePatchStates"]
    if not states:
        return None
    state = states[0]
    counts = {name: int(state.get(field, 0)) for name, field in COUNTS.items()}
    return {**counts, "operation": state.get("Operation")}


def compliant(state: dict | None) -> bool:
    """Nothing missing and nothing failed (what SkipCompliant leaves alone)."""
    return state is not None and state["missing"] == 0 and state["failed"] == 0


def check_install(instance_id: str, state: dict | None) -> None:
    """An Install whose command succeeded but that still reports failed patches is a failure."""
    if state is not None and state["failed"] > 0:
        raise PatchesFailed(
            f"AWS-RunPatchBaseline succeeded on {instance_id} but {state['failed']} patch(es) failed to install "
            f"({state['missing']} missing, {state['installed']} installed)."
        )
