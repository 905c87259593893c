"""The maintenance window a run fits in (WindowMinutes or EndBy), as a maintenance window's Duration and Cutoff
(no task starts after the window's end minus Cutoff, and one running goes on by default: CONTINUE_TASK;
https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CreateMaintenanceWindow.html,
https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_MaintenanceWindowTask.html). Here the cutoff is
each instance's own expected time rather than a fixed number of hours.

An instance is taken out of service only if the time it is expected to take ends before the window closes; one
already out always finishes. The expected time of one instance of a group (from the gate letting it go to its
return to service, patched) is the median of this run's instances of the group so far, else of the group's recent
runs kept in the run ledger, else DEFAULT_SECONDS. Once the gate has left an instance for the window, the run ends
WindowEnded: what it did not start is NotStarted, for the next run (with SkipPatchedWithinHours, the next run
patches only those)."""

import math
import statistics
import time

from . import ledger
from .run_input import end_by_time

DEFAULT_SECONDS = 15 * 60  # an install with a reboot and the health checks, before any run has measured the group
SOURCES = ("this run", "recent runs", "default")
# The window's record in the ledger is a stop (ledger.stop) of its own key, with one claimant: any gate that leaves
# an instance for the window records it (the first reason is kept), and the summary's notice claims it once.
_CLAIMANT = "window"


def closes_at(end_by: str | None) -> float | None:
    """EndBy (settings, already checked) as epoch seconds; None: no window."""
    return end_by_time(end_by).timestamp() if end_by else None


def closed(end_by: str | None) -> bool:
    """The window has closed: no instance can start, whatever it takes."""
    ends = closes_at(end_by)
    return ends is not None and time.time() >= ends


def estimate(run_id: str, group_name: str) -> dict:
    """{"Seconds", "Source"}: the expected time of one instance of the group, and where it comes from (SOURCES)."""
    recent = ledger.durations(group_name)
    this_run = [d["Seconds"] for d in recent if d["RunId"] == run_id]
    if this_run:
        return {"Seconds": round(statistics.median(this_run)), "Source": SOURCES[0]}
    if recent:
        return {"Seconds": round(statistics.median(d["Seconds"] for d in recent)), "Source": SOURCES[1]}
    return {"Seconds": DEFAULT_SECONDS, "Source": SOURCES[2]}


def too_late(run_id: str, group_name: str, instance_id: str, end_by: str | None) -> str | None:
    """Why the instance is left for the window (its expected time would end after it closes), or None."""
    ends = closes_at(end_by)
    if ends is None:
        return None
    expected = estimate(run_id, group_name)
    if time.time() + expected["Seconds"] <= ends:
        return None
    return (
        f"the window closes at {end_by}: {instance_id} of {group_name} would take about {_minutes(expected)} "
        f"({expected['Source']}), too long to be back in service by then"
    )


def leave_for_window(run_id: str, reason: str) -> None:
    """Record that the gate left an instance for the window, or a slice was not taken once it had closed (the run
    ends WindowEnded)."""
    ledger.stop(_key(run_id), reason, claimant=_CLAIMANT)


def ended(run_id: str) -> str | None:
    """The first reason the gate left an instance for the window, or None when it never did."""
    return ledger.stop_reason(_key(run_id))


def claim_notice(run_id: str) -> bool:
    """True until notice_sent: the summary's one notice that the window ended the run."""
    return ledger.stop(_key(run_id), "", claimant=_CLAIMANT)


def notice_sent(run_id: str) -> None:
    ledger.announced(_key(run_id))


def _key(run_id: str) -> str:
    return f"window#{run_id}"


def started(run_id: str, instance_id: str) -> None:
    """The gate let the instance go."""
    ledger.remember_start(run_id, instance_id)


def patched(run_id: str, group_name: str, instance_id: str) -> int | None:
    """The instance is back in service, patched: keep how long it took (once, however often this is called)."""
    since = ledger.take_start(run_id, instance_id)
    if since is None:
        return None
    seconds = max(0, int(time.time()) - since)
    ledger.add_duration(group_name, run_id, seconds)
    return seconds


def forecast(run_id: str, groups: list[dict], end_by: str | None, concurrency: int) -> dict:
    """How the run would go from now: per group ({"GroupName", "Instances"} in the plan's order, GroupConcurrency
    at a time, as the Map takes them) the expected time of one instance and where it comes from, when the group
    would start and how long it would take, which instances fit in the window and which would be left (Fit and Left,
    counted in FitCount and LeftCount); for the run, how long it would take (with a window, to the end of the last
    instance that fits), and a Note when an estimate is the default."""
    ends = closes_at(end_by)
    now = time.time()
    free = [0.0] * max(concurrency, 1)  # seconds from now at which each of the Map's slots is free
    found = []
    for group in groups:
        expected = estimate(run_id, group["GroupName"])
        slot = free.index(min(free))
        start, each, instances = free[slot], expected["Seconds"], group["Instances"]
        fit = len(instances) if ends is None else max(0, min(len(instances), math.floor((ends - now - start) / each)))
        free[slot] = start + fit * each
        found.append(
            {
                "GroupName": group["GroupName"],
                "MinutesPerInstance": round(each / 60, 1),
                "Estimate": expected["Source"],
                "StartsAfterMinutes": round(start / 60, 1),
                "ExpectedMinutes": round(fit * each / 60, 1),
                "Fit": instances[:fit],
                "Left": instances[fit:],
                "FitCount": fit,
                "LeftCount": len(instances) - fit,
            }
        )
    result = {
        "ExpectedMinutes": round(max(free) / 60, 1),
        "EndBy": end_by,
        "FitCount": sum(g["FitCount"] for g in found),
        "LeftCount": sum(g["LeftCount"] for g in found),
        "Groups": found,
    }
    defaults = [g["GroupName"] for g in found if g["Estimate"] == SOURCES[2]]
    if defaults:
        result["Note"] = (
            f"No run has measured {', '.join(defaults)} yet: its instances are expected to take the default "
            f"{DEFAULT_SECONDS // 60} minutes each; a run's own instances replace that estimate as they finish."
        )
    return result


def _minutes(expected: dict) -> str:
    return f"{round(expected['Seconds'] / 60, 1)} min"
