"""send_patch_command, whose task waits for its token until the command ends.
Against a moto account; conftest.py says how and holds the shared fixtures."""

from unittest import mock

import pytest
from botocore.stub import Stubber

import autopatch.clients
from autopatch import PATCH_DOCUMENT
from autopatch.errors import InvalidInput
from tests.handlers.helpers import (
    RUN_ID,
    SNAPSHOT_ID,
    TOKEN,
    calls_to,
    command_event,
    patch_event,
    raises_twice,
    twice,
    waiting,
)


def test_send_patch_command_sends_run_patch_baseline_and_leaves_its_task_waiting(
    aws, fleet, ledger, load_handler, lambda_context, api_calls
):
    # Given an instance in Standby, ready to patch, and the state machine's task token
    instance = fleet.instance_ids[0]
    app = load_handler("send_patch_command")
    # When the patch command is sent, twice
    first, second = twice(app, patch_event(instance), lambda_context)
    # Then both calls name the same command, and only one command was sent
    assert first == second == {"CommandId": first["CommandId"]}
    assert len(calls_to(api_calls, "SendCommand")) == 1
    commands = aws.client("ssm").list_commands(InstanceId=instance)["Commands"]
    assert [c["CommandId"] for c in commands] == [first["CommandId"]]
    # and it is AWS-RunPatchBaseline with the run's operation, reboot option and snapshot, marked with the run
    command = commands[0]
    assert command["DocumentName"] == PATCH_DOCUMENT == "AWS-RunPatchBaseline"
    assert command["Parameters"] == {
        "Operation": ["Install"],
        "RebootOption": ["NoReboot"],
        "SnapshotId": [SNAPSHOT_ID],
    }
    assert command["Comment"] == f"autopatch Install run {RUN_ID}"
    assert command["TimeoutSeconds"] == 3600
    assert calls_to(api_calls, "SendCommand")[0]["InstanceIds"] == [instance]
    # and the ledger says which task waits for which command on this instance, in its index of waiting tasks
    assert waiting(aws, ledger, instance) == {
        "Id": f"wait#{instance}",
        "InstanceId": instance,
        "RunId": RUN_ID,
        "TaskToken": TOKEN,
        "Operation": "Install",
        "CommandId": first["CommandId"],
        "Waiting": "patch-command",
    }


def test_send_patch_command_retried_with_a_new_token_reuses_the_command(
    aws, fleet, ledger, load_handler, lambda_context, api_calls
):
    # Given the patch command sent by the task's first attempt
    instance = fleet.instance_ids[0]
    app = load_handler("send_patch_command")
    first = app.lambda_handler(patch_event(instance), lambda_context)
    # When Step Functions retries the task, which gives the retry a new task token
    retried = app.lambda_handler(patch_event(instance, token="token-attempt-2"), lambda_context)
    # Then no second command is sent, and the ledger now wakes the new attempt
    assert retried == first
    assert len(calls_to(api_calls, "SendCommand")) == 1
    assert waiting(aws, ledger, instance)["TaskToken"] == "token-attempt-2"
    assert waiting(aws, ledger, instance)["CommandId"] == first["CommandId"]


def test_moto_echoes_the_comment_that_marks_the_run(aws, fleet, ledger, load_handler, lambda_context, api_calls):
    """What moto 5.2.5 does with Comment, which the reuse check depends on.

    moto returns the Comment verbatim, in SendCommand's answer and in ListCommands, and "" for a command sent
    without one. Unlike AWS it accepts a Comment longer than 100 characters and any DocumentName (it has no
    AWS-RunPatchBaseline document: DescribeDocument says it does not exist), so neither limit is tested here.
    """
    # Given a command sent by the handler and one sent by someone else without a comment
    instance = fleet.instance_ids[0]
    app = load_handler("send_patch_command")
    sent = app.lambda_handler(patch_event(instance), lambda_context)
    aws.client("ssm").send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript")
    # When the commands are listed
    listed = aws.client("ssm").list_commands(InstanceId=instance)["Commands"]
    comments = {c["CommandId"]: c["Comment"] for c in listed}
    # Then ours carries the run's comment exactly and the other an empty one
    assert comments.pop(sent["CommandId"]) == f"autopatch Install run {RUN_ID}"
    assert list(comments.values()) == [""]
    # and a repeat still finds ours among them
    assert app.lambda_handler(patch_event(instance), lambda_context)["CommandId"] == sent["CommandId"]
    assert len(calls_to(api_calls, "SendCommand")) == 1


def test_send_patch_command_sends_a_new_command_for_another_run(aws, fleet, ledger, load_handler, lambda_context):
    # Given an instance already patched by an earlier run
    instance = fleet.instance_ids[0]
    app = load_handler("send_patch_command")
    old = app.lambda_handler(patch_event(instance, run_id="run-old"), lambda_context)
    # When this run patches it
    new = app.lambda_handler(patch_event(instance), lambda_context)
    # Then it gets a command of its own, and the ledger waits for that one
    assert new["CommandId"] != old["CommandId"]
    assert len(aws.client("ssm").list_commands(InstanceId=instance)["Commands"]) == 2
    assert waiting(aws, ledger, instance)["CommandId"] == new["CommandId"]


