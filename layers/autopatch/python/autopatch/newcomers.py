"""Instances that join a group while the run patches it (a scale-out, the replacement of a Spot instance or of an
unhealthy one): patched after the planned ones, in passes, each pass taking the instances that joined before
the one before it ended, and looking again when it ends.

Not patched: an instance launched from the image this run baked for its group (BakeAmi), which is patched
already (Skipped, with why). The rest go through the same path as any instance, the gate and SkipCompliant's
scan included."""

from . import NEWCOMER_PASSES, groups, images, ledger, runs

# Lifecycle states of an instance that has joined its group or is joining it: the gate waits for one still
# Pending (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-lifecycle.html)
JOINING = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")
NOTHING_MORE = {"Pass": None, "NextOffset": None}


def find_next_pass(run_id: str, after: int, bake: bool, stack: str) -> dict:
    """After pass `after` ended with the run going on: the instances that joined since, saved as the next pass.
    {"Pass": n, "NextOffset": 0} when it has some to patch, else NOTHING_MORE (the summary reports any that join
    later, and the ones this pass skips)."""
    if after >= NEWCOMER_PASSES:
        return NOTHING_MORE
    done = runs.passes(run_id)[: after + 1]
    to_patch, skipped = [], []
    for name in [g["GroupName"] for g in done[0]["Groups"]]:
        if ledger.stop_reason(ledger.group_stop_key(run_id, name)):
            continue  # the group stopped (paused, no longer opted in): its newcomers are left as they are
        patch, skip = joined(run_id, groups.describe_group(name), _known(done), bake, stack)
        if patch:
            to_patch.append({"GroupName": name, "Instances": patch})
        skipped += skip
    if not to_patch and not skipped:
        return NOTHING_MORE
    runs.save_pass(run_id, after + 1, {"Groups": to_patch, "Skipped": skipped})
    return {"Pass": after + 1, "NextOffset": 0} if to_patch else NOTHING_MORE


def joined(run_id: str, group: dict, known: set[str], bake: bool, stack: str) -> tuple[list[str], list[dict]]:
    """The group's instances no pass holds, in the group's order: those to patch, and the result lines of those
    launched from the image this run baked for the group (Skipped, with the reason)."""
    name = group["AutoScalingGroupName"]
    new = [
        i["InstanceId"] for i in group["Instances"] if i["InstanceId"] not in known and i["LifecycleState"] in JOINING
    ]
    launched_from = images.from_baked_image(run_id, name, stack, new) if bake and new else {}
    skipped = [
        {
            "InstanceId": i,
            "GroupName": name,
            "Result": "Skipped",
            "Reason": f"launched from {launched_from[i]}, the image this run baked: patched already",
        }
        for i in new
        if i in launched_from
    ]
    skip = {s["InstanceId"] for s in skipped}
    return [i for i in new if i not in skip], skipped


def left_unpatched(run_id: str, group_names: list[str], bake: bool, stack: str, stopped: bool) -> list[dict]:
    """For the summary: the lines of the instances in a group at the end that no pass held, each with why it was
    not patched (NotStarted), or Skipped when launched from the image the run baked."""
    done = runs.passes(run_id)
    known, planned = _known(done), [g["GroupName"] for g in done[0]["Groups"] if g["GroupName"] in group_names]
    lines = []
    found = groups.existing_groups(planned) if planned else {}
    for name in [n for n in planned if n in found]:  # a group deleted during the run has nothing to report
        patch, skipped = joined(run_id, found[name], known, bake, stack)
        if stopped:
            why = "joined its group during the run, which stopped before patching it"
        elif ledger.stop_reason(ledger.group_stop_key(run_id, name)):
            why = "joined its group during the run; the group stopped before patching it"
        elif len(done) > NEWCOMER_PASSES:
            why = f"joined its group after the last of the run's {NEWCOMER_PASSES} newcomer passes"
        else:
            why = "joined its group after the run's last look for newcomers"
        lines += skipped + [{"InstanceId": i, "GroupName": name, "Result": "NotStarted", "Reason": why} for i in patch]
    return lines


def _known(done: list[dict]) -> set[str]:
    return {i for p in done for g in p["Groups"] for i in g["Instances"]} | {
        s["InstanceId"] for p in done for s in p["Skipped"]
    }
