"""clean_up_run, from EventBridge's Step Functions Execution Status Change: an event delivered twice cleans up
once and alerts once (EventBridge delivers at least once), and an execution that ended before it found its
groups, or with nothing left, gets no alert. Against a moto account; conftest.py says how and holds the shared
fixtures."""

import json

import pytest
import time_machine

import autopatch.polling
from autopatch import PATCH_TAG_KEY, RUN_TAG_KEY, cleanup
from autopatch import ledger as run_ledger
from autopatch.errors import CleanUpUnfinished
from tests.support import ACCOUNT, REGION

NOW = 1_795_000_000
EXECUTION_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:autopatch-rolling-patch:run-stopped"
SETTINGS = {"HealthTimeoutSeconds": 120, "DryRun": False}


@pytest.fixture
def virtual_sleep(monkeypatch):
    with time_machine.travel(NOW, tick=False) as traveller:
        monkeypatch.setattr(autopatch.polling, "sleep", lambda seconds: traveller.shift(seconds))
        yield


def event(status="ABORTED"):
    detail = {"executionArn": EXECUTION_ARN, "status": status, "stopDate": (NOW - 3600) * 1000}
    return {"source": "aws.states", "detail-type": "Step Functions Execution Status Change", "detail": detail}


def left_in_standby_by_a_stopped_run(aws, fleet, monkeypatch) -> str:
    """The first instance of "web" in Standby, tagged InProgress by run-stopped, which still holds the group."""
    left = fleet.instance_ids[0]
    aws.client("ec2").create_tags(
        Resources=[left],
        Tags=[{"Key": PATCH_TAG_KEY, "Value": "InProgress"}, {"Key": RUN_TAG_KEY, "Value": "run-stopped"}],
    )
    aws.client("autoscaling").enter_standby(
        AutoScalingGroupName="web", InstanceIds=[left], ShouldDecrementDesiredCapacity=True
    )
    monkeypatch.setattr(run_ledger, "_is_running", lambda arn: False)
    run_ledger.acquire_locks(["web"], EXECUTION_ARN, "run-stopped")
    return left


def test_an_event_delivered_twice_cleans_up_once_and_alerts_once(
    aws, fleet, ledger, alert_topic, load_handler, make_lambda_context, api_calls, monkeypatch, virtual_sleep
):
    # Given a stopped run that left an instance in Standby, tagged InProgress, and its hold on the group
    left = left_in_standby_by_a_stopped_run(aws, fleet, monkeypatch)
    run = {"RunId": "run-stopped", "GroupNames": ["web"], "Settings": SETTINGS}
    monkeypatch.setattr(cleanup, "the_run", lambda arn: run)
    app = load_handler("clean_up_run")

    # When the status-change event is delivered twice
    first = app.lambda_handler(event(), make_lambda_context(timeout_seconds=900))
    second = app.lambda_handler(event(), make_lambda_context(timeout_seconds=900))

    # Then the instance was returned once, tagged Failed (no patch command was sent), the hold released
    assert [c[2] for c in api_calls if c[1] == "ExitStandby"] == [
        {"AutoScalingGroupName": "web", "InstanceIds": [left]}
    ]
    tags = aws.client("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": [left]}])["Tags"]
    assert {"Key": PATCH_TAG_KEY, "ResourceId": left, "ResourceType": "instance", "Value": "Failed"} in tags
    assert first["CleanedUp"] is True and first["Released"] == ["web"]
    assert second["CleanedUp"] is False
    lock = aws.client("dynamodb").get_item(TableName=ledger, Key={"Id": {"S": "lock#web"}}).get("Item")
    assert lock is None
    # and one alert went out
    assert [c[2]["Subject"] for c in api_calls if c[1] == "Publish"] == [
        "Patch run run-stopped cleaned up after it ended ABORTED: web"
    ]