def test_send_patch_command_keeps_a_scan_and_an_install_of_one_run_apart(
    aws, fleet, ledger, load_handler, lambda_context, api_calls
):
    # Given a SkipCompliant run that scanned the instance first
    instance = fleet.instance_ids[0]
    app = load_handler("send_patch_command")
    scan = app.lambda_handler(patch_event(instance, Operation="Scan"), lambda_context)
    # When it installs, twice (a retried task)
    install, again = twice(app, patch_event(instance, token="token-install"), lambda_context)
    # Then the Install is a command of its own, not mistaken for the Scan, and sent once
    assert install == again
    assert install["CommandId"] != scan["CommandId"]
    assert [c["Parameters"]["Operation"] for c in calls_to(api_calls, "SendCommand")] == [["Scan"], ["Install"]]
    assert waiting(aws, ledger, instance)["CommandId"] == install["CommandId"]


def test_send_patch_command_gives_each_instance_of_a_run_its_own_command(
    aws, ledger, load_handler, lambda_context, api_calls
):
    # Given an instance B, for which AWS lists no command of this run (only A's command went out so far)
    app = load_handler("send_patch_command")
    instance_b, command_b = "i-0bbbbbbbbbbbbbbbb", "0b0b0b0b-0000-4000-8000-00000000000b"
    # When B is patched
    with Stubber(autopatch.clients.client("ssm")) as stub:
        stub.add_response("list_commands", {"Commands": []}, {"InstanceId": instance_b})
        stub.add_response("send_command", {"Command": {"CommandId": command_b}})
        result = app.lambda_handler(patch_event(instance_b), lambda_context)
        stub.assert_no_pending_responses()
    # Then B gets its own command
    assert result == {"CommandId": command_b}
    assert calls_to(api_calls, "SendCommand")[0]["InstanceIds"] == [instance_b]


@pytest.mark.xfail(
    reason="moto 5.2.5 bug, not the handler's: SendCommand with InstanceIds and no Targets targets every "
    "instance in the region, so ListCommands(InstanceId=B) returns the command sent to A and the handler "
    "reuses it for B",
    raises=AssertionError,
    strict=True,
)
def test_send_patch_command_gives_each_instance_its_own_command_in_moto(
    aws, fleet, ledger, load_handler, lambda_context
):
    # Given instance A already sent its patch command in this run
    a, b = fleet.instance_ids[:2]
    app = load_handler("send_patch_command")
    sent_a = app.lambda_handler(patch_event(a), lambda_context)
    # When instance B is patched in the same run
    sent_b = app.lambda_handler(patch_event(b), lambda_context)
    # Then B gets a command of its own
    assert sent_b["CommandId"] != sent_a["CommandId"]


def test_send_patch_command_finds_the_run_command_on_a_later_page(aws, ledger, load_handler, lambda_context):
    # Given an instance whose command list is two pages long, this run's command on the second
    instance = "i-0aaaaaaaaaaaaaaaa"
    ours = {"CommandId": "ours", "Comment": f"autopatch Install run {RUN_ID}", "DocumentName": PATCH_DOCUMENT}
    others = [{"CommandId": f"other-{n}", "Comment": "", "DocumentName": "AWS-RunShellScript"} for n in range(50)]

    def list_commands(InstanceId, NextToken=None, **_):
        return {"Commands": [ours]} if NextToken else {"Commands": others, "NextToken": "page-2"}

    ssm = autopatch.clients.client("ssm")
    app = load_handler("send_patch_command")
    # When the patch command is sent again
    with (
        mock.patch.object(ssm, "list_commands", side_effect=list_commands),
        mock.patch.object(ssm, "send_command", return_value={"Command": {"CommandId": "duplicate"}}) as send,
    ):
        result = app.lambda_handler(patch_event(instance), lambda_context)
    # Then the run's command is reused and nothing is sent
    assert send.call_count == 0
    assert result["CommandId"] == "ours"


def test_a_command_that_ends_at_once_still_wakes_its_task(aws, fleet, ledger, load_handler, lambda_context):
    # Given SSM that finishes the command, and EventBridge that delivers its end, before SendCommand returns
    instance = fleet.instance_ids[0]
    ssm = autopatch.clients.client("ssm")
    real_send = ssm.send_command
    ended = []

    def send_and_end_at_once(**params):
        sent = real_send(**params)
        event = command_event(instance, sent["Command"]["CommandId"], "Failed")
        ended.append(load_handler("command_finished").lambda_handler(event, lambda_context))
        return sent

    # When the patch command is sent
    with mock.patch.object(ssm, "send_command", side_effect=send_and_end_at_once):
        load_handler("send_patch_command").lambda_handler(patch_event(instance), lambda_context)
    # Then the end was handed to the waiting task
    assert ended == [{"Handled": True, "Status": "Failed"}]


@pytest.mark.parametrize(
    "overrides",
    [{"Operation": "Patch"}, {"RebootOption": "Sometimes"}, {"TimeoutSeconds": "3600"}, {"SnapshotId": ""}],
)
def test_send_patch_command_rejects_bad_settings_and_sends_nothing(
    aws, fleet, ledger, load_handler, lambda_context, api_calls, overrides
):
    # Given an event with a bad setting
    instance = fleet.instance_ids[0]
    app = load_handler("send_patch_command")
    # When the command is to be sent, twice
    errors = raises_twice(app, patch_event(instance, **overrides), lambda_context, InvalidInput)
    # Then InvalidInput names the setting, and no command went out
    assert next(iter(overrides)) in str(errors[0])
    assert calls_to(api_calls, "SendCommand") == []
    assert aws.client("ssm").list_commands(InstanceId=instance)["Commands"] == []
