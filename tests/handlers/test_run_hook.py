"""run_hook: a hook's SSM document, sent to the instance once per run and phase and followed until it ends.
Against a moto account; conftest.py says how and holds the shared fixtures. moto ends every command Success at once
and has no CancelCommand: the fake (`unimplemented.invocation`) sets what its ListCommands and GetCommandInvocation
show, and answers CancelCommand."""

import time

import pytest
from botocore.exceptions import ClientError

import autopatch.clients
from autopatch.errors import HookCommandFailed, HookTimedOut, InstanceGone
from tests.handlers.helpers import RUN_ID, calls_to, copy_of

HOOK = {"Kind": "Document", "Name": "AWS-RunShellScript", "TimeoutSeconds": 120, "Parameters": {"commands": ["./stop"]}}


def hook_event(instance, phase="BeforeStandby", deadline=None, **hook):
    return {
        "Phase": phase,
        "Hook": {**HOOK, **hook},
        "GroupName": "web",
        "InstanceId": instance,
        "RunId": RUN_ID,
        "Deadline": deadline,
        "PollIntervalSeconds": 5,
    }


def running_hook(aws, unimplemented, app, instance, make_lambda_context):
    """The hook sent to the instance, and its command still running there: (run_hook's answer, the command as
    ListCommands shows it, the fake's invocation of it)."""
    sent = app.lambda_handler(hook_event(instance), make_lambda_context(60))
    (command,) = aws.client("ssm").list_commands(InstanceId=instance)["Commands"]
    invocation = unimplemented.invocation(command["CommandId"], instance)
    invocation.status = invocation.details = "InProgress"
    return sent, command, invocation


@pytest.mark.parametrize("phase", ["BeforeStandby", "AfterHealthy"])
def test_run_hook_sends_the_document_once_and_is_done_when_it_succeeds(
    aws, fleet, clock, api_calls, load_handler, make_lambda_context, phase
):
    # Given an instance and its group's document hook
    instance = fleet.instance_ids[0]
    app = load_handler("run_hook")
    # When the hook is run, then run again (a retry, or the state machine calling again)
    first = app.lambda_handler(hook_event(instance, phase), make_lambda_context(60))
    second = app.lambda_handler(hook_event(instance, phase, deadline=first["Deadline"]), make_lambda_context(60))
    # Then the document went to that instance once, with its parameters, its timeout and the run's mark
    assert calls_to(api_calls, "SendCommand") == [
        {
            "InstanceIds": [instance],
            "DocumentName": "AWS-RunShellScript",
            "Parameters": {"commands": ["./stop"]},
            "Comment": f"autopatch {phase} run {RUN_ID}",
            "TimeoutSeconds": 120,
        }
    ]
    # and it is done; its deadline is the hook's TimeoutSeconds from the first call
    assert first == second == {"Done": True, "Deadline": clock.now + 120}


def test_run_hook_sends_each_phase_its_own_command(aws, fleet, clock, api_calls, load_handler, make_lambda_context):
    instance = fleet.instance_ids[0]
    app = load_handler("run_hook")
    for phase in ("BeforeStandby", "AfterHealthy"):
        app.lambda_handler(hook_event(instance, phase), make_lambda_context(60))
    assert [c["Comment"] for c in calls_to(api_calls, "SendCommand")] == [
        f"autopatch BeforeStandby run {RUN_ID}",
        f"autopatch AfterHealthy run {RUN_ID}",
    ]


@pytest.mark.parametrize(
    ("status", "details"), [("Failed", "Failed"), ("TimedOut", "Delivery Timed Out"), ("Cancelled", "Cancelled")]
)
def test_a_document_that_ends_otherwise_fails_the_hook_naming_how(
    aws, fleet, clock, api_calls, unimplemented, load_handler, make_lambda_context, status, details
):
    # Given a hook document that has ended other than Success on the instance
    instance = fleet.instance_ids[0]
    app = load_handler("run_hook")
    command_id = aws.client("ssm").send_command(
        InstanceIds=[instance],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["./stop"]},
        Comment=f"autopatch BeforeStandby run {RUN_ID}",
    )["Command"]["CommandId"]
    invocation = unimplemented.invocation(command_id, instance)
    invocation.status, invocation.details, invocation.response_code = status, details, 1
    # When the hook is run
    with pytest.raises(HookCommandFailed) as failed:
        app.lambda_handler(hook_event(instance), make_lambda_context(60))
    # Then it fails naming the document, its status and the command, and nothing was sent again
    assert f"BeforeStandby document AWS-RunShellScript ended {status} ({details}" in str(failed.value)
    assert command_id in str(failed.value)
    assert calls_to(api_calls, "SendCommand") == []


