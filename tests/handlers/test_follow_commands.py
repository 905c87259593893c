"""follow_commands, every minute from its EventBridge schedule: the end of a waited-for patch command reaches its
task whether or not the command's status-change event comes. Against a moto account (conftest.py)."""

import json
from unittest import mock

import pytest
from botocore.stub import Stubber
from moto.ssm.models import ssm_backends

import autopatch.clients
import autopatch.ledger
from autopatch import patching
from autopatch.errors import AwsThrottled
from tests.handlers.helpers import ACCOUNT, REGION, RUN_ID, TOKEN, calls_to, command_event, patch_event, waiting

SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": ACCOUNT,
    "time": "2026-11-25T12:01:00Z",
    "region": REGION,
    "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/autopatch-FollowCommandsFunctionEveryMinute"],
    "detail": {},
}


def set_status(command_id, status):
    """What ListCommands says of the command (moto's own commands end Success at once)."""
    for command in ssm_backends[ACCOUNT][REGION]._commands:
        if command.command_id == command_id:
            command.status = status


def follow(load_handler, context):
    return load_handler("follow_commands").lambda_handler(json.loads(json.dumps(SCHEDULED_EVENT)), context)


@pytest.mark.parametrize("status", ["Success", "Failed", "TimedOut", "Cancelled"])
def test_follow_commands_hands_over_the_end_of_a_command_whose_event_never_came(
    aws, sent_patch, ledger, load_handler, lambda_context, api_calls, status
):
    # Given a task waiting for a patch command that has ended, its status-change event lost
    set_status(sent_patch.command_id, status)
    # When the follower runs, and again a minute later
    first, second = follow(load_handler, lambda_context), follow(load_handler, lambda_context)
    # Then the task gets the command and its status once, and no longer waits
    assert first == {
        "HandedOver": [{"InstanceId": sent_patch.instance, "CommandId": sent_patch.command_id, "Status": status}]
    }
    assert second == {"HandedOver": []}
    assert calls_to(api_calls, "SendTaskSuccess") == [
        {"taskToken": TOKEN, "output": json.dumps({"CommandId": sent_patch.command_id, "Status": status})}
    ]
    assert waiting(aws, ledger, sent_patch.instance) is None


@pytest.mark.parametrize("status", ["Pending", "InProgress", "Cancelling"])
def test_follow_commands_leaves_a_command_that_has_not_ended(
    aws, sent_patch, ledger, load_handler, lambda_context, api_calls, status
):
    # Given a task waiting for a patch command still on its way
    set_status(sent_patch.command_id, status)
    # When the follower runs
    result = follow(load_handler, lambda_context)
    # Then the task keeps waiting
    assert result == {"HandedOver": []}
    assert calls_to(api_calls, "SendTaskSuccess") == []
    assert waiting(aws, ledger, sent_patch.instance)["TaskToken"] == TOKEN


def test_follow_commands_reads_only_the_index_of_waiting_tasks_when_none_waits(
    aws, ledger, load_handler, lambda_context, api_calls
):
    # Given a ledger where no task waits (other items, such as holds, are there)
    autopatch.ledger.stop("run-x", "stopped", "someone")
    before = len(api_calls)
    # When the follower runs
    result = follow(load_handler, lambda_context)
    # Then it queried the ledger's index of waiting tasks, and nothing else
    assert result == {"HandedOver": []}
    assert [(service, name) for service, name, _ in api_calls[before:]] == [("dynamodb", "Query")]
    assert calls_to(api_calls, "Query")[0]["IndexName"] == "Waiting"


def test_an_event_after_the_follower_changes_nothing(aws, sent_patch, ledger, load_handler, lambda_context, api_calls):
    # Given a command whose end the follower handed over
    follow(load_handler, lambda_context)
    # When its status-change event comes late
    late = load_handler("command_finished").lambda_handler(
        command_event(sent_patch.instance, sent_patch.command_id, "Success"), lambda_context
    )
    # Then it is ignored: the task got the end once
    assert late == {"Handled": False, "Reason": "no run waits for this command"}
    assert len(calls_to(api_calls, "SendTaskSuccess")) == 1


def test_the_follower_after_the_event_changes_nothing(aws, sent_patch, ledger, load_handler, lambda_context, api_calls):
    # Given a command whose end its status-change event handed over
    load_handler("command_finished").lambda_handler(
        command_event(sent_patch.instance, sent_patch.command_id, "Success"), lambda_context
    )
    # When the follower runs
    result = follow(load_handler, lambda_context)
    # Then there is nothing left to hand over
    assert result == {"HandedOver": []}
    assert len(calls_to(api_calls, "SendTaskSuccess")) == 1


