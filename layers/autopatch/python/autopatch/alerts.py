"""Failure notifications, written for the person on call."""

import contextlib
import json

from . import FOOTER, ledger
from .clients import client

# SNS: a Subject is UTF-8 text "with no line breaks or control characters, and less than 100 characters long"
SUBJECT_LIMIT = 99
SHORTEST_PART = 12  # a name cut to fit the subject keeps at least this many characters (the last one "…")


def subject_line(template: str, **parts: str) -> str:
    """template.format(**parts) within SNS's Subject limit: every alert's subject names its run and its group, so
    the longest names are cut (ending "…") rather than the end of the line. Control characters become spaces."""
    parts = {key: _printable(value) for key, value in parts.items()}
    text = template.format(**parts)
    while len(text) > SUBJECT_LIMIT:
        key = max(parts, key=lambda k: len(parts[k]))
        if len(parts[key]) <= SHORTEST_PART:
            return text[:SUBJECT_LIMIT]
        keep = max(SHORTEST_PART, len(parts[key]) - (len(text) - SUBJECT_LIMIT)) - 1
        parts[key] = parts[key][:keep] + "…"
        text = template.format(**parts)
    return text


def _printable(text: str) -> str:
    return "".join(" " if ord(c) < 32 or 0x7F <= ord(c) <= 0x9F else c for c in str(text))


def execution_console_url(execution_arn: str) -> str:
    region = execution_arn.split(":")[3]
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"


def failure_message(failure: dict) -> tuple[str, str]:
    """Subject and body of the alert for one failed instance."""
    instance, group = failure["InstanceId"], failure["GroupName"]
    returned = failure.get("ReturnedToService")
    subject = subject_line(
        "Patching failed: {instance} in {group}, run {run}", instance=instance, group=group, run=failure["RunId"]
    )
    lines = [
        f"Patching instance {instance} of Auto Scaling group {group} failed.",
        "",
        f"Run:          {failure['RunId']}",
        f"Step:         {failure['Step']}",
        f"Error:        {failure['Error']}",
        f"Cause:        {cause_text(failure.get('Cause', ''))}",
        f"Command id:   {failure.get('CommandId') or 'none (no patch command was sent)'}",
        f"Instance:     {_returned_text(returned)}",
        f"Execution:    {execution_console_url(failure['ExecutionArn'])}",
        "",
        "The instance is tagged AutoPatchInstanceInASG=Failed. Once a run has more failures than its "
        "MaxErrors, it touches no further instance and ends FAILED.",
    ]
    return subject, "\n".join(lines)


def publish(topic_arn: str, subject: str, body: str, kind: str) -> str:
    """Publish an alert, the footer naming the version after its body; its kind (a message attribute) lets
    subscribers such as Slack format it."""
    sent = client("sns").publish(
        TopicArn=topic_arn,
        Subject=subject_line("{subject}", subject=subject),
        Message=f"{body}\n\n{FOOTER}",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": kind}},
    )
    return sent["MessageId"]


def publish_failure(topic_arn: str, failure: dict) -> str:
    subject, message = failure_message(failure)
    return publish(topic_arn, subject, message, "instance-failed")


def publish_counted_failure(topic_arn: str, failure: dict) -> str:
    """The alert for an instance of the run that failed, counted against the run's MaxErrors first: on whichever
    path it failed (a Scan tags nothing, so only here is its failure counted), and before the alert goes out, so
    that a failed publish still leaves it counted. Counting twice counts once."""
    ledger.record_failure(failure["RunId"], failure["InstanceId"])
    return publish_failure(topic_arn, failure)


BEFORE_STANDBY_STEP = "Before standby hook"  # the step the state machine names (statemachine/build.py, hook)


def gone_message(gone: dict) -> tuple[str, str]:
    """Subject and body of the alert for an instance that went (a Spot interruption, a replacement, a person) while
    the run had it out of service: not a failure, yet its group was one short; what was done about that."""
    instance, group = gone["InstanceId"], gone["GroupName"]
    # it went during its BeforeStandby hook: still in service, the group was not one short because of the run
    before = gone["Step"] == BEFORE_STANDBY_STEP
    capacity = gone.get("Capacity") or {}
    done = capacity.get("Done") or (
        f"NOT given back ({capacity.get('Error', 'unknown error')}: {cause_text(capacity.get('Cause', ''))}): check "
        f"the desired capacity of {group}"
    )
    lines = [
        f"Instance {instance} of Auto Scaling group {group} went while the patch run "
        + ("ran its BeforeStandby hook, before taking it out of service." if before else "had it out of service."),
        "",
        f"Run:          {gone['RunId']}",
        f"Step:         {gone['Step']} (noticed as {gone['Error']})",
        f"Why:          {cause_text(gone.get('Cause', ''))}",
        f"Capacity:     {done}",
        f"Command id:   {gone.get('CommandId') or 'none (no patch command was sent)'}",
        f"Execution:    {execution_console_url(gone['ExecutionArn'])}",
        "",
        "Its result is Gone: it does not count against MaxErrors and the run goes on with the next instance. If it "
        "went after its patch (step Return to service), check that the patch did not make it fail its health checks.",
    ]
    subject = subject_line(
        "Instance gone " + ("before leaving service" if before else "while out of service") + ": {instance} in"
        " {group}, run {run}",
        instance=instance,
        group=group,
        run=gone["RunId"],
    )
    return subject, "\n".join(lines)