def test_an_execution_that_ended_before_it_found_its_groups_changes_nothing(
    aws, ledger, alert_topic, load_handler, make_lambda_context, api_calls, monkeypatch, virtual_sleep
):
    monkeypatch.setattr(cleanup, "the_run", lambda arn: None)

    done = load_handler("clean_up_run").lambda_handler(event("FAILED"), make_lambda_context(timeout_seconds=900))

    assert done["CleanedUp"] is False
    assert [c for c in api_calls if not c[1].startswith(("Describe", "List", "Get"))] == []


def test_a_status_that_needs_no_clean_up_is_ignored(aws, ledger, load_handler, make_lambda_context, api_calls):
    done = load_handler("clean_up_run").lambda_handler(event("SUCCEEDED"), make_lambda_context())

    assert done["CleanedUp"] is False and api_calls == []


def test_the_run_is_read_from_the_first_states_output(monkeypatch):
    output = {"RunId": "run-1", "GroupNames": ["web"], "Settings": {"DryRun": False}, "Part": 2}
    history = {
        "events": [
            {"type": "ExecutionStarted"},
            {
                "type": "TaskStateExited",
                "stateExitedEventDetails": {"name": "Validate input and find groups", "output": json.dumps(output)},
            },
        ]
    }

    class Sfn:
        def get_execution_history(self, **kwargs):
            assert kwargs["executionArn"] == EXECUTION_ARN
            return history

    monkeypatch.setattr(cleanup, "client", lambda service: Sfn())

    assert cleanup.the_run(EXECUTION_ARN) == {"RunId": "run-1", "GroupNames": ["web"], "Settings": {"DryRun": False}}
    history["events"].pop()
    assert cleanup.the_run(EXECUTION_ARN) is None


def test_a_command_that_does_not_end_is_retried_then_reported_not_done_and_the_instance_stays_out(
    aws, fleet, ledger, alert_topic, load_handler, make_lambda_context, api_calls, monkeypatch, virtual_sleep
):
    # Given a stopped run whose instance is in Standby with a patch command that stays Cancelling (agent gone)
    left = left_in_standby_by_a_stopped_run(aws, fleet, monkeypatch)
    monkeypatch.setattr(
        cleanup, "the_run", lambda arn: {"RunId": "run-stopped", "GroupNames": ["web"], "Settings": SETTINGS}
    )
    command = {"CommandId": "c-stuck", "Operation": "Install", "Status": "InProgress"}
    monkeypatch.setattr(cleanup.patching, "run_command", lambda instance, run: command)
    monkeypatch.setattr(cleanup.patching, "command_status", lambda command_id: "Cancelling")
    cancelled = []
    monkeypatch.setattr(cleanup.patching, "cancel", lambda command_id, instance: cancelled.append(command_id))
    app = load_handler("clean_up_run")

    # When Lambda runs the clean-up three times (the first invocation and its two retries)
    for _ in range(2):
        with pytest.raises(CleanUpUnfinished, match="patch command c-stuck has not ended"):
            app.lambda_handler(event(), make_lambda_context(timeout_seconds=900))
        # the hold stays, marked for the clean-up, so no other run returns the instance meanwhile
        assert aws.client("dynamodb").get_item(TableName=ledger, Key={"Id": {"S": "lock#web"}})["Item"]
    last = app.lambda_handler(event(), make_lambda_context(timeout_seconds=900))

    # Then the instance was never returned to service, the last attempt says so once, and releases the hold
    assert cancelled == ["c-stuck"] * 3
    assert [c for c in api_calls if c[1] == "ExitStandby"] == []
    state = aws.client("autoscaling").describe_auto_scaling_instances(InstanceIds=[left])["AutoScalingInstances"]
    assert state[0]["LifecycleState"] == "Standby"
    assert last["Unfinished"][0]["Unfinished"] == f"{left}: patch command c-stuck has not ended"
    (publish,) = [c[2] for c in api_calls if c[1] == "Publish"]
    assert f"NOT DONE: {left}: patch command c-stuck has not ended after 3 attempts" in publish["Message"]
    assert aws.client("dynamodb").get_item(TableName=ledger, Key={"Id": {"S": "lock#web"}}).get("Item") is None
