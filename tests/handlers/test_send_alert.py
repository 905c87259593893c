"""send_alert: the alert on-call receives for a failed instance, which also counts it against the run's MaxErrors,
and for a gate that failed, which stops the run.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import json

import pytest

from autopatch import VERSION
from autopatch import ledger as run_ledger
from autopatch.errors import InvalidInput
from tests.handlers.helpers import EXECUTION_ARN, REGION, RUN_ID, calls_to, sent_kinds, sent_messages, twice


def failure_event(instance, **overrides):
    cause = {"errorMessage": f"AWS-RunPatchBaseline Failed on {instance}", "errorType": "PatchCommandFailed"}
    return {
        "InstanceId": instance,
        "GroupName": "web",
        "RunId": RUN_ID,
        "ExecutionArn": EXECUTION_ARN,
        "Step": "Patch",
        "Error": "PatchCommandFailed",
        "Cause": json.dumps(cause),
        "CommandId": "c0ffee00-0000-4000-8000-000000000005",
        "ReturnedToService": True,
        **overrides,
    }


def test_send_alert_publishes_one_alert_with_what_on_call_needs(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, api_calls
):
    # Given a patch failure of an instance of "web"
    instance = fleet.instance_ids[0]
    app = load_handler("send_alert")
    # When the alert is sent
    result = app.lambda_handler(failure_event(instance), lambda_context)
    # Then one message reached the stack's topic, and the handler returned its id
    [(message_id, body, subject)] = sent_messages(alert_topic)
    assert result == {"MessageId": message_id}
    assert calls_to(api_calls, "Publish")[0]["TopicArn"] == alert_topic
    # and it is of kind instance-failed, and its subject names instance, group and run
    assert sent_kinds(alert_topic) == ["instance-failed"]
    assert subject == f"Patching failed: {instance} in web, run {RUN_ID}"
    # and its body has the run, step, error, cause, command id and the execution's console link
    assert f"Run:          {RUN_ID}" in body
    assert "Step:         Patch" in body
    assert "Error:        PatchCommandFailed" in body
    assert f"Cause:        AWS-RunPatchBaseline Failed on {instance}" in body
    assert "Command id:   c0ffee00-0000-4000-8000-000000000005" in body
    assert "Instance:     back in service and healthy" in body
    assert (
        f"https://{REGION}.console.aws.amazon.com/states/home?region={REGION}#/v2/executions/details/{EXECUTION_ARN}"
        in body
    )


@pytest.mark.parametrize("command", [{"CommandId": None}, {}], ids=["null", "absent"])
def test_send_alert_without_a_command_says_none_was_sent(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, command
):
    # Given a failure while taking the instance out of service, before any patch command
    event = failure_event(fleet.instance_ids[0], Step="Take out of service", Error="StandbyTimedOut")
    del event["CommandId"]
    event.update(command, ReturnedToService=None)
    app = load_handler("send_alert")
    # When the alert is sent
    app.lambda_handler(event, lambda_context)
    # Then it says no command was sent and that the instance was not taken out of service
    [(_, body, _)] = sent_messages(alert_topic)
    assert "Command id:   none (no patch command was sent)" in body
    assert "Instance:     was not taken out of service" in body


def test_send_alert_run_twice_sends_the_same_alert_twice(aws, fleet, ledger, alert_topic, load_handler, lambda_context):
    # Given a failure whose instance did not come back healthy
    app = load_handler("send_alert")
    # When the alert is sent twice (a retried invocation)
    first, second = twice(app, failure_event(fleet.instance_ids[0], ReturnedToService=False), lambda_context)
    # Then both succeed; SNS has no deduplication, so on-call gets the same alert twice
    alerts = sent_messages(alert_topic)
    assert [m for m, _, _ in alerts] == [first["MessageId"], second["MessageId"]]
    assert alerts[0][1:] == alerts[1][1:]
    assert "Instance:     NOT back in service and healthy" in alerts[0][1]


def test_send_alert_rejects_a_bad_event_and_publishes_nothing(aws, fleet, alert_topic, load_handler, lambda_context):
    # Given an event whose ReturnedToService is not a boolean
    app = load_handler("send_alert")
    # When the alert is to be sent
    with pytest.raises(InvalidInput, match=r"^ReturnedToService must be a boolean\.$"):
        app.lambda_handler(failure_event(fleet.instance_ids[0], ReturnedToService="yes"), lambda_context)
    # Then nothing was published
    assert sent_messages(alert_topic) == []


def test_send_alert_with_an_empty_cause_still_alerts(aws, fleet, ledger, alert_topic, load_handler, lambda_context):
    # Given a failure whose Cause is empty
    app = load_handler("send_alert")
    # When the alert is sent
    app.lambda_handler(failure_event(fleet.instance_ids[0], Cause=""), lambda_context)
    # Then it is published, with an empty Cause line
    [(_, body, _)] = sent_messages(alert_topic)
    assert "Cause:        \n" in body


# --- every failed instance counts against the run's MaxErrors, on whichever path it failed: the alert counts it,
# so a Scan failure (which takes nothing out of service and tags nothing) counts as an Install failure does ---


def scan_failure(instance):
    return {
        "InstanceId": instance,
        "GroupName": "web",
        "RunId": RUN_ID,
        "ExecutionArn": EXECUTION_ARN,
        "Step": "Patch",
        "Error": "PatchCommandFailed",
        "Cause": json.dumps({"errorMessage": f"AWS-RunPatchBaseline ended Failed on {instance}"}),
        "CommandId": "c0ffee00-0000-4000-8000-000000000005",
        "ReturnedToService": None,  # a scan never took it out
    }


def test_a_failure_alert_counts_the_instance_against_max_errors_once(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, api_calls
):
    # Given two scans that failed, the first alerted twice (a retried invocation)
    app = load_handler("send_alert")
    first, second = fleet.instance_ids[:2]
    for instance in (first, first, second):
        app.lambda_handler(scan_failure(instance), lambda_context)
    # Then the run's ledger counts two failures, which is what the gate and the end of each slice read
    assert ledger_failures() == sorted([first, second])
    # and the count was written before the alert went out: a failed publish still leaves it counted
    operations = [operation for _, operation, _ in api_calls]
    assert operations.index("UpdateItem") < operations.index("Publish")
    # and three alerts were sent, the instance tags untouched
    assert len(sent_messages(alert_topic)) == 3
    assert "CreateTags" not in operations


def test_a_bake_failure_is_not_an_instance_failure(aws, fleet, ledger, alert_topic, load_handler, lambda_context):
    event = {**scan_failure(fleet.instance_ids[0]), "Kind": "bake-failed", "Step": "Bake the image"}
    event["Error"], event["ImageId"] = "ImageFailed", None
    load_handler("send_alert").lambda_handler(event, lambda_context)
    assert ledger_failures() == []


def ledger_failures():
    return run_ledger.failures(RUN_ID)


# --- a gate that fails stops the run with one alert ----------------------------------------------------------


def gate_failure(instance, group="web", step="Check it is safe to go on"):
    cause = {"errorType": "ClientError", "errorMessage": "An error occurred (AccessDenied) when calling DescribeAlarms"}
    return {
        "Kind": "gate-failed",
        "InstanceId": instance,
        "GroupName": group,
        "RunId": RUN_ID,
        "ExecutionArn": EXECUTION_ARN,
        "Step": step,
        "Error": "ClientError",
        "Cause": json.dumps(cause),
    }


def test_a_failed_gate_stops_the_run_with_one_alert(
    aws, fleet, fleet_builder, ledger, alert_topic, load_handler, lambda_context
):
    # Given the gates of two groups failing (and one retried)
    api = fleet_builder.group("api", size=2)
    app = load_handler("send_alert")
    for event in (
        gate_failure(fleet.instance_ids[0]),
        gate_failure(fleet.instance_ids[0]),
        gate_failure(api.instance_ids[0], "api"),
    ):
        app.lambda_handler(event, lambda_context)
    # Then the run is stopped, for the reason of the first, which is the one alert
    reason = run_ledger.stop_reason(RUN_ID)
    assert reason.startswith(f"the check before {fleet.instance_ids[0]} of web failed with ClientError: An error")
    subjects = [subject for _, _, subject in sent_messages(alert_topic)]
    assert subjects == [f"Patching stopped: run {RUN_ID}, at group web"]
    # and no instance was counted as failed: none was touched
    assert run_ledger.failures(RUN_ID) == []


def test_a_failed_check_after_a_soak_stops_the_run_naming_the_soak(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context
):
    # Given the check at the end of the soak after an instance failing
    load_handler("send_alert").lambda_handler(gate_failure(fleet.instance_ids[1], step="Soak"), lambda_context)
    # Then the run is stopped, and the reason says it was the check after that instance's soak
    reason = run_ledger.stop_reason(RUN_ID)
    assert reason.startswith(f"the check after the soak of {fleet.instance_ids[1]} of web failed with ClientError")
    assert [subject for _, _, subject in sent_messages(alert_topic)] == [
        f"Patching stopped: run {RUN_ID}, at group web"
    ]


# --- every alert names the version that sent it ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["instance-failed", "bake-failed", "gate-failed", "instance-gone"])
def test_every_alert_ends_with_the_version_that_sent_it(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, kind
):
    # Given an alert of each kind the run sends
    event = {**failure_event(fleet.instance_ids[0]), "Kind": kind, "ImageId": None, "Capacity": {"Done": "given back"}}
    # When it is sent
    load_handler("send_alert").lambda_handler(event, lambda_context)
    # Then its body ends with the product's name and version, apart from the text above it
    [(_, body, _)] = sent_messages(alert_topic)
    *text, blank, footer = body.splitlines()
    assert footer == f"Sent by asg-rolling-patch {VERSION}"
    assert blank == "" and text and text[-1].strip()
    assert sent_kinds(alert_topic) == [{"gate-failed": "run-stopped"}.get(kind, kind)]
