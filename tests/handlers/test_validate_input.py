"""validate_input: the run's groups and settings, or an error naming the bad field (an alarm that does not exist too).
Against a moto account; conftest.py says how and holds the shared fixtures."""

import json
import uuid
from unittest import mock

import pytest

import autopatch.clients
from autopatch.errors import InvalidInput
from autopatch.run_input import RunSettings
from tests.handlers.helpers import (
    EXECUTION_ARN,
    NOW,
    RUN_ID,
    SNAPSHOT_ID,
    calls_to,
    fleet_snapshot,
    mutating,
    raises_twice,
    set_group_tag,
    twice,
)
from tests.support import CPU_ALARM


def validate_event(run_input=None, execution_arn=EXECUTION_ARN):
    return {"Input": {} if run_input is None else run_input, "ExecutionName": RUN_ID, "ExecutionArn": execution_arn}


def put_alarm(aws, name):
    aws.client("cloudwatch").put_metric_alarm(AlarmName=name, **CPU_ALARM)


def test_validate_input_finds_the_named_group_and_the_settings(
    aws, fleet, fleet_builder, load_handler, lambda_context, api_calls
):
    # Given the opted-in groups "web" and "api"
    fleet_builder.group("api", size=2)
    app = load_handler("validate_input")
    # When the run names only "web", twice
    first, second = twice(app, validate_event({"AutoScalingGroupNames": ["web"], "MaxErrors": 1}), lambda_context)
    # Then only "web" is planned, and the settings carry the input over the defaults
    assert first == second
    assert first["RunId"] == RUN_ID
    assert first["ExecutionArn"] == EXECUTION_ARN
    assert first["GroupNames"] == ["web"]
    assert first["Settings"]["AutoScalingGroupNames"] == ["web"]
    assert first["Settings"]["MaxErrors"] == 1
    assert first["Settings"]["Operation"] == "Install"
    # and AlarmNames is a list even when not given, so the gate's event always has one
    assert first["Settings"]["AlarmNames"] == []
    # and it only looked
    assert mutating(api_calls) == []


def test_validate_input_without_names_takes_every_opted_in_group_in_name_order(
    aws, fleet, fleet_builder, load_handler, lambda_context
):
    # Given "web" and "api" opted in, "batch" tagged AutoPatch=disabled and "legacy" without the tag
    fleet_builder.group("api", size=1)
    fleet_builder.group("batch", size=1, tags=[{"Key": "AutoPatch", "Value": "disabled", "PropagateAtLaunch": True}])
    fleet_builder.group("legacy", size=1, tags=[])
    app = load_handler("validate_input")
    # When the run names no group, twice
    first, second = twice(app, validate_event({}), lambda_context)
    # Then every opted-in group is planned, sorted by name, and nothing else
    assert first == second
    assert first["GroupNames"] == ["api", "web"]
    assert first["Settings"]["AutoScalingGroupNames"] is None


def test_validate_input_keeps_the_alarm_names_given(aws, fleet, load_handler, lambda_context):
    # Given a run input naming two alarms that exist
    for name in ("cpu-high", "5xx-rate"):
        put_alarm(aws, name)
    app = load_handler("validate_input")
    # When it is validated
    result = app.lambda_handler(validate_event({"AlarmNames": ["cpu-high", "5xx-rate"]}), lambda_context)
    # Then the gate will watch both
    assert result["Settings"]["AlarmNames"] == ["cpu-high", "5xx-rate"]


def test_validate_input_accepts_alarms_that_exist_in_the_input_and_in_group_tags(
    aws, fleet, load_handler, lambda_context
):
    for name in ("cpu-high", "web-5xx"):
        put_alarm(aws, name)
    set_group_tag(aws, "web", "AutoPatchAlarmNames", "web-5xx")
    result = load_handler("validate_input").lambda_handler(validate_event({"AlarmNames": ["cpu-high"]}), lambda_context)
    assert result["Settings"]["AlarmNames"] == ["cpu-high"]


@pytest.mark.parametrize(
    ("run_input", "tag", "named"),
    [
        ({"AlarmNames": ["cpu-high", "cpu-hihg"]}, "web-5xx", "'cpu-hihg' (in AlarmNames)"),
        (
            {"AlarmNames": ["cpu-high"]},
            "web-5xx,web-5xxx",
            "'web-5xxx' (in the AutoPatchAlarmNames tag of group 'web')",
        ),
    ],
    ids=["input", "group-tag"],
)
def test_validate_input_refuses_an_alarm_that_does_not_exist_and_changes_nothing(
    aws, fleet, load_handler, lambda_context, api_calls, run_input, tag, named
):
    for name in ("cpu-high", "web-5xx"):
        put_alarm(aws, name)
    set_group_tag(aws, "web", "AutoPatchAlarmNames", tag)
    with pytest.raises(InvalidInput) as refused:
        load_handler("validate_input").lambda_handler(validate_event(run_input), lambda_context)
    assert named in str(refused.value)
    assert mutating(api_calls) == []


