"""cancel_patch_command: cancelling the command a stopped run left waiting.
Against a moto account; conftest.py says how and holds the shared fixtures."""

from unittest import mock

import autopatch.clients
from tests.handlers.helpers import twice, waiting


def test_cancel_patch_command_cancels_the_waiting_command_once(aws, sent_patch, ledger, load_handler, lambda_context):
    # Given a patch command that ran past CommandTimeoutSeconds (moto has no CancelCommand: a stand-in answers)
    app = load_handler("cancel_patch_command")
    ssm = autopatch.clients.client("ssm")
    # When it is cancelled, twice
    with mock.patch.object(ssm, "cancel_command", return_value={}) as cancel:
        first, second = twice(app, {"InstanceId": sent_patch.instance}, lambda_context)
    # Then CancelCommand went to that command on that instance once, and the task no longer waits
    cancel.assert_called_once_with(CommandId=sent_patch.command_id, InstanceIds=[sent_patch.instance])
    assert first == {"CommandId": sent_patch.command_id}
    assert second == {"CommandId": None}
    assert waiting(aws, ledger, sent_patch.instance) is None


def test_cancel_patch_command_without_a_command_cancels_nothing(aws, fleet, ledger, load_handler, lambda_context):
    # Given an instance no task waits on
    app = load_handler("cancel_patch_command")
    # When its command is to be cancelled
    with mock.patch.object(autopatch.clients.client("ssm"), "cancel_command") as cancel:
        result = app.lambda_handler({"InstanceId": fleet.instance_ids[0]}, lambda_context)
    # Then nothing is cancelled
    assert result == {"CommandId": None}
    cancel.assert_not_called()