def test_a_running_document_is_followed_then_handed_back_then_cancelled_past_its_timeout(
    aws, fleet, clock, api_calls, unimplemented, load_handler, make_lambda_context
):
    # Given a hook document that keeps running on the instance, with a 120 s TimeoutSeconds
    instance = fleet.instance_ids[0]
    app = load_handler("run_hook")
    sent, command, _ = running_hook(aws, unimplemented, app, instance, make_lambda_context)
    # When it is followed in invocations of a minute
    followed = app.lambda_handler(hook_event(instance, deadline=sent["Deadline"]), make_lambda_context(60))
    # Then each hands back before its time is spent, not done, with the same deadline
    assert followed == {"Done": False, "Deadline": sent["Deadline"]}
    assert calls_to(api_calls, "CancelCommand") == []
    # and once its TimeoutSeconds has passed, the command is cancelled and the hook times out
    with pytest.raises(HookTimedOut, match=r"did not end on .* within TimeoutSeconds=120; command .* was cancelled"):
        while True:
            app.lambda_handler(hook_event(instance, deadline=sent["Deadline"]), make_lambda_context(60))
    assert calls_to(api_calls, "CancelCommand") == [{"CommandId": command["CommandId"], "InstanceIds": [instance]}]
    assert time.time() >= sent["Deadline"]


def test_a_document_that_ends_while_followed_is_done(
    aws, fleet, clock, api_calls, unimplemented, load_handler, make_lambda_context
):
    # Given a hook document still running, that succeeds 20 seconds later
    instance = fleet.instance_ids[0]
    app = load_handler("run_hook")
    _, _, invocation = running_hook(aws, unimplemented, app, instance, make_lambda_context)

    def succeed():
        invocation.status = invocation.details = "Success"

    clock.at(20, succeed)
    # When it is followed
    found = app.lambda_handler(hook_event(instance, deadline=clock.now + 120), make_lambda_context(60))
    # Then the one invocation waited for its end
    assert found["Done"] is True
    assert sum(clock.slept) == 20


def test_a_document_systems_manager_refuses_fails_the_hook(
    aws, fleet, clock, api_calls, load_handler, make_lambda_context, monkeypatch
):
    # Given a document Systems Manager does not know

    instance = fleet.instance_ids[0]
    app = load_handler("run_hook")
    ssm = autopatch.clients.client("ssm")

    def refuse(**_):
        raise ClientError(
            {"Error": {"Code": "InvalidDocument", "Message": "Document MyApp-Stop does not exist"}}, "SendCommand"
        )

    monkeypatch.setattr(ssm, "send_command", refuse)
    # When the hook is run
    with pytest.raises(
        HookCommandFailed, match=r"refused document MyApp-Stop for .*: InvalidDocument Document MyApp-Stop"
    ):
        app.lambda_handler(copy_of(hook_event(instance, Name="MyApp-Stop")), make_lambda_context(60))


def test_an_instance_that_leaves_its_group_during_its_hook_is_gone_at_once(
    aws, fleet, clock, api_calls, unimplemented, load_handler, make_lambda_context
):
    # Given a hook document running on an instance that a person then terminates out of its group
    instance = fleet.instance_ids[0]
    app = load_handler("run_hook")
    sent, _, _ = running_hook(aws, unimplemented, app, instance, make_lambda_context)
    aws.client("autoscaling").terminate_instance_in_auto_scaling_group(
        InstanceId=instance, ShouldDecrementDesiredCapacity=False
    )
    # When the hook is followed, long before its deadline
    with pytest.raises(InstanceGone):
        app.lambda_handler(hook_event(instance, deadline=sent["Deadline"]), make_lambda_context(60))
    # Then it is gone at once: no wait for a command whose agent went with the instance
    assert clock.slept == []
