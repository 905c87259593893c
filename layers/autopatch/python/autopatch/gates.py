"""The gate before each instance: is it still safe to take the next one out?"""

import time

from . import PAUSED, alarms, alerts, groups, ledger, polling, window


def check_next_instance(
    run_id: str,
    group_name: str,
    instance_id: str,
    max_errors: int,
    alarm_names: list[str],
    opt_in_value: str,
    settle: tuple[int | None, int] = (None, 0),
    end_by: str | None = None,
    soak: bool = False,
) -> dict:
    """{"Proceed": True}, or {"Proceed": False, "Reason", "Scope", "Announce"}: Scope "run" stops every group,
    "group" this group only (paused, no longer held by this run, an instance refresh started on it, or one of its
    instances put in Standby by another tool or a person); Announce is True for the one call that should tell
    people. {"Proceed": False, "Gone": True, "Reason"} when the instance left the group before its turn: nothing to
    patch, nothing failed. {"Proceed": False, "Wait": True, "Deadline", "Reason"} when the only problems are
    instances on their way into or out of service (settling): ask again until settle's deadline (None: now plus
    settle's timeout, the deadline returned); past it, the run stops naming what did not settle.
    {"Proceed": False, "WindowEnded": True, "Reason"} when the instance is not expected to be back in service before
    the window closes (end_by, autopatch.window): it is left for the next run, and the run ends WindowEnded. With
    soak, the check at the end of a soak after instance_id was patched: the same checks, with instance_id's own
    state and targets among them (patched, it is one the alarms and the load balancers now judge); no window."""
    group_key = ledger.group_stop_key(run_id, group_name)

    def stop(scope: str, reason: str) -> dict:
        """Record the stop of the run (or the group): the first claimant to record it announces it."""
        key = run_id if scope == "run" else group_key
        return _stop(reason, scope, announce=ledger.stop(key, reason, claimant=instance_id), key=key)

    # Stopped already: only the claimant that recorded the stop, retried before its alert went out, announces.
    reason = ledger.stop_reason(run_id)
    if reason:
        return stop("run", reason)
    reason = ledger.stop_reason(group_key)
    if reason:
        return stop("group", reason)
    failed = ledger.failures(run_id)
    if len(failed) > max_errors:
        # each failure was alerted already; the summary says the run stopped on them
        return _stop(f"{len(failed)} instance(s) failed, more than MaxErrors={max_errors}", "budget", announce=False)
    group = groups.describe_group(group_name)
    tag = groups.opt_in_value(group)
    if tag != opt_in_value:
        state = "paused" if tag == PAUSED else "no longer opted in" if tag is None else f"tagged AutoPatch={tag}"
        return stop("group", f"group {group_name} is {state}: its remaining instances are left as they are")
    gone = None if soak else _gone(group, instance_id)
    if gone:
        return {"Proceed": False, "Gone": True, "Reason": gone}
    late = None if soak else window.too_late(run_id, group_name, instance_id, end_by)
    if late:
        window.leave_for_window(run_id, late)
        return {"Proceed": False, "WindowEnded": True, "Reason": late}
    reason = _not_the_runs(run_id, group_name) or _in_standby_by_another(run_id, group, failed)
    if reason:
        return stop("group", reason)
    problems, settling = _instances(group, None if soak else instance_id)
    problems += _alarms(alarm_names + groups.alarm_names(group))
    deadline, timeout = settle
    when = f"{'during the soak after' if soak else 'before'} {instance_id} of {group_name}"
    if settling and not problems:
        deadline = deadline or int(time.time()) + timeout
        if time.time() <= deadline:
            reason = f"{when}, waiting for " + "; ".join(settling)
            return {"Proceed": False, "Wait": True, "Deadline": deadline, "Reason": reason}
        settling = [f"{s} (not settled within HealthTimeoutSeconds={timeout})" for s in settling]
    if problems or settling:
        return stop("run", f"{when}: " + "; ".join(problems + settling))
    return {"Proceed": True}


def gate_next_instance(
    run_id: str,
    group_name: str,
    instance_id: str,
    max_errors: int,
    alarm_names: list[str],
    opt_in_value: str,
    topic_arn: str,
    execution_arn: str,
    settle: tuple[int | None, int] = (None, 0),
    end_by: str | None = None,
    soak: bool = False,
) -> dict:
    """check_next_instance, and the alert of the one call that stops the run (or the group); an instance let go
    is timed from now (autopatch.window)."""
    verdict = check_next_instance(
        run_id, group_name, instance_id, max_errors, alarm_names, opt_in_value, settle, end_by, soak
    )
    if verdict["Proceed"] and not soak:
        window.started(run_id, instance_id)
    if verdict.get("Announce"):
        alerts.publish_stop(topic_arn, run_id, execution_arn, verdict["Reason"], verdict["Scope"], group_name)
        ledger.announced(verdict["StopKey"])
    return verdict


def soak_seconds(run_id: str, instance_id: str, soak: int, canary_soak: int) -> int:
    """How long the run watches its alarms and targets after instance_id was patched: CanarySoakSeconds for the
    run's first patched instance (its canary) when set, else SoakSeconds."""
    if canary_soak and ledger.claim_canary(run_id, instance_id):
        return canary_soak
    return soak


