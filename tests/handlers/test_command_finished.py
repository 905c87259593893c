"""command_finished, from EventBridge's EC2 Command Invocation Status-change Notification.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import json
import uuid

import pytest
from botocore.stub import Stubber

import autopatch.clients
from autopatch.errors import AwsThrottled, InvalidInput
from tests.handlers.helpers import TOKEN, calls_to, command_event, twice, waiting


@pytest.mark.parametrize("status", ["Success", "Failed", "TimedOut", "Cancelled"])
def test_command_finished_hands_the_end_of_the_command_to_its_waiting_task(
    aws, sent_patch, ledger, load_handler, lambda_context, api_calls, status
):
    # Given a task waiting for the patch command of an instance
    app = load_handler("command_finished")
    event = command_event(sent_patch.instance, sent_patch.command_id, status)
    # When SSM reports the command's end, and EventBridge delivers that event twice
    first, second = twice(app, event, lambda_context)
    # Then the task gets the command and its status once, and no longer waits
    assert first == {"Handled": True, "Status": status}
    assert second == {"Handled": False, "Reason": "no run waits for this command"}
    assert calls_to(api_calls, "SendTaskSuccess") == [
        {"taskToken": TOKEN, "output": json.dumps({"CommandId": sent_patch.command_id, "Status": status})}
    ]
    assert waiting(aws, ledger, sent_patch.instance) is None


@pytest.mark.parametrize("status", ["Pending", "InProgress", "Delayed"])
def test_command_finished_ignores_a_status_that_does_not_end_the_command(
    aws, sent_patch, ledger, load_handler, lambda_context, api_calls, status
):
    # Given a task waiting for the patch command of an instance
    app = load_handler("command_finished")
    # When SSM reports a status on the way
    result = app.lambda_handler(command_event(sent_patch.instance, sent_patch.command_id, status), lambda_context)
    # Then the task keeps waiting
    assert result == {"Handled": False, "Reason": f"status {status} does not end the command"}
    assert calls_to(api_calls, "SendTaskSuccess") == []
    assert waiting(aws, ledger, sent_patch.instance)["TaskToken"] == TOKEN


def test_command_finished_ignores_another_command_on_the_instance(
    aws, sent_patch, ledger, load_handler, lambda_context, api_calls
):
    # Given a task waiting for this run's command, and an old run's command that ends now
    app = load_handler("command_finished")
    # When that other command's end arrives
    result = app.lambda_handler(command_event(sent_patch.instance, str(uuid.uuid4()), "Success"), lambda_context)
    # Then this run's task keeps waiting for its own
    assert result == {"Handled": False, "Reason": "no run waits for this command"}
    assert calls_to(api_calls, "SendTaskSuccess") == []
    assert waiting(aws, ledger, sent_patch.instance)["CommandId"] == sent_patch.command_id


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_command_finished_forgets_a_task_that_already_ended(
    aws, sent_patch, ledger, load_handler, lambda_context, code
):
    # Given a waiting task that Step Functions no longer has (it timed out and the run moved on)
    app = load_handler("command_finished")
    # When the command's end arrives
    with Stubber(autopatch.clients.client("stepfunctions")) as stub:
        stub.add_client_error("send_task_success", service_error_code=code, http_status_code=400)
        result = app.lambda_handler(
            command_event(sent_patch.instance, sent_patch.command_id, "Success"), lambda_context
        )
    # Then it is handled, and the ledger forgets the task
    assert result == {"Handled": True, "Status": "Success"}
    assert waiting(aws, ledger, sent_patch.instance) is None


def test_command_finished_keeps_the_task_when_step_functions_throttles(
    aws, sent_patch, ledger, load_handler, lambda_context
):
    # Given a waiting task, and Step Functions throttling SendTaskSuccess
    app = load_handler("command_finished")
    event = command_event(sent_patch.instance, sent_patch.command_id, "Success")
    # When the command's end arrives
    with Stubber(autopatch.clients.client("stepfunctions")) as stub:
        stub.add_client_error("send_task_success", service_error_code="ThrottlingException", http_status_code=400)
        with pytest.raises(AwsThrottled):
            app.lambda_handler(event, lambda_context)
    # Then the error is named for a retry, and the ledger still knows the task, so the retry can wake it
    assert waiting(aws, ledger, sent_patch.instance)["TaskToken"] == TOKEN
    assert app.lambda_handler(event, lambda_context) == {"Handled": True, "Status": "Success"}


@pytest.mark.parametrize(
    "event",
    [{}, {"detail": "x"}, {"detail": {"instance-id": "i-0123456789abcdef0"}}, []],
    ids=["no detail", "detail not an object", "no command id", "not an object"],
)
def test_command_finished_rejects_an_event_without_instance_and_command(
    aws, ledger, load_handler, lambda_context, event
):
    # Given an event that is not a command status change
    app = load_handler("command_finished")
    # When it arrives
    # Then InvalidInput says what is missing
    with pytest.raises(InvalidInput, match=r"^detail with instance-id and command-id is required\.$"):
        app.lambda_handler(event, lambda_context)
