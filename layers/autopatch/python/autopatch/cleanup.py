"""The clean-up after an execution that ended FAILED, TIMED_OUT or ABORTED: *Stop execution*, a timeout, a crash.

Such an execution ran none of its own error handling, or not all of it: the instance it was patching may be left
in Standby (the group one short), tagged InProgress, with its patch command (or a hook's document) still running,
an instance added (KeepCapacity), MinSize lowered, MaxSize raised, AZRebalance suspended, the groups held and the
instance's alert never sent. The EventBridge rule on the execution's status starts this clean-up within seconds.
It touches only what this run changed: instances tagged with the run's id in the run's groups, what the ledger
says this run changed on them, the holds of this execution.

For each such instance, in order:
1. its patch command is cancelled (CancelCommand) and waited for until it is terminal: an instance is never
   returned to service while its command may still reboot it;
2. it is returned to service (once it has reached Standby, for one still entering it) and waited for until it is
   InService and healthy in every load balancer (up to the run's HealthTimeoutSeconds);
3. it is tagged truthfully: Completed only when the run's Install command ended Success, the instance reports no
   failed patches after it and it is healthy again; Failed otherwise (the alert says why).
An instance gone meanwhile (EC2 terminated it, or it left the group) is not waited for: the group gets back the
capacity the run's standby took (groups.give_back_capacity), as the run itself would do.
A hook's document the run sent that still runs is cancelled first. Then what the run changed on the group is given
back: the instance it added (surge.give_back: one removed, never below MinSize), then its settings
(groups.give_back: only while the group still has the run's value); the holds are released, and one alert says
what was done.

What cannot be finished within one invocation (a command that does not end, a deregistration that lasts) raises
CleanUpUnfinished: Lambda runs the function again (asynchronous invocation: twice more, after one and two
minutes). Its last attempt leaves such an instance as it is, says so in the alert and releases the hold, so the
next run recovers it. Everything is safe to repeat (an event may be delivered twice): each step checks the state
first, the holds are conditional writes, and the alert is claimed in the ledger before it is sent."""

import json
import time
from typing import Any

from . import PATCH_TAG_KEY, RUN_TAG_KEY, alerts, compliance, ecs, groups, hooks, ledger, patching, polling, surge
from .clients import client
from .errors import CleanUpUnfinished, InstanceGone
from .steps import ExecutionDetail

FIRST_STATE = "Validate input and find groups"  # its output names the run, its groups and its settings
# A function the execution had invoked is not stopped with it (Lambda cannot stop an invocation in flight):
# the longest timeout of the functions that change an instance (the template's Globals) passes before acting.
IN_FLIGHT_SECONDS = 60
ATTEMPTS = 3  # the first invocation and Lambda's two retries of an asynchronous invocation
RETRY_GAP_SECONDS = 180  # the most Lambda waits between two attempts (one, then two minutes)
RESERVE_SECONDS = 30  # kept, before the function's timeout, to restore, release and alert
POLL_SECONDS = 5
OUT_OF_SERVICE = ("EnteringStandby", "Standby")
ALERT_KIND = "run-cleaned-up"


def the_run(execution_arn: str) -> dict | None:
    """RunId, GroupNames and Settings, as the execution's first state found them (for a continued run, the run's
    own); None when the execution ended before it got that far (then it changed nothing)."""
    # The first state exits within the first events, its retries included.
    history = client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=100)
    for event in history["events"]:
        details = event.get("stateExitedEventDetails") or {}
        if details.get("name") == FIRST_STATE and details.get("output"):
            found = json.loads(details["output"])
            return {"RunId": found["RunId"], "GroupNames": found["GroupNames"], "Settings": found["Settings"]}
    return None


