"""cancel_patch_command: cancelling the command a stopped run left waiting.
Against a moto account; conftest.py says how and holds the shared fixtures."""

from tests.handlers.helpers import calls_to, twice, waiting

# api_calls comes before sent_patch in these tests: it records the calls of the clients made after it, and
# sent_patch makes the ssm client.


def status(aws, command_id, instance):
    """The command's status as moto's ListCommands and GetCommandInvocation show it (both, when they differ)."""
    ssm = aws.client("ssm")
    listed = ssm.list_commands(CommandId=command_id)["Commands"][0]["Status"]
    invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)["Status"]
    return listed if listed == invocation else (listed, invocation)


def test_cancel_patch_command_cancels_the_waiting_command_once(
    aws, api_calls, sent_patch, ledger, unimplemented, load_handler, lambda_context
):
    # Given a patch command that ran past CommandTimeoutSeconds (moto has no CancelCommand: the simulator's answers)
    invocation = unimplemented.invocation(sent_patch.command_id, sent_patch.instance)
    invocation.status = invocation.details = "InProgress"
    app = load_handler("cancel_patch_command")
    # When it is cancelled, twice
    first, second = twice(app, {"InstanceId": sent_patch.instance}, lambda_context)
    # Then CancelCommand went to that command on that instance once, it is Cancelled, and the task no longer waits
    assert calls_to(api_calls, "CancelCommand") == [
        {"CommandId": sent_patch.command_id, "InstanceIds": [sent_patch.instance]}
    ]
    assert status(aws, sent_patch.command_id, sent_patch.instance) == "Cancelled"
    assert first == {"CommandId": sent_patch.command_id}
    assert second == {"CommandId": None}
    assert waiting(aws, ledger, sent_patch.instance) is None


def test_cancel_patch_command_leaves_a_command_that_already_ended(
    aws, api_calls, sent_patch, ledger, unimplemented, load_handler, lambda_context
):
    # Given a patch command that succeeded (as moto leaves every command) while its task still waits
    app = load_handler("cancel_patch_command")
    # When it is cancelled
    result = app.lambda_handler({"InstanceId": sent_patch.instance}, lambda_context)
    # Then CancelCommand went to it, but as in AWS a command already ended keeps its status; the task no longer waits
    assert calls_to(api_calls, "CancelCommand") == [
        {"CommandId": sent_patch.command_id, "InstanceIds": [sent_patch.instance]}
    ]
    assert status(aws, sent_patch.command_id, sent_patch.instance) == "Success"
    assert result == {"CommandId": sent_patch.command_id}
    assert waiting(aws, ledger, sent_patch.instance) is None


def test_cancel_patch_command_without_a_command_cancels_nothing(
    aws, fleet, ledger, load_handler, lambda_context, api_calls
):
    # Given an instance no task waits on
    app = load_handler("cancel_patch_command")
    # When its command is to be cancelled
    result = app.lambda_handler({"InstanceId": fleet.instance_ids[0]}, lambda_context)
    # Then nothing is cancelled
    assert result == {"CommandId": None}
    assert calls_to(api_calls, "CancelCommand") == []