def publish_gone(topic_arn: str, gone: dict) -> str:
    subject, message = gone_message(gone)
    return publish(topic_arn, subject, message, "instance-gone")


def bake_failure_message(failure: dict) -> tuple[str, str]:
    """Subject and body of the alert for a group whose patching succeeded and whose image bake did not."""
    group = failure["GroupName"]
    lines = [
        f"Patching Auto Scaling group {group} succeeded; baking its patched image did not.",
        "",
        f"Run:          {failure['RunId']}",
        f"Step:         {failure['Step']}",
        f"Error:        {failure['Error']}",
        f"Cause:        {cause_text(failure.get('Cause', ''))}",
        f"Image:        {failure.get('ImageId') or 'none created'}",
        f"Instance:     {failure['InstanceId']} (imaged in Standby; it is returned to service now)",
        f"Execution:    {execution_console_url(failure['ExecutionArn'])}",
        "",
        "The launch template is as it was: new instances still launch from the old image. The next run with "
        "BakeAmi bakes again.",
    ]
    subject = subject_line("Image bake failed: {group}, run {run}", group=group, run=failure["RunId"])
    return subject, "\n".join(lines)


def publish_bake_failure(topic_arn: str, failure: dict) -> str:
    subject, message = bake_failure_message(failure)
    return publish(topic_arn, subject, message, "bake-failed")


def _returned_text(returned) -> str:
    if isinstance(returned, str):
        return returned
    if returned is True:
        return "back in service and healthy"
    if returned is False:
        return "NOT back in service and healthy: check it (Standby? failing health checks?) before the next run"
    return "was not taken out of service"


CAUSE_CHARS = 1_000  # of a cause, in an alert: room for a hook's own message and the output it quotes


def cause_text(cause: str) -> str:
    """Lambda errors arrive as a JSON document, alone or after what the state machine says of them (a hook's
    failure: "The BeforeStandby hook, ..., failed on i-...: <error>: <document>"); show its message, shortened."""
    with contextlib.suppress(ValueError, AttributeError):
        cause = json.loads(cause).get("errorMessage", cause)
    cause = str(cause)
    start = cause.find("{")
    while start > 0:
        with contextlib.suppress(ValueError):
            document, _ = json.JSONDecoder().raw_decode(cause[start:])
            if isinstance(document, dict) and "errorMessage" in document:
                cause = cause[:start] + str(document["errorMessage"])
                break
        start = cause.find("{", start + 1)
    return cause if len(cause) <= CAUSE_CHARS else cause[: CAUSE_CHARS - 3] + "..."


def publish_stop(topic_arn: str, run_id: str, execution_arn: str, reason: str, scope: str, group_name: str) -> str:
    """Alert that the run (scope "run") or one group of it (scope "group") stopped before its next instance;
    group_name is the group whose next instance was not taken out."""
    if scope == "group":
        subject = subject_line("Patching paused: group {group}, run {run}", group=group_name, run=run_id)
        what = "This group's remaining instances are left as they are; the other groups go on."
    else:
        subject = subject_line("Patching stopped: run {run}, at group {group}", group=group_name, run=run_id)
        what = "No further instance is taken out of service; the run ends FAILED with error RunStopped."
    body = "\n".join(
        [
            f"The patch run {run_id} stopped before its next instance.",
            "",
            f"Group:      {group_name}",
            f"Why:        {reason}",
            f"What next:  {what}",
            "            Every instance it already patched is back in service. Fix the cause, then start a new run:",
            "            instances tagged AutoPatchInstanceInASG=Completed by this run can be left out.",
            f"Execution:  {execution_console_url(execution_arn)}",
        ]
    )
    return publish(topic_arn, subject, body, "group-paused" if scope == "group" else "run-stopped")


def _summary_body(summary: dict, execution_arn: str, *more: str) -> str:
    counts = ", ".join(f"{count} {result}" for result, count in summary["Counts"].items() if count)
    return "\n".join(
        [
            summary["Message"],
            "",
            f"Run:        {summary['RunId']}",
            f"Instances:  {counts or 'none'}",
            *more,
            f"Report:     {summary.get('ReportLocation', '-')}",
            f"Execution:  {execution_console_url(execution_arn)}",
        ]
    )


def publish_summary(topic_arn: str, summary: dict, execution_arn: str) -> str:
    """The optional "run finished" notification (stack parameter NotifyRunFinished)."""
    subject = subject_line("Patch run {run} finished: {status}", run=summary["RunId"], status=summary["Status"])
    return publish(topic_arn, subject, _summary_body(summary, execution_arn), "run-finished")


def publish_window_ended(topic_arn: str, summary: dict, execution_arn: str) -> str:
    """The notice of a run its window ended: not a failure; how many instances are left for the next run."""
    left = summary["Counts"]["NotStarted"]
    subject = subject_line("Patch window ended: run {run}, {left} left", run=summary["RunId"], left=f"{left}")
    what = (
        f"What next:  {left} instance(s) were not started, to keep patching within the window. The next run patches "
        "them (with SkipPatchedWithinHours, only them)."
    )
    return publish(topic_arn, subject, _summary_body(summary, execution_arn, what), "window-ended")
