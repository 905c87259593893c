"""tag_instance: the patch state and run id on the instance, failures counted in the ledger.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import pytest
from botocore.stub import Stubber

import autopatch.clients
import autopatch.ledger
from autopatch import PATCH_TAG_KEY, PATCHED_TAG_KEY, RUN_TAG_KEY
from autopatch.errors import AwsThrottled, InvalidInput
from tests.handlers.helpers import RUN_ID, calls_to, ledger_item, patch_tags, raises_twice, tag, twice


def test_tag_instance_sets_the_patch_state_and_the_run_id(aws, fleet, load_handler, lambda_context, api_calls):
    # Given an InService instance of "web" without run tags
    instance = fleet.instance_ids[0]
    assert patch_tags(aws, instance) == {}
    app = load_handler("tag_instance")
    # When it is marked InProgress, twice
    results = twice(app, {"InstanceId": instance, "Value": "InProgress", "RunId": RUN_ID}, lambda_context)
    # Then both calls succeed and the instance carries both tags
    assert results == [{"Tag": "InProgress"}, {"Tag": "InProgress"}]
    assert patch_tags(aws, instance) == {PATCH_TAG_KEY: "InProgress", RUN_TAG_KEY: RUN_ID}
    assert calls_to(api_calls, "CreateTags")[0] == {
        "Resources": [instance],
        "Tags": [{"Key": PATCH_TAG_KEY, "Value": "InProgress"}, {"Key": RUN_TAG_KEY, "Value": RUN_ID}],
    }
    # and only that instance was tagged
    assert all(patch_tags(aws, other) == {} for other in fleet.instance_ids[1:])


def test_tag_instance_counts_a_failed_instance_once_against_the_run(aws, fleet, ledger, load_handler, lambda_context):
    # Given an instance whose patch failed
    instance = fleet.instance_ids[0]
    app = load_handler("tag_instance")
    # When it is marked Failed, twice, and another run marks a second instance Failed
    results = twice(app, {"InstanceId": instance, "Value": "Failed", "RunId": RUN_ID}, lambda_context)
    app.lambda_handler({"InstanceId": fleet.instance_ids[1], "Value": "Failed", "RunId": "run-old"}, lambda_context)
    # Then it carries the tags, and this run's ledger counts it once, the other run's failure apart
    assert results == [{"Tag": "Failed"}, {"Tag": "Failed"}]
    assert patch_tags(aws, instance) == {PATCH_TAG_KEY: "Failed", RUN_TAG_KEY: RUN_ID}
    assert ledger_item(aws, ledger, f"failed#{RUN_ID}")["Instances"]["SS"] == [instance]
    assert ledger_item(aws, ledger, "failed#run-old")["Instances"]["SS"] == [fleet.instance_ids[1]]


@pytest.mark.parametrize(
    ("why", "kept"),
    [
        (
            {"Step": "Patch", "Error": "PatchTimedOut", "Cause": "no end in 3600 s"},
            "Patch: PatchTimedOut: no end in 3600 s",
        ),
        ({"Step": "Return to service", "Error": "HealthCheckTimedOut"}, "Return to service: HealthCheckTimedOut"),
        (
            {"Step": "Patch", "Error": "States.TaskFailed", "Cause": "x" * 5000},
            "Patch: States.TaskFailed: " + "x" * 974,
        ),
        ({}, None),
    ],
    ids=["step-error-cause", "no-cause", "long-cause-cut", "no-reason"],
)
def test_tag_instance_keeps_why_an_instance_failed_for_the_clean_up(
    aws, fleet, ledger, load_handler, lambda_context, why, kept
):
    # Given an instance whose patch failed, at the step, with the error and cause the state machine gives
    instance = fleet.instance_ids[0]
    app = load_handler("tag_instance")
    # When it is marked Failed
    app.lambda_handler({"InstanceId": instance, "Value": "Failed", "RunId": RUN_ID, **why}, lambda_context)
    # Then the ledger keeps the reason (at most 1,000 characters) beside the count, for the clean-up's alert
    assert autopatch.ledger.failure_reason(RUN_ID, instance) == kept
    assert ledger_item(aws, ledger, f"failed#{RUN_ID}")["Instances"]["SS"] == [instance]


def test_tag_instance_overwrites_the_state_of_an_earlier_run(aws, fleet, load_handler, lambda_context):
    # Given an instance marked Failed by an earlier run
    instance = fleet.instance_ids[0]
    tag(aws, instance, "Failed", "run-old")
    app = load_handler("tag_instance")
    # When this run marks it Completed
    app.lambda_handler({"InstanceId": instance, "Value": "Completed", "RunId": RUN_ID}, lambda_context)
    # Then the tags show this run's result only, and that this run patched it
    tags = patch_tags(aws, instance)
    assert tags.pop(PATCHED_TAG_KEY).endswith(f"Z {RUN_ID}")
    assert tags == {PATCH_TAG_KEY: "Completed", RUN_TAG_KEY: RUN_ID}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"Value": "Done"}, "Value must be one of InProgress, Completed, Failed; got 'Done'."),
        ({"Value": ""}, "Value must be a string."),
        ({"InstanceId": "web-1"}, "InstanceId must be an EC2 instance id such as i-0123456789abcdef0."),
        ({"InstanceId": None}, "InstanceId must be a string."),
        ({"RunId": 7}, "RunId must be a string."),
    ],
)
def test_tag_instance_rejects_a_bad_event_and_tags_nothing(
    aws, fleet, load_handler, lambda_context, api_calls, event, message
):
    # Given an event with one bad field
    instance = fleet.instance_ids[0]
    event = {"InstanceId": instance, "Value": "Failed", "RunId": RUN_ID, **event}
    app = load_handler("tag_instance")
    # When the instance is tagged, twice
    errors = raises_twice(app, event, lambda_context, InvalidInput)
    # Then InvalidInput names the field, and no tag was written
    assert str(errors[0]) == message
    assert calls_to(api_calls, "CreateTags") == []
    assert patch_tags(aws, instance) == {}


def test_a_throttled_call_becomes_aws_throttled_for_the_state_machine_to_retry(
    aws, fleet, load_handler, lambda_context
):
    # Given EC2 throttling CreateTags beyond the SDK's own retries
    app = load_handler("tag_instance")
    event = {"InstanceId": fleet.instance_ids[0], "Value": "InProgress", "RunId": RUN_ID}
    # When the instance is tagged
    with Stubber(autopatch.clients.client("ec2")) as stub:
        stub.add_client_error("create_tags", service_error_code="RequestLimitExceeded", http_status_code=503)
        with pytest.raises(AwsThrottled) as caught:
            app.lambda_handler(event, lambda_context)
    # Then the error is AwsThrottled, naming the call and the code
    assert str(caught.value) == "CreateTags throttled: RequestLimitExceeded"