def test_validate_input_rejects_an_unknown_group_naming_the_field(aws, fleet, load_handler, lambda_context):
    # Given only the group "web"
    app = load_handler("validate_input")
    # When the run names "web" and a group that does not exist, twice
    errors = raises_twice(app, validate_event({"AutoScalingGroupNames": ["web", "nope"]}), lambda_context, InvalidInput)
    # Then InvalidInput names the field and the missing group
    assert str(errors[0]) == "AutoScalingGroupNames: no Auto Scaling group named 'nope'."


def test_validate_input_rejects_a_named_group_without_the_opt_in_tag(
    aws, fleet, fleet_builder, load_handler, lambda_context
):
    # Given a group "legacy" that does not carry AutoPatch=enabled
    fleet_builder.group("legacy", size=1, tags=[])
    app = load_handler("validate_input")
    # When the run names it, twice
    errors = raises_twice(app, validate_event({"AutoScalingGroupNames": ["legacy"]}), lambda_context, InvalidInput)
    # Then InvalidInput names the field, the group and the tag it needs
    assert str(errors[0]) == "AutoScalingGroupNames: group 'legacy' does not carry the opt-in tag AutoPatch=enabled."


def test_validate_input_reads_the_opt_in_value_from_the_environment_at_call_time(
    aws, fleet, load_handler, lambda_context, monkeypatch
):
    # Given "web" tagged AutoPatch=enabled, but a stack whose opt-in value is "yes"
    app = load_handler("validate_input")
    monkeypatch.setenv("OPT_IN_TAG_VALUE", "yes")
    # When a run names no group
    with pytest.raises(InvalidInput) as caught:
        app.lambda_handler(validate_event({}), lambda_context)
    # Then no group is opted in, and the message says which tag it looked for
    assert str(caught.value) == "AutoScalingGroupNames: none given and no group carries the opt-in tag AutoPatch=yes."


def test_validate_input_snapshot_id_is_a_uuid_fixed_by_the_execution(aws, fleet, load_handler, lambda_context):
    # Given two executions
    app = load_handler("validate_input")
    other_arn = EXECUTION_ARN.replace(RUN_ID, "run-other")
    # When the first is validated twice (a retried invocation) and the second once
    first, again = twice(app, validate_event(), lambda_context)
    other = app.lambda_handler(validate_event(execution_arn=other_arn), lambda_context)
    # Then the retry gets the same snapshot id, a UUID, and the other execution a different one
    assert first["SnapshotId"] == again["SnapshotId"]
    assert str(uuid.UUID(first["SnapshotId"])) == first["SnapshotId"]
    assert other["SnapshotId"] != first["SnapshotId"]


@pytest.mark.parametrize(
    ("run_input", "named"),
    [
        ({"MaxErrors": "1"}, "MaxErrors"),
        ({"Operation": "Patch"}, "Operation"),
        ({"AutoScalingGroupNames": []}, "AutoScalingGroupNames"),
        ({"AlarmNames": "cpu-high"}, "AlarmNames"),
        ({"Groups": ["web"]}, "'Groups'"),
        (["web"], "The input must be a JSON object"),
    ],
)
def test_validate_input_rejects_bad_input_before_any_aws_call(
    aws, fleet, load_handler, lambda_context, api_calls, run_input, named
):
    # Given a fleet, and a run input with a bad field
    before = fleet_snapshot(aws, "web")
    app = load_handler("validate_input")
    # When the run is validated, twice
    errors = raises_twice(app, validate_event(run_input), lambda_context, InvalidInput)
    # Then InvalidInput names the field, no AWS call was made, and no tag, state or size changed
    assert named in str(errors[0])
    assert api_calls == []
    assert fleet_snapshot(aws, "web") == before


def test_validate_input_requires_the_execution_fields(aws, load_handler, lambda_context):
    # Given an event without ExecutionArn (the state machine always passes it)
    app = load_handler("validate_input")
    # When it is validated
    # Then the missing field is named
    with pytest.raises(InvalidInput, match=r"^ExecutionArn is required\.$"):
        app.lambda_handler({"Input": {}, "ExecutionName": RUN_ID}, lambda_context)


