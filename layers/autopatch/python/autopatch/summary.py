"""The run's result, as the execution output (or failure cause) shows it to a person."""

from collections.abc import Sequence
from typing import Any

from . import VERSION

RESULTS = ("Completed", "Failed", "Skipped", "NotStarted", "Gone")


def bakes(reached: dict, planned: dict) -> list[dict]:
    """Per group, its bake (BakeAmi): Baked, NotBaked (with the reason) or Failed (its patching succeeded)."""
    found = []
    for group in planned["Groups"]:
        last = group["Instances"][-1] if group["Instances"] else None  # the only one a group is baked from
        outcome = reached.get(last, {}).get("Bake") or {}
        if not outcome.get("Status"):
            ended = reached.get(last, {}).get("Result", "NotStarted")
            reason = (
                f"its last instance, {last}, ended {ended}: an image is taken only of a patched instance"
                if last
                else "none of its instances was patched"
            )
            outcome = {"Status": "NotBaked", "ImageId": None, "Reason": reason}
        found.append({"GroupName": group["GroupName"], **outcome})
    return found


def summarize(
    run_id: str,
    max_errors: int,
    results: list[dict],
    planned: dict,
    recovered: Sequence[dict] = (),
    stop_reason: str | None = None,
    paused: Sequence[str] = (),
    bake: bool = False,
    joined: Sequence[dict] = (),
    window_end: str | None = None,
) -> dict:
    """Every planned instance with its result (NotStarted when no execution reached it); a Failed one with the Step
    it failed in and its Error; a Gone one that went while the run was patching it (out of service, or during its
    BeforeStandby hook) with the Step it went in, counted apart in Counts GoneWhileOut (a share of Gone). Then
    every instance that joined a group during the run (joined: InstanceId, GroupName and, for one no pass patched,
    Result and Reason), marked JoinedDuringRun. Status is
    Succeeded, Failed (failures beyond MaxErrors), Stopped (a gate stopped the run) or WindowEnded: window_end
    (EndBy) given when the run left instances for its window, those not started get the Reason. A skipped instance
    keeps why (Reason) and, skipped as patched recently, by which run."""
    reached = {item["InstanceId"]: item for item in results}
    instances = (
        [
            {
                "InstanceId": instance_id,
                "GroupName": group["GroupName"],
                "Result": reached.get(instance_id, {}).get("Result", "NotStarted"),
                "CommandId": reached.get(instance_id, {}).get("CommandId"),
                "Compliance": reached.get(instance_id, {}).get("Compliance"),
            }
            for group in planned["Groups"]
            for instance_id in group["Instances"]
        ]
        + [
            {
                **{k: s[k] for k in ("InstanceId", "GroupName", "Result")},
                "CommandId": None,
                "Compliance": None,
                **{k: s[k] for k in ("Reason", "PatchedBy", "PatchedAt") if k in s},
            }
            for s in planned["Skipped"]
        ]
        + [
            {
                "InstanceId": j["InstanceId"],
                "GroupName": j["GroupName"],
                "Result": reached.get(j["InstanceId"], {}).get("Result", j.get("Result", "NotStarted")),
                "CommandId": reached.get(j["InstanceId"], {}).get("CommandId"),
                "Compliance": reached.get(j["InstanceId"], {}).get("Compliance"),
                "JoinedDuringRun": True,
                **({"Reason": j["Reason"]} if "Reason" in j else {}),
            }
            for j in joined
        ]
    )
    for instance in instances:
        line = reached.get(instance["InstanceId"], {})
        if instance["Result"] == "Gone" and line.get("Step"):  # gone while out of service: in which step
            instance["Step"] = line["Step"]
        if instance["Result"] == "Failed":  # in which step, with which error (the alert has its cause)
            instance.update({k: line[k] for k in ("Step", "Error") if line.get(k)})
    counts = {result: sum(1 for i in instances if i["Result"] == result) for result in RESULTS}
    counts["GoneWhileOut"] = sum(1 for i in instances if i["Result"] == "Gone" and "Step" in i)  # those alerted
    untouched = f"{counts['NotStarted']} instance(s) were left untouched."
    if counts["Failed"] > max_errors:
        status = "Failed"
        message = f"{counts['Failed']} instance(s) failed, more than MaxErrors={max_errors}: {untouched}"
    elif stop_reason:
        status = "Stopped"
        message = f"The run stopped: {stop_reason}. {untouched}"
    else:
        status = "Succeeded"
        message = f"{counts['Completed']} instance(s) patched, {counts['Failed']} failed (MaxErrors={max_errors})."
        if counts["Skipped"]:
            message += (
                f" {counts['Skipped']} skipped (already compliant, SSM agent offline, launched from the image"
                " the run baked, or patched recently: each says why)."
            )
        before_turn = counts["Gone"] - counts["GoneWhileOut"]
        if before_turn:
            message += f" {before_turn} left their group before their turn (Gone)."
        if counts["GoneWhileOut"]:
            message += (
                f" {counts['GoneWhileOut']} went while the run was patching them (out of service, or during their"
                " BeforeStandby hook: Gone; each alert says in which step, and what was done about its group's"
                " capacity)."
            )
        newcomers = [i for i in instances if i.get("JoinedDuringRun")]
        if newcomers:
            late = sum(i["Result"] == "NotStarted" for i in newcomers)
            message += f" {len(newcomers)} joined their group during the run" + (
                f", {late} of them too late to be patched (NotStarted, with the reason)." if late else "."
            )
        if paused:
            message += f" Paused before finishing: {', '.join(paused)} ({untouched})"
        if window_end and counts["NotStarted"]:
            status = "WindowEnded"
            message = (
                f"The window closed at {window_end}: {message} {counts['NotStarted']} instance(s) not started, left for"
                " the next run (NotStarted)."
            )
            for instance in instances:
                if instance["Result"] == "NotStarted" and "Reason" not in instance:
                    instance["Reason"] = (
                        f"the window closed (EndBy {window_end}) before it could be patched in time: the next run"
                        " patches it"
                    )
    summary: dict[str, Any]
    summary = {
        "RunId": run_id,
        "Version": VERSION,  # the product's version that ran it (the last part's, for a run that continued)
        "Status": status,
        "Message": message,
        "Counts": counts,
        "Instances": instances,
    }
    if bake:
        summary["Bakes"] = bakes(reached, planned)
        done = {s: sum(1 for b in summary["Bakes"] if b["Status"] == s) for s in ("Baked", "NotBaked", "Failed")}
        summary["Message"] += f" Images: {done['Baked']} baked, {done['NotBaked']} not baked, {done['Failed']} failed."
    if recovered:
        summary["Recovered"] = [r["InstanceId"] for r in recovered]
    if paused:
        summary["PausedGroups"] = list(paused)
    return summary