def test_the_event_and_the_follower_at_the_same_moment_hand_over_once(
    aws, sent_patch, ledger, load_handler, lambda_context, api_calls
):
    # Given the command's status-change event, delivered while the follower is handing the same end over
    sfn = autopatch.clients.client("stepfunctions")
    real_send, by_event, calls = sfn.send_task_success, [], []

    def event_arrives_meanwhile(**params):
        calls.append(params)
        if len(calls) == 1:  # the follower's call: the event's handler runs meanwhile, from start to end
            event = command_event(sent_patch.instance, sent_patch.command_id, "Success")
            by_event.append(load_handler("command_finished").lambda_handler(event, lambda_context))
        return real_send(**params)

    # When both run
    with mock.patch.object(sfn, "send_task_success", side_effect=event_arrives_meanwhile):
        by_follower = follow(load_handler, lambda_context)
    # Then exactly one of them handed the end over (and so counts PatchDuration), and the task no longer waits
    assert by_event == [{"Handled": True, "Status": "Success"}]
    assert by_follower == {"HandedOver": []}
    assert waiting(aws, ledger, sent_patch.instance) is None


def test_follow_commands_finds_a_command_whose_id_was_never_noted(
    aws, fleet, ledger, load_handler, lambda_context, api_calls
):
    # Given send_patch_command stopped after SendCommand, before noting the command's id, and the command ended
    instance = fleet.instance_ids[0]
    with mock.patch.object(patching.ledger, "attach_command"):
        sent = load_handler("send_patch_command").lambda_handler(patch_event(instance), lambda_context)
    assert "CommandId" not in waiting(aws, ledger, instance)
    # When the follower runs
    result = follow(load_handler, lambda_context)
    # Then it found the run's command by its comment and handed its end over
    assert result == {"HandedOver": [{"InstanceId": instance, "CommandId": sent["CommandId"], "Status": "Success"}]}
    assert waiting(aws, ledger, instance) is None


def test_the_end_of_a_scan_is_not_handed_to_the_install_that_waits_next(
    aws, fleet, ledger, load_handler, lambda_context, api_calls
):
    # Given a run's Scan of an instance, handed over, and its Install waiting, not yet sent
    instance = fleet.instance_ids[0]
    scan = load_handler("send_patch_command").lambda_handler(patch_event(instance, Operation="Scan"), lambda_context)
    follow(load_handler, lambda_context)
    patching.ledger.remember_task_token(instance, RUN_ID, "token-install", "Install")
    # When the follower runs, and the Scan's status-change event comes late
    result = follow(load_handler, lambda_context)
    late = load_handler("command_finished").lambda_handler(
        command_event(instance, scan["CommandId"], "Success"), lambda_context
    )
    # Then the Install's task keeps waiting for its own command
    assert result == {"HandedOver": []}
    assert late == {"Handled": False, "Reason": "no run waits for this command"}
    assert [c["taskToken"] for c in calls_to(api_calls, "SendTaskSuccess")] == [TOKEN]
    assert waiting(aws, ledger, instance)["TaskToken"] == "token-install"


def test_an_error_on_one_task_holds_up_no_other(aws, fleet, ledger, load_handler, lambda_context, api_calls):
    # Given two instances whose commands ended, and Step Functions throttling the first SendTaskSuccess
    send = load_handler("send_patch_command")
    for instance in fleet.instance_ids[:2]:
        send.lambda_handler(patch_event(instance, token=f"token-{instance}"), lambda_context)
    with Stubber(autopatch.clients.client("stepfunctions")) as stub:
        stub.add_client_error("send_task_success", service_error_code="ThrottlingException", http_status_code=400)
        stub.add_response("send_task_success", {})
        # When the follower runs
        with pytest.raises(AwsThrottled):
            follow(load_handler, lambda_context)
    # Then the other instance's task got its end, the throttled one still waits, and the next minute hands it over
    still = [i for i in fleet.instance_ids[:2] if waiting(aws, ledger, i)]
    assert len(still) == 1
    assert follow(load_handler, lambda_context)["HandedOver"][0]["InstanceId"] == still[0]
    assert not any(waiting(aws, ledger, i) for i in fleet.instance_ids[:2])