def continuation_input(**overrides):
    settings = {**RunSettings(AutoScalingGroupNames=["web"]).to_dict(), "AlarmNames": []}
    return {
        "Continuation": {
            "RunId": RUN_ID,
            "Part": 2,
            "Offset": 44,
            "PreviousExecutionArn": EXECUTION_ARN,
            "SnapshotId": SNAPSHOT_ID,
            "Settings": settings,
            "GroupNames": ["web"],
            "Recovered": [{"InstanceId": "i-0abcdef01", "GroupName": "web", "Deadline": NOW}],
            **overrides,
        }
    }


@pytest.fixture
def part_1_handed_over(aws):
    """Part 1 of the run ended SUCCEEDED by continuing in part 2, as Step Functions describes it."""
    output = {"RunId": RUN_ID, "Part": 1, "ContinuedAs": f"{RUN_ID}-part2"}
    described = {"executionArn": EXECUTION_ARN, "status": "SUCCEEDED", "output": json.dumps(output)}
    with mock.patch.object(autopatch.clients.client("stepfunctions"), "describe_execution", return_value=described):
        yield


def test_validate_input_carries_a_continuation_on_into_the_next_execution(
    aws, fleet, part_1_handed_over, load_handler, lambda_context, api_calls
):
    # Given the input part 1 gave the run's next execution, part 1 having ended by continuing in it
    part2 = EXECUTION_ARN + "-part2"
    app = load_handler("validate_input")
    event = {"Input": continuation_input(), "ExecutionName": f"{RUN_ID}-part2", "ExecutionArn": part2}
    # When it is validated, twice
    first, second = twice(app, event, lambda_context)
    # Then the run goes on as the same run, from its offset, with its snapshot and settings, in this execution
    assert first == second
    assert first["RunId"] == RUN_ID
    assert (first["Part"], first["Offset"], first["PreviousExecutionArn"]) == (2, 44, EXECUTION_ARN)
    assert first["ExecutionArn"] == part2
    assert first["SnapshotId"] == SNAPSHOT_ID
    assert first["GroupNames"] == ["web"]
    assert first["Settings"]["AlarmNames"] == []
    assert first["Recovered"] == {"Instances": [{"InstanceId": "i-0abcdef01", "GroupName": "web", "Deadline": NOW}]}
    # and it did not look the groups up again, nor change anything
    assert calls_to(api_calls, "DescribeAutoScalingGroups") == []
    assert mutating(api_calls) == []


def test_a_continuation_of_a_run_started_before_an_upgrade_gets_the_new_settings_defaults(
    aws, fleet, part_1_handed_over, load_handler, lambda_context
):
    # Given the next part of a run whose first execution ran a version without BakeAmi and its fields
    old = {
        k: v for k, v in continuation_input()["Continuation"]["Settings"].items() if "Bake" not in k and k != "KeepAmis"
    }
    event = {
        "Input": continuation_input(Settings=old),
        "ExecutionName": f"{RUN_ID}-part2",
        "ExecutionArn": EXECUTION_ARN + "-part2",
    }
    # When it is validated
    settings = load_handler("validate_input").lambda_handler(event, lambda_context)["Settings"]
    # Then the run goes on with the settings it had, and the new fields at their defaults (no bake)
    assert {k: settings[k] for k in old} == {**old, "AlarmNames": []}
    assert (settings["BakeAmi"], settings["KeepAmis"], settings["BakeTimeoutSeconds"]) == (False, 3, 3600)


@pytest.mark.parametrize(
    ("run_input", "message"),
    [
        (
            {**continuation_input(), "MaxErrors": 1},
            "Continuation comes alone: it is the input a run gives its next execution.",
        ),
        (
            continuation_input(Part=1),
            "Continuation.Part must be at least 2 and Continuation.Offset at least 1 (0 to start a newcomer pass).",
        ),
        (continuation_input(Extra=True), "Continuation: unknown field 'Extra'."),
        ({"Continuation": "part2"}, "Continuation must be an object."),
    ],
)
def test_validate_input_rejects_a_bad_continuation(aws, load_handler, lambda_context, api_calls, run_input, message):
    # Given a continuation input that part 1 could not have written
    app = load_handler("validate_input")
    event = {"Input": run_input, "ExecutionName": f"{RUN_ID}-part2", "ExecutionArn": EXECUTION_ARN + "-part2"}
    # When it is validated, twice
    errors = raises_twice(app, event, lambda_context, InvalidInput)
    # Then InvalidInput says what is wrong, before any AWS call
    assert str(errors[0]) == message
    assert api_calls == []