def clean_up(detail: ExecutionDetail, context, topic_arn: str, claimant: str) -> dict:
    """Put right what the execution named in an "Execution Status Change" event's detail left behind."""
    execution_arn, status, execution_name = detail.execution_arn, detail.status, detail.name
    run = the_run(execution_arn)
    if run is None:
        return {"CleanedUp": False, "Reason": "the execution ended before it found its groups"}
    run_id, names, settings = run["RunId"], run["GroupNames"], run["Settings"]
    if settings.get("DryRun"):
        return {"CleanedUp": False, "Reason": "a dry run changes nothing"}
    deadline = time.time() + context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS
    last = ledger.count_attempt(f"cleanup#{execution_name}") >= ATTEMPTS
    hold_until = int(deadline + RESERVE_SECONDS + RETRY_GAP_SECONDS)
    left_holds = ledger.mark_cleaning(names, execution_arn, hold_until)
    stopped = detail.stop_date
    _sleep_until((stopped / 1000 if isinstance(stopped, (int, float)) else time.time()) + IN_FLIGHT_SECONDS)

    done: dict[str, Any] = {
        "Instances": [],
        "Removed": [],
        "GivenBack": [],
        "Released": [],
        "Skipped": [],
        "Unfinished": [],
        "HooksCancelled": hooks.cancel_run_commands(run_id),
    }
    held = list(left_holds)
    for name in names:
        left = left_behind(name, run_id)
        changed = groups.changes_by(name, run_id) or (ledger.change(name, surge.ADDED) or {}).get("RunId") == run_id
        if not left and not changed:
            continue
        if name not in held:
            outcome = ledger.hold_for_cleanup(name, execution_arn, run_id, hold_until)
            if outcome.startswith("held by"):
                # the run that holds it now recovers what is left (recover_groups), before it patches anything
                done["Skipped"].append(f"group {name}: {outcome}, which returns what this run left to service")
                continue
            held.append(name)
        unfinished: list[dict] = []
        for instance in left:
            result = _settle(instance, run_id, settings, deadline)
            (unfinished if "Unfinished" in result else done["Instances"]).append(result)
        removed = None if unfinished else surge.give_back(name, run_id)
        if removed:
            done["Removed"].append({"GroupName": name, "Done": removed})
        # returning an instance may have raised MaxSize (groups.make_room): what the run changed is read again
        given_back = (
            [] if unfinished else [(s, groups.give_back(name, s, run_id)) for s in groups.changes_by(name, run_id)]
        )
        done["GivenBack"] += [
            {"GroupName": name, "Setting": setting, "Original": change["Original"]}
            for setting, change in given_back
            if change
        ]
        done["Unfinished"] += unfinished
    if done["Unfinished"] and not last:
        finished = [n for n in held if n not in {u["GroupName"] for u in done["Unfinished"]}]
        ledger.release_locks(finished, execution_arn)
        raise CleanUpUnfinished("; ".join(u["Unfinished"] for u in done["Unfinished"]) + ". Retried.")
    ledger.release_locks(held, execution_arn)
    done["Released"] = sorted(left_holds)
    done["Failed"] = ledger.failures(run_id)
    done["FailureReasons"] = {instance: ledger.failure_reason(run_id, instance) for instance in done["Failed"]}
    kinds = ("Instances", "Removed", "GivenBack", "Released", "Skipped", "Unfinished", "HooksCancelled")
    anything = any(done[k] for k in kinds)
    alert_key = f"cleanup#{execution_name}"
    if anything and ledger.stop(alert_key, f"execution ended {status}", claimant):
        subject, body = alert_message(run_id, execution_arn, str(status), names, done)  # one of ENDED_BADLY
        alerts.publish(topic_arn, subject, body, ALERT_KIND)
        ledger.announced(alert_key)
    return {"CleanedUp": anything, "RunId": run_id, **done}