def stop_on_gate_error(topic_arn: str, failure: dict) -> str | None:
    """The gate itself failed (an AWS error its retries did not overcome; before an instance, or at the end of a
    soak after one: Step "Soak"): nothing can vouch for the next instance,
    so stop the run as a gate would, before any other group takes its next instance out. Instances already out
    of service in other groups finish. The first claimant alerts (returns the message id); the others do not."""
    run_id, instance, group = failure["RunId"], failure["InstanceId"], failure["GroupName"]
    cause = alerts.cause_text(failure.get("Cause", ""))
    after_soak = failure.get("Step") == "Soak"
    check = f"the check after the soak of {instance}" if after_soak else f"the check before {instance}"
    reason = f"{check} of {group} failed with {failure['Error']}" + (f": {cause}" if cause else "")
    if not ledger.stop(run_id, reason, claimant=instance):
        return None
    message_id = alerts.publish_stop(topic_arn, run_id, failure["ExecutionArn"], reason, "run", group)
    ledger.announced(run_id)
    return message_id


def _stop(reason: str, scope: str, announce: bool, key: str | None = None) -> dict:
    """Announce: this call must send the alert, then call ledger.announced(StopKey)."""
    return {"Proceed": False, "Reason": reason, "Scope": scope, "Announce": announce, "StopKey": key}


def _gone(group: dict, instance_id: str) -> str | None:
    """Why the instance is no longer the group's to patch, or None while it is."""
    member = next((i for i in group["Instances"] if i["InstanceId"] == instance_id), None)
    if member is None:
        return f"{instance_id} left group {group['AutoScalingGroupName']} before its turn"
    if member["LifecycleState"] in groups.LEAVING:
        return f"{instance_id} is {member['LifecycleState']} in group {group['AutoScalingGroupName']}"
    return None


def _not_the_runs(run_id: str, group_name: str) -> str | None:
    """Why the group is no longer this run's to patch, if it is not: its hold in the ledger is gone or another
    run's, or an instance refresh is at work on it (it replaces the instances, and standby gets in its way)."""
    hold = ledger.holder(group_name)
    if hold is None:
        return f"this run no longer holds group {group_name}: its hold was removed from the run ledger"
    if hold["RunId"] != run_id:
        return f"this run no longer holds group {group_name}: {hold['Execution']} (run {hold['RunId']}) holds it now"
    refreshes = groups.active_refreshes(group_name)
    if refreshes:
        return (
            f"group {group_name}: {'; '.join(refreshes)}: the refresh replaces its instances, the run leaves them to it"
        )
    return None


def _in_standby_by_another(run_id: str, group: dict, failed: list[str]) -> str | None:
    """Why the group is left to another tool (AWS-PatchAsgInstance, an SSM Automation) or a person, if one of them
    put an instance of it in Standby. Not this run: it has at most one instance of a group out of service, back
    before the gate runs for the next, but for one it could not return, whose failure the ledger records and
    whose standby's capacity the ledger still owes to the group."""
    for member in group["Instances"]:
        member_id, state = member["InstanceId"], member["LifecycleState"]
        if state in ("EnteringStandby", "Standby") and not (
            member_id in failed or ledger.standby_taken(run_id, member_id)
        ):
            return (
                f"group {group['AutoScalingGroupName']}: {member_id} is {state}, put there by another tool or a person:"
                " the run leaves the group to them"
            )
    return None


def gate_until_settled(context, poll_interval: int, deadline: int | None, gate) -> dict:
    """Call gate(deadline) (gate_next_instance) every poll_interval seconds within this invocation while it says
    Wait, the deadline its first Wait set kept for the calls after it; its last verdict (a Wait one when the
    invocation's time is nearly spent: the state machine asks again with that deadline)."""
    verdicts: list[dict] = []

    def settled() -> bool:
        verdicts.append(gate(verdicts[-1].get("Deadline") if verdicts else deadline))
        return not verdicts[-1].get("Wait")

    polling.poll(settled, context, poll_interval)
    return verdicts[-1]


# Auto Scaling finishes these on its own: an instance launching (a launch lifecycle hook holds it in Pending:Wait,
# by default for up to an hour, then Pending:Proceed) or terminating (the deregistration delay, a termination hook's
# Terminating:Wait). The gate waits for them rather than stop, up to HealthTimeoutSeconds.
# https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks-overview.html
SETTLING = ("Pending", "Pending:Wait", "Pending:Proceed", "Terminating", "Terminating:Wait", "Terminating:Proceed")
# A target Elastic Load Balancing is still registering (Elb.RegistrationInProgress) or still sending its first
# health checks (Elb.InitialHealthChecking)
# https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html
REGISTERING = "initial"


def _instances(group: dict, instance_id: str | None) -> tuple[list[str], list[str]]:
    """What is wrong with the group's other instances, and what is still settling: another instance (or this one,
    a newcomer) launching or terminating, or InService with a target still initial. This instance unhealthy is
    not the gate's concern: patching takes it out and waits for it to come back healthy. None: every instance's
    health is the gate's concern (after a soak)."""
    unhealthy = groups.target_problems(group)
    problems, settling = [], []
    for member in group["Instances"]:
        member_id, state = member["InstanceId"], member["LifecycleState"]
        targets = unhealthy.get(member_id, [])
        registering = bool(targets) and all(t.split(" in ", 1)[0] == REGISTERING for t in targets)
        if state in SETTLING or (state == "InService" and registering):
            settling.append(f"{member_id} is {state if state != 'InService' else ', '.join(targets)}")
        elif member_id == instance_id:
            continue
        elif state != "InService":
            problems.append(f"{member_id} is {state}")
        elif targets:
            problems.append(f"{member_id} is {', '.join(targets)}")
    return problems, settling


def _alarms(names: list[str]) -> list[str]:
    if not names:
        return []
    return [f"alarm {name} is in ALARM" for name in alarms.in_alarm(names)]