def left_behind(group_name: str, run_id: str) -> list[dict]:
    """The group's instances this run tagged and did not finish: InProgress, or out of service (Standby, also
    with the tag Failed: the failure path was cut short, or the deregistration outlasted the run's waits)."""
    group = groups.describe_group(group_name)
    states = {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]}
    if not states:
        return []
    found: dict[str, dict] = {}
    for page in (
        client("ec2")
        .get_paginator("describe_tags")
        .paginate(
            Filters=[
                {"Name": "resource-id", "Values": list(states)},
                {"Name": "key", "Values": [PATCH_TAG_KEY, RUN_TAG_KEY]},
            ]
        )
    ):
        for tag in page["Tags"]:
            found.setdefault(tag["ResourceId"], {})[tag["Key"]] = tag["Value"]
    return [
        {"InstanceId": instance_id, "GroupName": group_name, "Was": states[instance_id], "Tag": tags.get(PATCH_TAG_KEY)}
        for instance_id, tags in sorted(found.items())
        if tags.get(RUN_TAG_KEY) == run_id
        and (tags.get(PATCH_TAG_KEY) == "InProgress" or states[instance_id] in OUT_OF_SERVICE)
    ]


def _settle(instance: dict, run_id: str, settings: dict, deadline: float) -> dict:
    """Bring one instance back: its command ended, in service, healthy, tagged. Returns what was done, with
    "Unfinished" (the reason) when it could not be done before the deadline."""
    instance_id, group_name = instance["InstanceId"], instance["GroupName"]
    result = {**instance, "Done": []}
    gone = groups.gone_reason(group_name, instance_id)
    if gone:
        return _give_back(result, gone, run_id, deadline)
    command = patching.run_command(instance_id, run_id)
    if command and command["Status"] not in patching.TERMINAL:
        if command["Status"] != "Cancelling":
            patching.cancel(command["CommandId"], instance_id)
            result["Done"].append(f"patch command {command['CommandId']} cancelled")
        if not _wait(lambda: _command_status(command) in patching.TERMINAL, deadline):
            return {**result, "Unfinished": f"{instance_id}: patch command {command['CommandId']} has not ended"}
    waiting = ledger.waiting_task(instance_id)
    if waiting and waiting.get("RunId") == run_id:
        ledger.forget_waiting_task(instance_id, waiting["TaskToken"])
    state = groups.lifecycle_state(group_name, instance_id)
    if state == "EnteringStandby" and not _wait(
        lambda: groups.lifecycle_state(group_name, instance_id) != "EnteringStandby", deadline
    ):
        return {**result, "Unfinished": f"{instance_id} is still EnteringStandby"}
    if groups.exit_standby(group_name, instance_id, run_id) == "Pending":
        result["Done"].append("returned to service (ExitStandby)")
    ledger.forget_standby(run_id, instance_id)
    health_deadline = min(time.time() + int(settings.get("HealthTimeoutSeconds", 600)), deadline)
    result["Healthy"] = _wait(lambda: _healthy(group_name, instance_id), health_deadline)
    if result["Healthy"] and ecs.reactivate(instance_id):
        result["Done"].append("ECS container instance set ACTIVE again")
    result["Tag"], result["Reason"] = _truthful_tag(instance, command, result["Healthy"])
    if result["Tag"] != instance["Tag"]:
        client("ec2").create_tags(
            Resources=[instance_id],
            Tags=[{"Key": PATCH_TAG_KEY, "Value": result["Tag"]}, {"Key": RUN_TAG_KEY, "Value": run_id}],
        )
    return result


def _give_back(result: dict, gone: str, run_id: str, deadline: float) -> dict:
    """An instance that went while the run had it out (EC2 terminated it, or it left the group): no command to wait
    for, nothing to return or tag; the group gets back the capacity the run's standby took, as the run would."""
    instance_id, group_name = result["InstanceId"], result["GroupName"]
    if not _wait(lambda: _state(group_name, instance_id) != "EnteringStandby", deadline):
        return {**result, "Unfinished": f"{instance_id} is still EnteringStandby"}
    return {**result, "Gone": gone, "Done": [groups.give_back_capacity(group_name, instance_id, run_id)]}


def _state(group_name: str, instance_id: str) -> str | None:
    try:
        return groups.lifecycle_state(group_name, instance_id)
    except InstanceGone:
        return None


def _truthful_tag(instance: dict, command: dict | None, healthy: bool) -> tuple[str, str]:
    """Completed only for a patch known to have succeeded on an instance healthy again; Failed otherwise."""
    if instance["Tag"] == "Failed":
        return "Failed", "the run had already found it failed"
    if command is None or command["Operation"] != "Install":
        return "Failed", "the run ended before its patch command was sent"
    status = _command_status(command)
    if status != "Success":
        return "Failed", f"its patch command {command['CommandId']} ended {status}"
    state = compliance.patch_state(instance["InstanceId"])
    if state is None or state.get("operation") != "Install" or state["failed"] > 0:
        return "Failed", "its patch command succeeded, but its compliance after the patch is not known to be clean"
    if not healthy:
        return "Failed", "patched, but not healthy in time after returning to service"
    return "Completed", "patched (command Success, no failed patches) and healthy"


def _command_status(command: dict) -> str:
    return patching.command_status(command["CommandId"]) or command["Status"]


def _healthy(group_name: str, instance_id: str) -> bool:
    return _state(group_name, instance_id) == "InService" and not groups.unhealthy_targets(
        groups.load_balancers(group_name), instance_id
    )


def _wait(check, deadline: float) -> bool:
    """check() every POLL_SECONDS until it is true (True) or the deadline comes (False)."""
    while True:
        if check():
            return True
        if time.time() + POLL_SECONDS > deadline:
            return False
        polling.sleep(POLL_SECONDS)


def _sleep_until(moment: float) -> None:
    if moment > time.time():
        polling.sleep(moment - time.time())


def alert_message(run_id: str, execution_arn: str, status: str, names: list[str], done: dict) -> tuple[str, str]:
    """One alert for the whole clean-up: what the execution left and what was done about it."""
    lines = [
        f"The execution {execution_arn.rsplit(':', 1)[-1]} of patch run {run_id} ended {status} before it could put "
        "everything back. The clean-up did this:",
        "",
    ]
    for item in done["Instances"]:
        if item.get("Gone"):
            lines.append(
                f"- {item['InstanceId']} (group {item['GroupName']}, was {item['Was']}): gone ({item['Gone']}); "
                f"{item['Done'][0]}; its tag is left {item['Tag']}."
            )
            continue
        health = "healthy" if item.get("Healthy") else "NOT healthy yet: check it"
        steps = ", ".join(item["Done"]) or "nothing to return"
        lines.append(
            f"- {item['InstanceId']} (group {item['GroupName']}, was {item['Was']}): {steps}; {health}; "
            f"tagged {item['Tag']}: {item['Reason']}."
        )
    lines += [
        f"- {h['InstanceId']}: its hook document {h['Document']} (command {h['CommandId']}) cancelled."
        for h in done["HooksCancelled"]
    ]
    lines += [
        f"- group {r['GroupName']}: the instance KeepCapacity added given back: {r['Done']}." for r in done["Removed"]
    ]
    lines += [
        f"- group {g['GroupName']}: "
        + (f"{g['Setting']} resumed." if g["Original"] is None else f"{g['Setting']} restored to {g['Original']}.")
        for g in done["GivenBack"]
    ]
    if done["Released"]:
        lines.append(f"- holds released on: {', '.join(done['Released'])}.")
    lines += [f"- {skipped}." for skipped in done["Skipped"]]
    lines += [
        f"- NOT DONE: {u['Unfinished']} after {ATTEMPTS} attempts; it is left as it is (group {u['GroupName']} may "
        "be one short). Check the command in Systems Manager > Run Command; the next run returns the instance "
        "to service, or run aws autoscaling exit-standby once the command has ended."
        for u in done["Unfinished"]
    ]
    if done["Failed"]:
        lines += ["", "Instances this run found failed (tagged Failed), and why:"]
        lines += [
            f"- {instance}: {ledger.failure_reason(run_id, instance) or 'see the run'}" for instance in done["Failed"]
        ]
    lines += ["", f"Execution:  {alerts.execution_console_url(execution_arn)}"]
    subject = f"Patch run {run_id} cleaned up after it ended {status}: {', '.join(names)}"
    return subject, "\n".join(lines)
