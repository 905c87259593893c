"""Every Lambda handler against a moto account: the tags, lifecycle states, capacity, ledger items, alerts,
errors and AWS calls a user would notice. Each handler is also run twice with the same event, as a Lambda or
Step Functions retry would, to show that repeating it is safe.

Where moto cannot produce a state (an invocation that does not exist yet, a failed or running command, an
unhealthy target) botocore's Stubber answers for that one client; where moto lacks an API altogether
(DescribeInstanceInformation, DescribeInstanceRefreshes, CancelCommand) a unittest.mock stand-in does.
The handlers that poll inside one invocation sleep on a frozen clock that their sleep moves forward.
`api_calls` records the calls a handler made through autopatch.clients.
"""

import json
import time
import urllib.error
import uuid
from types import SimpleNamespace
from unittest import mock

import pytest
import time_machine
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto.autoscaling.models import autoscaling_backends
from moto.sns.models import sns_backends

import autopatch.clients
import autopatch.polling
import autopatch.runs
import autopatch.slack
from autopatch import PATCH_DOCUMENT, PATCH_TAG_KEY, RUN_TAG_KEY
from autopatch.alerts import execution_console_url
from autopatch.errors import (
    AwsThrottled,
    GroupLocked,
    HealthCheckTimedOut,
    InstanceNotInGroup,
    InstanceNotInService,
    InstanceNotReady,
    InvalidInput,
    PatchesFailed,
    PreflightFailed,
    ResourceContention,
    SlackPostFailed,
    StandbyTimedOut,
)
from autopatch.run_input import RunSettings

REGION = "us-east-1"
ACCOUNT = "123456789012"
STATE_MACHINE = "RollingPatch"
RUN_ID = "run-2026-11-25"
EXECUTION_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{STATE_MACHINE}:{RUN_ID}"
SNAPSHOT_ID = "0b4e7c2a-1d9f-5a3e-8c71-2f6d9e0a4b13"
NOW = 1_795_000_000  # a fixed "now" for the deadline arithmetic


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def clock(monkeypatch):
    """A clock frozen at NOW that the polling handlers' sleep moves forward instead of waiting.
    clock.at(seconds, action) runs an action once the clock reaches NOW + seconds."""
    with time_machine.travel(NOW, tick=False) as traveller:
        state = SimpleNamespace(now=NOW, slept=[], timers=[])
        state.at = lambda seconds, action: state.timers.append((NOW + seconds, action))

        def sleep(seconds):
            state.slept.append(seconds)
            traveller.shift(seconds)
            for timer in [t for t in state.timers if t[0] <= time.time()]:
                state.timers.remove(timer)
                timer[1]()

        monkeypatch.setattr(autopatch.polling, "sleep", sleep)
        yield state


# --- helpers -----------------------------------------------------------------------------------------


def copy_of(event):
    return json.loads(json.dumps(event))


def twice(app, event, context):
    """Invoke the handler twice with equal events (each its own copy, as Lambda would deliver them)."""
    return [app.lambda_handler(copy_of(event), context) for _ in range(2)]


def raises_twice(app, event, context, error):
    """Invoke the handler twice; both must raise `error` with the same message. Returns the exceptions."""
    caught = []
    for _ in range(2):
        with pytest.raises(error) as info:
            app.lambda_handler(copy_of(event), context)
        caught.append(info.value)
    assert str(caught[0]) == str(caught[1])
    return caught


def lifecycle(aws, instance):
    found = aws.client("autoscaling").describe_auto_scaling_instances(InstanceIds=[instance])
    return found["AutoScalingInstances"][0]["LifecycleState"]


def group_of(aws, name):
    return aws.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]


def desired(aws, name):
    return group_of(aws, name)["DesiredCapacity"]


def standby(aws, group, instance):
    aws.client("autoscaling").enter_standby(
        AutoScalingGroupName=group, InstanceIds=[instance], ShouldDecrementDesiredCapacity=True
    )


def patch_tags(aws, instance):
    """The tags a run leaves on an instance (the propagated AutoPatch opt-in tag left out)."""
    found = aws.client("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": [instance]}])["Tags"]
    return {t["Key"]: t["Value"] for t in found if t["Key"] in (PATCH_TAG_KEY, RUN_TAG_KEY)}


def tag(aws, instance, value, run_id):
    aws.client("ec2").create_tags(
        Resources=[instance], Tags=[{"Key": PATCH_TAG_KEY, "Value": value}, {"Key": RUN_TAG_KEY, "Value": run_id}]
    )


def mark_failed(load_handler, context, instance, run_id=RUN_ID):
    """Mark an instance Failed as the state machine does: tag_instance tags it and counts it in the ledger."""
    load_handler("tag_instance").lambda_handler({"InstanceId": instance, "Value": "Failed", "RunId": run_id}, context)


def set_group_tag(aws, group, key, value):
    aws.client("autoscaling").create_or_update_tags(
        Tags=[
            {
                "ResourceId": group,
                "ResourceType": "auto-scaling-group",
                "Key": key,
                "Value": value,
                "PropagateAtLaunch": False,
            }
        ]
    )


def calls_to(api_calls, operation):
    return [params for _, name, params in api_calls if name == operation]


def mutating(api_calls):
    return [name for _, name, _ in api_calls if not name.startswith(("Describe", "List", "Get"))]


def set_lifecycle_state(group, instance, state):
    """Put an instance in a state moto never shows by itself (it jumps straight to Standby or InService)."""
    for instance_state in autoscaling_backends[ACCOUNT][REGION].autoscaling_groups[group].instance_states:
        if instance_state.instance.id == instance:
            instance_state.lifecycle_state = state
            return
    raise AssertionError(f"{instance} is not in {group}")


def fleet_snapshot(aws, group):
    """Everything a handler could change on a group: lifecycle states, capacity, MinSize and run tags."""
    grp = group_of(aws, group)
    return {
        "desired": grp["DesiredCapacity"],
        "min": grp["MinSize"],
        "states": {i["InstanceId"]: i["LifecycleState"] for i in grp["Instances"]},
        "tags": {i["InstanceId"]: patch_tags(aws, i["InstanceId"]) for i in grp["Instances"]},
    }


def ledger_item(aws, table, key):
    item = aws.client("dynamodb").get_item(TableName=table, Key={"Id": {"S": key}}, ConsistentRead=True)
    return item.get("Item")


def sent_messages(topic_arn):
    """(message id, body, subject) of every message moto's SNS topic received, oldest first."""
    return [n[:3] for n in sns_backends[ACCOUNT][REGION].topics[topic_arn].sent_notifications]


def sent_kinds(topic_arn):
    """The "kind" message attribute of every message the topic received, oldest first."""
    notifications = sns_backends[ACCOUNT][REGION].topics[topic_arn].sent_notifications
    return [n[3]["kind"]["Value"] for n in notifications]


def throttled(operation):
    return ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, operation)


@pytest.fixture
def executions(aws):
    """Step Functions executions of the state machine, to hold or have held a group's lock."""
    sfn = aws.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=STATE_MACHINE,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/autopatch-states",
    )["stateMachineArn"]
    return SimpleNamespace(
        machine=machine,
        start=lambda name: sfn.start_execution(stateMachineArn=machine, name=name)["executionArn"],
        stop=lambda arn: sfn.stop_execution(executionArn=arn),
    )


@pytest.fixture
def unimplemented(aws, api_calls):
    """moto 5.2.5 implements neither SSM DescribeInstanceInformation nor Auto Scaling DescribeInstanceRefreshes:
    answer them on autopatch's clients. `ping` maps an instance to its PingStatus (Online when absent, not
    registered with Systems Manager when None); `refreshes` maps a group to its instance refreshes."""
    ping, refreshes = {}, {}

    def describe_instance_information(Filters, **_):
        ids = next(f["Values"] for f in Filters if f["Key"] == "InstanceIds")
        known = [i for i in ids if ping.get(i, "Online") is not None]
        return {"InstanceInformationList": [{"InstanceId": i, "PingStatus": ping.get(i, "Online")} for i in known]}

    def describe_instance_refreshes(AutoScalingGroupName, **_):
        return {"InstanceRefreshes": refreshes.get(AutoScalingGroupName, [])}

    ssm, autoscaling = autopatch.clients.client("ssm"), autopatch.clients.client("autoscaling")
    with (
        mock.patch.object(ssm, "describe_instance_information", side_effect=describe_instance_information),
        mock.patch.object(autoscaling, "describe_instance_refreshes", side_effect=describe_instance_refreshes),
    ):
        yield SimpleNamespace(ping=ping, refreshes=refreshes)


# =====================================================================================================
# validate_input
# =====================================================================================================


def validate_event(run_input=None, execution_arn=EXECUTION_ARN):
    return {"Input": {} if run_input is None else run_input, "ExecutionName": RUN_ID, "ExecutionArn": execution_arn}


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
    # Given a run input naming two alarms
    app = load_handler("validate_input")
    # When it is validated
    result = app.lambda_handler(validate_event({"AlarmNames": ["cpu-high", "5xx-rate"]}), lambda_context)
    # Then the gate will watch both
    assert result["Settings"]["AlarmNames"] == ["cpu-high", "5xx-rate"]


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


def test_validate_input_carries_a_continuation_on_into_the_next_execution(
    aws, fleet, load_handler, lambda_context, api_calls
):
    # Given the input part 1 gave the run's next execution
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
    # and it did not look the groups up again
    assert api_calls == []


def test_a_continuation_of_a_run_started_before_an_upgrade_gets_the_new_settings_defaults(
    aws, fleet, load_handler, lambda_context
):
    # Given the next part of a run whose first execution ran a version without BakeAmi and its fields
    old = {
        k: v for k, v in continuation_input()["Continuation"]["Settings"].items() if "Bake" not in k and k != "KeepAmis"
    }
    event = {
        "Input": continuation_input(Settings=old),
        "ExecutionName": f"{RUN_ID}-part2",
        "ExecutionArn": EXECUTION_ARN,
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
        (continuation_input(Part=1), "Continuation.Part must be at least 2 and Continuation.Offset at least 1."),
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


# =====================================================================================================
# check_fleet (preflight)
# =====================================================================================================


def fleet_event(*names, lower_min_size=False, offline="refuse", dry_run=None):
    event = {"RunId": RUN_ID, "ExecutionArn": EXECUTION_ARN, "GroupNames": list(names)}
    event |= {"LowerMinSize": lower_min_size, "OfflineInstances": offline}
    return event if dry_run is None else {**event, "DryRun": dry_run}


def saved_plan(aws, bucket, run_id=RUN_ID):
    found = aws.client("s3").get_object(Bucket=bucket, Key=f"runs/{run_id}/plan.json")
    return json.loads(found["Body"].read())


def test_check_fleet_keeps_the_plan_of_every_in_service_instance_in_the_report(
    aws, fleet, fleet_builder, report_bucket, unimplemented, load_handler, lambda_context, api_calls
):
    # Given two healthy groups whose instances are all InService, healthy in their target group and online in SSM
    api = fleet_builder.group("api", size=2)
    app = load_handler("check_fleet")
    # When the fleet is checked, twice
    first, second = twice(app, fleet_event("web", "api"), lambda_context)
    # Then both return the counts per group, in the run's order, and none skipped
    assert (
        first
        == second
        == {"Groups": [{"GroupName": "web", "Count": 3}, {"GroupName": "api", "Count": 2}], "Skipped": 0}
    )
    # and the plan in the run's report lists every instance per group
    plan = saved_plan(aws, report_bucket)
    assert [g["GroupName"] for g in plan["Groups"]] == ["web", "api"]
    assert sorted(plan["Groups"][0]["Instances"]) == fleet.instance_ids
    assert sorted(plan["Groups"][1]["Instances"]) == api.instance_ids
    assert plan["Skipped"] == []
    # and the only change made is that report object
    assert mutating(api_calls) == ["PutObject", "PutObject"]


def test_check_fleet_dry_run_returns_the_plan_and_writes_nothing(
    aws, fleet, unimplemented, load_handler, lambda_context, api_calls
):
    # Given a healthy group (and no report bucket: a dry run needs none)
    app = load_handler("check_fleet")
    # When the fleet is checked as a dry run, twice
    first, second = twice(app, fleet_event("web", dry_run=True), lambda_context)
    # Then the plan itself comes back, instances listed, and nothing was written
    assert first == second
    assert [(g["GroupName"], g["Count"]) for g in first["Groups"]] == [("web", 3)]
    assert sorted(first["Groups"][0]["Instances"]) == fleet.instance_ids
    assert first["Skipped"] == []
    assert mutating(api_calls) == []


def preflight_error(app, event, context):
    errors = raises_twice(app, event, context, PreflightFailed)
    message = str(errors[0])
    assert message.startswith("Refusing to start: ")
    return message


def test_check_fleet_refuses_a_group_with_an_instance_out_of_service(
    aws, fleet, report_bucket, unimplemented, load_handler, lambda_context, api_calls
):
    # Given "web" with one instance in Standby
    standby(aws, "web", fleet.instance_ids[0])
    app = load_handler("check_fleet")
    # When the fleet is checked, twice
    message = preflight_error(app, fleet_event("web"), lambda_context)
    # Then PreflightFailed names the group and the instance's state, and no plan was kept
    assert f"group web: {fleet.instance_ids[0]} is Standby" in message
    assert mutating(api_calls) == []


def test_check_fleet_refuses_a_group_at_its_minimum_unless_lower_min_size(
    aws, fleet_builder, unimplemented, load_handler, lambda_context
):
    # Given "web" with MinSize 3 and desired capacity 3
    fleet_builder.group("web", size=3, min_size=3)
    app = load_handler("check_fleet")
    # When the fleet is checked (dry run) without, then with LowerMinSize
    message = preflight_error(app, fleet_event("web", dry_run=True), lambda_context)
    plan = app.lambda_handler(fleet_event("web", lower_min_size=True, dry_run=True), lambda_context)
    # Then it is refused, saying how to allow it, and allowed once LowerMinSize is true
    assert "desired capacity 3 minus one is below MinSize 3 (LowerMinSize: true allows it)" in message
    assert plan["Groups"][0]["Count"] == 3


def test_check_fleet_refuses_a_group_of_one(aws, fleet_builder, unimplemented, load_handler, lambda_context):
    # Given a group with a single instance
    fleet_builder.group("solo", size=1)
    app = load_handler("check_fleet")
    # When the fleet is checked, even with LowerMinSize
    message = preflight_error(app, fleet_event("solo", lower_min_size=True, dry_run=True), lambda_context)
    # Then it is refused: taking its only instance out would leave nothing serving
    assert "group solo: fewer than two InService instances (1)" in message


def test_check_fleet_refuses_suspended_launch_or_terminate(aws, fleet, unimplemented, load_handler, lambda_context):
    # Given "web" with Launch and AZRebalance suspended
    aws.client("autoscaling").suspend_processes(AutoScalingGroupName="web", ScalingProcesses=["Launch", "AZRebalance"])
    app = load_handler("check_fleet")
    # When the fleet is checked
    message = preflight_error(app, fleet_event("web", dry_run=True), lambda_context)
    # Then the blocking process is named, and the harmless one is not
    assert "suspended processes: Launch" in message
    assert "AZRebalance" not in message


def test_check_fleet_refuses_a_group_with_an_active_instance_refresh(
    aws, fleet, unimplemented, load_handler, lambda_context
):
    # Given "web" in the middle of an instance refresh, and an older one that finished
    unimplemented.refreshes["web"] = [
        {"InstanceRefreshId": "refresh-2", "AutoScalingGroupName": "web", "Status": "InProgress"},
        {"InstanceRefreshId": "refresh-1", "AutoScalingGroupName": "web", "Status": "Successful"},
    ]
    app = load_handler("check_fleet")
    # When the fleet is checked
    message = preflight_error(app, fleet_event("web", dry_run=True), lambda_context)
    # Then only the active refresh is named
    assert "instance refresh refresh-2 is InProgress" in message
    assert "refresh-1" not in message


def test_check_fleet_refuses_an_instance_missing_from_its_target_group(
    aws, fleet, unimplemented, load_handler, lambda_context
):
    # Given an InService instance that is not registered in the group's target group
    aws.client("elbv2").deregister_targets(
        TargetGroupArn=fleet.target_group_arn, Targets=[{"Id": fleet.instance_ids[0]}]
    )
    app = load_handler("check_fleet")
    # When the fleet is checked
    message = preflight_error(app, fleet_event("web", dry_run=True), lambda_context)
    # Then the instance and its target group are named
    assert f"{fleet.instance_ids[0]} is not registered in target group web-tg" in message


def test_check_fleet_lists_every_problem_of_every_group(
    aws, fleet, fleet_builder, unimplemented, load_handler, lambda_context
):
    # Given "web" with an instance in Standby and "api" with an instance whose SSM agent lost its connection
    api = fleet_builder.group("api", size=2)
    standby(aws, "web", fleet.instance_ids[0])
    unimplemented.ping[api.instance_ids[1]] = "ConnectionLost"
    app = load_handler("check_fleet")
    # When the fleet is checked
    message = preflight_error(app, fleet_event("web", "api", dry_run=True), lambda_context)
    # Then one refusal lists both groups' problems
    assert f"group web: {fleet.instance_ids[0]} is Standby" in message
    assert f"group api: {api.instance_ids[1]}: SSM agent ConnectionLost" in message
    assert " | " in message


def test_check_fleet_skips_offline_instances_when_asked(
    aws, fleet, report_bucket, unimplemented, load_handler, lambda_context
):
    # Given one instance whose agent lost its connection and one not registered with Systems Manager
    lost, unknown, online = fleet.instance_ids
    unimplemented.ping.update({lost: "ConnectionLost", unknown: None})
    app = load_handler("check_fleet")
    # When the fleet is checked with OfflineInstances=skip, twice
    first, second = twice(app, fleet_event("web", offline="skip"), lambda_context)
    # Then only the online instance is planned, and the other two are kept as skipped with the reason
    assert first == second == {"Groups": [{"GroupName": "web", "Count": 1}], "Skipped": 2}
    plan = saved_plan(aws, report_bucket)
    assert plan["Groups"] == [{"GroupName": "web", "Instances": [online]}]
    assert sorted(plan["Skipped"], key=lambda s: s["Reason"]) == [
        {"InstanceId": lost, "GroupName": "web", "Result": "Skipped", "Reason": "ConnectionLost"},
        {
            "InstanceId": unknown,
            "GroupName": "web",
            "Result": "Skipped",
            "Reason": "not registered with Systems Manager",
        },
    ]


def test_check_fleet_refuses_offline_instances_by_default(aws, fleet, unimplemented, load_handler, lambda_context):
    # Given an instance not registered with Systems Manager
    unimplemented.ping[fleet.instance_ids[2]] = None
    app = load_handler("check_fleet")
    # When the fleet is checked with OfflineInstances=refuse
    message = preflight_error(app, fleet_event("web", dry_run=True), lambda_context)
    # Then the run is refused, naming it
    assert f"{fleet.instance_ids[2]}: SSM agent not registered with Systems Manager" in message


# =====================================================================================================
# plan_slice
# =====================================================================================================


def slice_event(offset, max_errors=0, bake=False):
    return {"RunId": RUN_ID, "Offset": offset, "MaxErrors": max_errors, "BakeAmi": bake}


@pytest.fixture
def planned(aws, fleet, fleet_builder, report_bucket, unimplemented, load_handler, lambda_context):
    """A run's plan kept by check_fleet: "web" (3 instances) then "api" (2)."""
    api = fleet_builder.group("api", size=2)
    load_handler("check_fleet").lambda_handler(fleet_event("web", "api"), lambda_context)
    plan = saved_plan(aws, report_bucket)
    return SimpleNamespace(web=plan["Groups"][0]["Instances"], api=plan["Groups"][1]["Instances"], api_fleet=api)


def test_plan_slice_takes_every_instance_when_the_run_fits_one_execution(
    aws, planned, ledger, load_handler, lambda_context, api_calls
):
    # Given a plan of 5 instances, far below one execution's budget
    app = load_handler("plan_slice")
    api_calls.clear()
    # When the first slice is taken, twice
    first, second = twice(app, slice_event(0), lambda_context)
    # Then it holds every instance of both groups in plan order, and there is no next slice
    assert first == second
    assert first == {
        "Groups": [
            {"GroupName": "web", "Instances": planned.web, "BakeFrom": None},
            {"GroupName": "api", "Instances": planned.api, "BakeFrom": None},
        ],
        "NextOffset": None,
    }
    assert mutating(api_calls) == []


def test_plan_slice_cuts_a_large_run_into_slices_that_cover_every_instance_once(
    aws, planned, ledger, load_handler, lambda_context, monkeypatch
):
    # Given an execution budget of 300 history events (2 instances, or 1 per group when 2 groups remain)
    monkeypatch.setattr(autopatch.runs, "EVENT_BUDGET", 300)
    app = load_handler("plan_slice")
    # When the slices are taken one after the other, as the executions of the run would
    slices, offset = [], 0
    while offset is not None:
        taken = app.lambda_handler(slice_event(offset), lambda_context)
        slices.append(taken["Groups"])
        offset = taken["NextOffset"]
    # Then each slice takes the next instances of every group still to patch, and together they cover the plan
    assert slices == [
        [
            {"GroupName": "web", "Instances": planned.web[0:1], "BakeFrom": None},
            {"GroupName": "api", "Instances": planned.api[0:1], "BakeFrom": None},
        ],
        [
            {"GroupName": "web", "Instances": planned.web[1:2], "BakeFrom": None},
            {"GroupName": "api", "Instances": planned.api[1:2], "BakeFrom": None},
        ],
        [{"GroupName": "web", "Instances": planned.web[2:3], "BakeFrom": None}],
    ]


def test_plan_slice_with_bake_ami_names_each_group_last_instance_in_the_slice_that_holds_it(
    aws, planned, ledger, load_handler, lambda_context, monkeypatch
):
    # Given a budget of two instances per group once a bake's events are set aside (BakeAmi)
    monkeypatch.setattr(
        autopatch.runs, "EVENT_BUDGET", 2 * (2 * autopatch.runs.EVENTS_PER_INSTANCE + autopatch.runs.BAKE_EVENTS)
    )
    app = load_handler("plan_slice")
    # When the slices are taken
    first = app.lambda_handler(slice_event(0, bake=True), lambda_context)
    second = app.lambda_handler(slice_event(first["NextOffset"], bake=True), lambda_context)
    # Then a group's last instance is named only in the slice that holds it: "api" (2) in the first, "web" (3) later
    assert first["Groups"] == [
        {"GroupName": "web", "Instances": planned.web[0:2], "BakeFrom": None},
        {"GroupName": "api", "Instances": planned.api, "BakeFrom": planned.api[-1]},
    ]
    assert second == {
        "Groups": [{"GroupName": "web", "Instances": planned.web[2:3], "BakeFrom": planned.web[-1]}],
        "NextOffset": None,
    }


@pytest.mark.parametrize("why", ["run stopped", "error budget spent"])
def test_plan_slice_takes_nothing_once_the_run_has_stopped(
    aws, planned, ledger, alert_topic, load_handler, lambda_context, why
):
    # Given a run stopped by its gate (an instance of "web" in Standby), or with one failure and MaxErrors 0
    if why == "run stopped":
        standby(aws, "web", planned.web[1])
        gate = load_handler("check_safe_to_continue").lambda_handler(gate_event(planned.web[0]), lambda_context)
        assert gate["Proceed"] is False
    else:
        mark_failed(load_handler, lambda_context, planned.web[0])
    app = load_handler("plan_slice")
    # When the next slice is taken, twice
    results = twice(app, slice_event(1), lambda_context)
    # Then it is empty and there is no next one: the summary reports the rest as NotStarted
    assert results == [{"Groups": [], "NextOffset": None}] * 2


# =====================================================================================================
# record_results
# =====================================================================================================


def record_event(part, results, max_errors=0):
    return {"RunId": RUN_ID, "Part": part, "Results": results, "MaxErrors": max_errors}


def test_record_results_keeps_the_execution_results_in_the_report(
    aws, ledger, report_bucket, load_handler, lambda_context
):
    # Given the Map's results of part 2 of a run: one list per group, the run going on
    results = [
        [result("i-00000001", "web", "Completed", "c-1"), result("i-00000002", "web", "Completed", "c-2")],
        [result("i-00000003", "api", "Completed", "c-3")],
    ]
    app = load_handler("record_results")
    # When they are recorded, twice
    outcomes = twice(app, record_event(2, results), lambda_context)
    # Then both count 3 and say the run goes on, and the report holds them once, flat, under the part's number
    assert outcomes == [{"Recorded": 3, "Stopped": False}] * 2
    listed = aws.client("s3").list_objects_v2(Bucket=report_bucket, Prefix=f"runs/{RUN_ID}/")["Contents"]
    assert [o["Key"] for o in listed] == [f"runs/{RUN_ID}/results-00002.json"]
    body = aws.client("s3").get_object(Bucket=report_bucket, Key=f"runs/{RUN_ID}/results-00002.json")["Body"]
    assert json.loads(body.read()) == results[0] + results[1]


@pytest.mark.parametrize("max_errors", [0, 1])
def test_record_results_says_when_the_run_has_stopped_on_its_failures(
    aws, fleet, ledger, report_bucket, load_handler, lambda_context, max_errors
):
    # Given a part in which one instance failed (marked Failed and counted in the ledger)
    mark_failed(load_handler, lambda_context, fleet.instance_ids[0])
    results = [[result(fleet.instance_ids[0], "web", "Failed", "c-1")]]
    app = load_handler("record_results")
    # When the part's results are recorded, with MaxErrors 0 or 1
    outcome = app.lambda_handler(record_event(1, results, max_errors), lambda_context)
    # Then the run has stopped only when its failures went past MaxErrors, so no next execution is started
    assert outcome == {"Recorded": 1, "Stopped": max_errors == 0}


# =====================================================================================================
# continue_run
# =====================================================================================================


def continue_event(machine_arn, run_id=RUN_ID, **overrides):
    settings = {**RunSettings(AutoScalingGroupNames=["web"]).to_dict(), "AlarmNames": []}
    return {
        "RunId": run_id,
        "ExecutionArn": EXECUTION_ARN,
        "GroupNames": ["web"],
        "Part": 1,
        "SnapshotId": SNAPSHOT_ID,
        "Settings": settings,
        "Recovered": [],
        "Offset": 44,
        "StateMachineArn": machine_arn,
        **overrides,
    }


def test_continue_run_starts_the_next_part_once(aws, executions, load_handler, lambda_context, api_calls):
    # Given part 1 of a run that has more instances than one execution may patch
    app = load_handler("continue_run")
    event = continue_event(executions.machine)
    # When it continues, twice
    first, second = twice(app, event, lambda_context)
    # Then one execution named after the run and part 2 was started, and both calls name it
    part2 = f"{executions.machine.replace(':stateMachine:', ':execution:')}:{RUN_ID}-part2"
    assert first == second == {"ContinuedAs": f"{RUN_ID}-part2", "ExecutionArn": part2}
    listed = aws.client("stepfunctions").list_executions(stateMachineArn=executions.machine)["executions"]
    assert [e["name"] for e in listed] == [f"{RUN_ID}-part2"]
    # and its input carries the run on from the next offset, with the same snapshot and settings
    started = json.loads(aws.client("stepfunctions").describe_execution(executionArn=part2)["input"])
    assert started == {
        "Continuation": {
            "RunId": RUN_ID,
            "Part": 2,
            "Offset": 44,
            "PreviousExecutionArn": EXECUTION_ARN,
            "SnapshotId": SNAPSHOT_ID,
            "Settings": event["Settings"],
            "GroupNames": ["web"],
            "Recovered": [],
        }
    }


def test_continue_run_finds_a_next_part_that_already_exists(aws, executions, load_handler, lambda_context):
    # Given part 2 already started (its input differs, so Step Functions refuses the name: ExecutionAlreadyExists)
    existing = executions.start(f"{RUN_ID}-part2")
    app = load_handler("continue_run")
    # When part 1 continues
    result = app.lambda_handler(continue_event(executions.machine), lambda_context)
    # Then no second execution is started, and the existing one is named
    assert result == {"ContinuedAs": f"{RUN_ID}-part2", "ExecutionArn": existing}
    listed = aws.client("stepfunctions").list_executions(stateMachineArn=executions.machine)["executions"]
    assert len(listed) == 1


# =====================================================================================================
# lock_groups / release_locks
# =====================================================================================================


def lock_event(*names, execution_arn=EXECUTION_ARN, run_id=RUN_ID):
    return {"RunId": run_id, "ExecutionArn": execution_arn, "GroupNames": list(names)}


def test_lock_groups_holds_free_groups_for_this_run(aws, ledger, load_handler, lambda_context):
    # Given no run holds "web" or "api"
    app = load_handler("lock_groups")
    # When this run locks them, twice
    first, second = twice(app, lock_event("web", "api"), lambda_context)
    # Then both calls hold both groups, and the ledger names this execution as holder
    assert first == second == {"Locked": ["web", "api"], "TakenOver": []}
    for name in ("web", "api"):
        item = ledger_item(aws, ledger, f"lock#{name}")
        assert item["Holder"]["S"] == EXECUTION_ARN
        assert item["RunId"]["S"] == RUN_ID
        assert "ExpiresAt" in item


def test_lock_groups_refuses_a_group_a_live_run_holds_and_holds_nothing(
    aws, ledger, executions, load_handler, lambda_context
):
    # Given a running execution "run-other" holding "web"
    other = executions.start("run-other")
    app = load_handler("lock_groups")
    app.lambda_handler(lock_event("web", execution_arn=other, run_id="run-other"), lambda_context)
    # When this run asks for "api" and "web", twice
    errors = raises_twice(app, lock_event("api", "web"), lambda_context, GroupLocked)
    # Then GroupLocked names the group and the run holding it
    assert str(errors[0]) == "Another run is patching web (held by run-other). Nothing was touched."
    # and "web" is still the other run's, and "api" was let go again
    assert ledger_item(aws, ledger, "lock#web")["Holder"]["S"] == other
    assert ledger_item(aws, ledger, "lock#api") is None


@pytest.mark.parametrize("holder_state", ["stopped", "unknown"])
def test_lock_groups_takes_over_a_group_held_by_a_run_that_no_longer_runs(
    aws, ledger, executions, load_handler, lambda_context, holder_state
):
    # Given "web" held by an execution that was stopped (or that Step Functions does not know)
    app = load_handler("lock_groups")
    if holder_state == "stopped":
        dead = executions.start("run-dead")
        executions.stop(dead)
    else:
        dead = EXECUTION_ARN.replace(RUN_ID, "run-gone")
    app.lambda_handler(lock_event("web", execution_arn=dead, run_id="run-dead"), lambda_context)
    # When this run locks "web", twice
    first, second = twice(app, lock_event("web"), lambda_context)
    # Then the first call takes it over and says so; the retry finds it already held by this run
    assert first == {"Locked": ["web"], "TakenOver": ["web"]}
    assert second == {"Locked": ["web"], "TakenOver": []}
    assert ledger_item(aws, ledger, "lock#web")["Holder"]["S"] == EXECUTION_ARN


def test_release_locks_lets_go_of_this_runs_groups_only(aws, ledger, executions, load_handler, lambda_context):
    # Given this run holds "web", and a running "run-other" holds "api"
    other = executions.start("run-other")
    lock = load_handler("lock_groups")
    lock.lambda_handler(lock_event("web"), lambda_context)
    lock.lambda_handler(lock_event("api", execution_arn=other, run_id="run-other"), lambda_context)
    app = load_handler("release_locks")
    # When this run releases both, twice
    results = twice(app, lock_event("web", "api"), lambda_context)
    # Then both calls succeed, "web" is free, and "api" still belongs to the other run
    assert results == [{"Released": ["web", "api"]}] * 2
    assert ledger_item(aws, ledger, "lock#web") is None
    assert ledger_item(aws, ledger, "lock#api")["Holder"]["S"] == other


def test_lock_groups_hands_the_groups_over_to_the_run_next_execution(
    aws, ledger, executions, load_handler, lambda_context
):
    # Given part 1 of this run, still running, holding "web"
    part1 = executions.start(RUN_ID)
    app = load_handler("lock_groups")
    app.lambda_handler(lock_event("web", execution_arn=part1), lambda_context)
    part2 = part1 + "-part2"
    event = {**lock_event("web", execution_arn=part2), "PreviousExecutionArn": part1}
    # When part 2 holds the groups again, twice
    first, second = twice(app, event, lambda_context)
    # Then part 2 takes "web" over from part 1, and holds it
    assert first == {"Locked": ["web"], "TakenOver": ["web"]}
    assert second == {"Locked": ["web"], "TakenOver": []}
    assert ledger_item(aws, ledger, "lock#web")["Holder"]["S"] == part2


def test_lock_groups_hands_over_only_within_the_same_run(aws, ledger, executions, load_handler, lambda_context):
    # Given another run, still running, holding "web"
    other = executions.start("run-other")
    app = load_handler("lock_groups")
    app.lambda_handler(lock_event("web", execution_arn=other, run_id="run-other"), lambda_context)
    # When this run's execution claims to follow it
    event = {**lock_event("web", execution_arn=EXECUTION_ARN + "-part2"), "PreviousExecutionArn": other}
    # Then it is refused: a hand-over needs the same run id
    with pytest.raises(GroupLocked, match=r"^Another run is patching web \(held by run-other\)"):
        app.lambda_handler(event, lambda_context)
    assert ledger_item(aws, ledger, "lock#web")["Holder"]["S"] == other


# =====================================================================================================
# recover_groups
# =====================================================================================================


def recover_event(*names):
    return {"RunId": RUN_ID, "ExecutionArn": EXECUTION_ARN, "GroupNames": list(names), "HealthTimeoutSeconds": 600}


def test_recover_groups_returns_an_instance_a_dead_run_left_in_standby(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, api_calls, frozen_now
):
    # Given an instance a dead run "run-dead" tagged InProgress and left in Standby (capacity 3 -> 2)
    left = fleet.instance_ids[0]
    tag(aws, left, "InProgress", "run-dead")
    standby(aws, "web", left)
    app = load_handler("recover_groups")
    # When this run recovers "web", twice
    first = app.lambda_handler(recover_event("web"), lambda_context)
    app.lambda_handler(recover_event("web"), lambda_context)
    # Then the instance is back in service, once, and capacity restored
    assert lifecycle(aws, left) == "InService"
    assert desired(aws, "web") == 3
    assert calls_to(api_calls, "ExitStandby") == [{"AutoScalingGroupName": "web", "InstanceIds": [left]}]
    # and it is tagged Failed under the dead run's id, so this run's error budget does not count it
    assert patch_tags(aws, left) == {PATCH_TAG_KEY: "Failed", RUN_TAG_KEY: "run-dead"}
    # and on-call got one alert saying what happened
    [(_, body, subject)] = sent_messages(alert_topic)
    assert subject == f"Patching failed: {left} in web"
    assert "Error:        LeftByDeadRun" in body
    assert "by run run-dead, which is no longer running" in body
    assert "Instance:     ExitStandby called; the run waits until it is healthy before going on" in body
    # and the run is told to wait for its health
    assert first == {"Recovered": [{"InstanceId": left, "GroupName": "web", "Deadline": frozen_now + 600}]}


def test_recover_groups_run_twice_reports_the_same_recovered_instances(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, frozen_now
):
    # Given an instance a dead run left in Standby
    left = fleet.instance_ids[0]
    tag(aws, left, "InProgress", "run-dead")
    standby(aws, "web", left)
    app = load_handler("recover_groups")
    # When this run recovers "web" twice (the first answer lost)
    first, second = twice(app, recover_event("web"), lambda_context)
    # Then the retry reports the same instance to wait for
    assert second == first


def test_recover_groups_tags_an_in_service_leftover_failed_without_exit_standby(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, api_calls
):
    # Given an instance a dead run tagged InProgress before taking it out of service
    left = fleet.instance_ids[1]
    tag(aws, left, "InProgress", "run-dead")
    app = load_handler("recover_groups")
    # When this run recovers "web"
    result = app.lambda_handler(recover_event("web"), lambda_context)
    # Then no ExitStandby is called, the instance is tagged Failed for the dead run, and the alert says so
    assert calls_to(api_calls, "ExitStandby") == []
    assert patch_tags(aws, left) == {PATCH_TAG_KEY: "Failed", RUN_TAG_KEY: "run-dead"}
    [(_, body, _)] = sent_messages(alert_topic)
    assert "Instance:     it was InService; it is patched again in this run" in body
    assert [r["InstanceId"] for r in result["Recovered"]] == [left]


def test_recover_groups_leaves_this_runs_and_finished_instances_alone(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, api_calls
):
    # Given one instance InProgress in this run, one Completed and one Failed by an older run
    a, b, c = fleet.instance_ids
    tag(aws, a, "InProgress", RUN_ID)
    tag(aws, b, "Completed", "run-old")
    tag(aws, c, "Failed", "run-old")
    before = fleet_snapshot(aws, "web")
    app = load_handler("recover_groups")
    # When this run recovers "web"
    result = app.lambda_handler(recover_event("web"), lambda_context)
    # Then nothing is recovered, changed or alerted
    assert result == {"Recovered": []}
    assert fleet_snapshot(aws, "web") == before
    assert sent_messages(alert_topic) == []
    assert calls_to(api_calls, "CreateTags") == []


def test_recover_groups_asks_to_be_retried_while_a_leftover_is_entering_standby(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context
):
    # Given an instance a dead run left EnteringStandby
    left = fleet.instance_ids[0]
    tag(aws, left, "InProgress", "run-dead")
    set_lifecycle_state("web", left, "EnteringStandby")
    app = load_handler("recover_groups")
    # When this run recovers "web", twice
    errors = raises_twice(app, recover_event("web"), lambda_context, InstanceNotReady)
    # Then InstanceNotReady names it and the dead run, and nothing was tagged or alerted yet
    assert str(errors[0]) == f"Instance {left}, left by run run-dead, is still EnteringStandby."
    assert patch_tags(aws, left) == {PATCH_TAG_KEY: "InProgress", RUN_TAG_KEY: "run-dead"}
    assert sent_messages(alert_topic) == []


def test_recover_groups_restores_a_min_size_a_dead_run_lowered(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, api_calls
):
    # Given "web" whose MinSize a dead run lowered from 2 to 1, recorded in the ledger
    aws.client("dynamodb").put_item(
        TableName=ledger,
        Item={"Id": {"S": "minsize#web"}, "OriginalMinSize": {"N": "2"}, "RunId": {"S": "run-dead"}},
    )
    app = load_handler("recover_groups")
    # When this run recovers "web", twice
    twice(app, recover_event("web"), lambda_context)
    # Then MinSize is 2 again, once, and the record is gone
    assert group_of(aws, "web")["MinSize"] == 2
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == [{"AutoScalingGroupName": "web", "MinSize": 2}]
    assert ledger_item(aws, ledger, "minsize#web") is None


# =====================================================================================================
# check_safe_to_continue (the gate before each instance)
# =====================================================================================================


def gate_event(instance, group="web", max_errors=0, alarm_names=()):
    return {
        "GroupName": group,
        "InstanceId": instance,
        "RunId": RUN_ID,
        "ExecutionArn": EXECUTION_ARN,
        "MaxErrors": max_errors,
        "AlarmNames": list(alarm_names),
    }


def cpu_alarm(aws, state):
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="cpu-high",
        MetricName="CPUUtilization",
        Namespace="AWS/EC2",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=90,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName="cpu-high", StateValue=state, StateReason="test")


def test_check_safe_to_continue_proceeds_when_all_is_well(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, api_calls
):
    # Given a healthy group, no failure in the run and an alarm in OK
    cpu_alarm(aws, "OK")
    app = load_handler("check_safe_to_continue")
    # When the gate is checked before the first instance, twice
    results = twice(app, gate_event(fleet.instance_ids[0], alarm_names=["cpu-high"]), lambda_context)
    # Then the run goes on, nothing is recorded and nobody is alerted
    assert results == [{"Proceed": True, "Reason": None}] * 2
    assert mutating(api_calls) == []
    assert sent_messages(alert_topic) == []


def test_check_safe_to_continue_stops_once_failures_exceed_max_errors(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context
):
    # Given one instance this run marked Failed (already alerted), and two an older run marked Failed
    a, b, c = fleet.instance_ids
    mark_failed(load_handler, lambda_context, a)
    mark_failed(load_handler, lambda_context, b, run_id="run-old")
    mark_failed(load_handler, lambda_context, c, run_id="run-old")
    app = load_handler("check_safe_to_continue")
    # When the gate is checked with MaxErrors 0, twice, and with MaxErrors 1
    results = twice(app, gate_event(b), lambda_context)
    allowed = app.lambda_handler(gate_event(b, max_errors=1), lambda_context)
    # Then the run stops on this run's failure only, and sends no second alert for it
    assert results == [{"Proceed": False, "Reason": "1 instance(s) failed, more than MaxErrors=0"}] * 2
    assert allowed == {"Proceed": True, "Reason": None}
    assert sent_messages(alert_topic) == []


def test_check_safe_to_continue_stops_the_run_while_another_instance_is_out_of_service(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context
):
    # Given another instance of "web" in Standby
    nxt, other = fleet.instance_ids[0], fleet.instance_ids[1]
    standby(aws, "web", other)
    app = load_handler("check_safe_to_continue")
    # When the gate is checked before the next instance, twice
    results = twice(app, gate_event(nxt), lambda_context)
    # Then the run stops, naming the instance and its state, and the reason is recorded for the run
    reason = f"before {nxt} of web: {other} is Standby"
    assert results == [{"Proceed": False, "Reason": reason}] * 2
    assert ledger_item(aws, ledger, f"stop#{RUN_ID}")["Reason"]["S"] == reason
    # and one alert, not two, tells on-call why and what to do
    [(_, body, subject)] = sent_messages(alert_topic)
    assert sent_kinds(alert_topic) == ["run-stopped"]
    assert subject == f"Patching stopped: run {RUN_ID}"
    assert f"Why:        {reason}" in body
    assert "the run ends FAILED with error RunStopped" in body
    assert f"#/v2/executions/details/{EXECUTION_ARN}" in body


def test_check_safe_to_continue_stops_the_run_while_another_instance_is_unhealthy(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context
):
    # Given another InService instance missing from the group's target group
    nxt, other = fleet.instance_ids[0], fleet.instance_ids[2]
    aws.client("elbv2").deregister_targets(TargetGroupArn=fleet.target_group_arn, Targets=[{"Id": other}])
    app = load_handler("check_safe_to_continue")
    # When the gate is checked before the next instance
    result = app.lambda_handler(gate_event(nxt), lambda_context)
    # Then the run stops, naming the instance and the target group
    assert result["Proceed"] is False
    assert result["Reason"] == f"before {nxt} of web: {other} is not registered in target group web-tg"


@pytest.mark.parametrize("named_by", ["run input", "group tag"])
def test_check_safe_to_continue_stops_the_run_on_an_alarm(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, named_by
):
    # Given the alarm cpu-high in ALARM, named by the run input or by the group's AutoPatchAlarmNames tag
    cpu_alarm(aws, "ALARM")
    alarm_names = ["cpu-high"] if named_by == "run input" else []
    if named_by == "group tag":
        set_group_tag(aws, "web", "AutoPatchAlarmNames", "5xx-rate, cpu-high")
    app = load_handler("check_safe_to_continue")
    # When the gate is checked, twice
    results = twice(app, gate_event(fleet.instance_ids[0], alarm_names=alarm_names), lambda_context)
    # Then the run stops on the alarm, and one alert says so
    reason = f"before {fleet.instance_ids[0]} of web: alarm cpu-high is in ALARM"
    assert results == [{"Proceed": False, "Reason": reason}] * 2
    assert len(sent_messages(alert_topic)) == 1


def test_check_safe_to_continue_stops_the_run_on_a_composite_alarm(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context
):
    # Given a composite alarm app-health in ALARM (moto has no PutCompositeAlarm; DescribeAlarms answers as AWS
    # does: composite alarms only when AlarmTypes asks for them)
    composite = {"AlarmName": "app-health", "StateValue": "ALARM", "AlarmRule": 'ALARM("cpu-high")'}

    def describe_alarms(AlarmNames, AlarmTypes=("MetricAlarm",), **_):
        wanted = "CompositeAlarm" in AlarmTypes and "app-health" in AlarmNames
        return {"MetricAlarms": [], "CompositeAlarms": [composite] if wanted else []}

    app = load_handler("check_safe_to_continue")
    # When the gate is checked with AlarmNames ["app-health"]
    with mock.patch.object(autopatch.clients.client("cloudwatch"), "describe_alarms", side_effect=describe_alarms):
        result = app.lambda_handler(gate_event(fleet.instance_ids[0], alarm_names=["app-health"]), lambda_context)
    # Then the run stops on it
    assert result["Proceed"] is False


@pytest.mark.parametrize(
    ("tag_value", "state"),
    [("paused", "paused"), ("disabled", "tagged AutoPatch=disabled"), (None, "no longer opted in")],
)
def test_check_safe_to_continue_pauses_a_group_taken_out_of_the_run(
    aws, fleet, fleet_builder, ledger, alert_topic, load_handler, lambda_context, tag_value, state
):
    # Given "web" re-tagged (or untagged) while the run goes on, and "api" still opted in
    api = fleet_builder.group("api", size=2)
    if tag_value is None:
        aws.client("autoscaling").delete_tags(
            Tags=[{"ResourceId": "web", "ResourceType": "auto-scaling-group", "Key": "AutoPatch"}]
        )
    else:
        set_group_tag(aws, "web", "AutoPatch", tag_value)
    app = load_handler("check_safe_to_continue")
    # When the gate is checked for "web", twice, then for "api"
    results = twice(app, gate_event(fleet.instance_ids[0]), lambda_context)
    other_group = app.lambda_handler(gate_event(api.instance_ids[0], group="api"), lambda_context)
    # Then "web" stops with the reason, one alert says only this group pauses, and "api" goes on
    reason = f"group web is {state}: its remaining instances are left as they are"
    assert results == [{"Proceed": False, "Reason": reason}] * 2
    assert other_group == {"Proceed": True, "Reason": None}
    [(_, body, subject)] = sent_messages(alert_topic)
    assert sent_kinds(alert_topic) == ["group-paused"]
    assert subject == f"Patching paused for a group in run {RUN_ID}"
    assert "the other groups go on" in body
    assert ledger_item(aws, ledger, f"stop#{RUN_ID}#web")["Reason"]["S"] == reason


def test_check_safe_to_continue_stops_every_group_once_the_run_stopped(
    aws, fleet, fleet_builder, ledger, alert_topic, load_handler, lambda_context
):
    # Given the run stopped by the gate of group "web" (one alert sent)
    api = fleet_builder.group("api", size=2)
    standby(aws, "web", fleet.instance_ids[1])
    app = load_handler("check_safe_to_continue")
    stopped = app.lambda_handler(gate_event(fleet.instance_ids[0]), lambda_context)
    # When the gate of the healthy group "api" is checked
    result = app.lambda_handler(gate_event(api.instance_ids[0], group="api"), lambda_context)
    # Then "api" stops too, with the run's reason, and no second alert
    assert result == {"Proceed": False, "Reason": stopped["Reason"]}
    assert len(sent_messages(alert_topic)) == 1


def test_check_safe_to_continue_retried_after_a_failed_publish_still_alerts(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context
):
    # Given another instance out of service, and SNS throttling the first publish
    standby(aws, "web", fleet.instance_ids[1])
    app = load_handler("check_safe_to_continue")
    sns = autopatch.clients.client("sns")
    with mock.patch.object(sns, "publish", side_effect=throttled("Publish")), pytest.raises(AwsThrottled):
        app.lambda_handler(gate_event(fleet.instance_ids[0]), lambda_context)
    # When the state machine retries the gate
    result = app.lambda_handler(gate_event(fleet.instance_ids[0]), lambda_context)
    # Then the run stops and on-call is alerted
    assert result["Proceed"] is False
    assert len(sent_messages(alert_topic)) == 1


# =====================================================================================================
# tag_instance
# =====================================================================================================


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


def test_tag_instance_overwrites_the_state_of_an_earlier_run(aws, fleet, load_handler, lambda_context):
    # Given an instance marked Failed by an earlier run
    instance = fleet.instance_ids[0]
    tag(aws, instance, "Failed", "run-old")
    app = load_handler("tag_instance")
    # When this run marks it Completed
    app.lambda_handler({"InstanceId": instance, "Value": "Completed", "RunId": RUN_ID}, lambda_context)
    # Then the tags show this run's result only
    assert patch_tags(aws, instance) == {PATCH_TAG_KEY: "Completed", RUN_TAG_KEY: RUN_ID}


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


# =====================================================================================================
# enter_standby
# =====================================================================================================


def standby_event(instance, group="web", **extra):
    return {"GroupName": group, "InstanceId": instance, "TimeoutSeconds": 900, **extra}


def test_enter_standby_moves_the_instance_to_standby_and_lowers_capacity_once(
    aws, fleet, load_handler, lambda_context, api_calls, frozen_now
):
    # Given "web" with 3 InService instances, desired capacity 3
    instance = fleet.instance_ids[0]
    app = load_handler("enter_standby")
    # When the instance is sent to standby, twice
    first, second = twice(app, standby_event(instance), lambda_context)
    # Then the instance is in Standby (moto skips EnteringStandby) and capacity dropped by one, once
    assert lifecycle(aws, instance) == "Standby"
    assert desired(aws, "web") == 2
    assert calls_to(api_calls, "EnterStandby") == [
        {"AutoScalingGroupName": "web", "InstanceIds": [instance], "ShouldDecrementDesiredCapacity": True}
    ]
    # and each call returns the state it saw and a deadline TimeoutSeconds from now
    assert first == {"LifecycleState": "EnteringStandby", "Deadline": frozen_now + 900}
    assert second == {"LifecycleState": "Standby", "Deadline": frozen_now + 900}
    # and the other instances are untouched, MinSize too, and the ledger was not needed
    assert [lifecycle(aws, other) for other in fleet.instance_ids[1:]] == ["InService", "InService"]
    assert group_of(aws, "web")["MinSize"] == 1
    assert [s for s, _, _ in api_calls if s == "dynamodb"] == []


def test_enter_standby_with_lower_min_size_lowers_a_group_at_its_minimum_once(
    aws, fleet_builder, ledger, load_handler, lambda_context, api_calls
):
    # Given "web" at its minimum (MinSize 3, desired 3), and a run with LowerMinSize
    web = fleet_builder.group("web", size=3, min_size=3)
    instance = web.instance_ids[0]
    app = load_handler("enter_standby")
    # When the instance is sent to standby, twice
    twice(app, standby_event(instance, LowerMinSize=True, RunId=RUN_ID), lambda_context)
    # Then MinSize went to 2 once, the original is recorded for this run, and the instance is in Standby
    grp = group_of(aws, "web")
    assert (grp["MinSize"], grp["DesiredCapacity"], lifecycle(aws, instance)) == (2, 2, "Standby")
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == [{"AutoScalingGroupName": "web", "MinSize": 2}]
    item = ledger_item(aws, ledger, "minsize#web")
    assert (item["OriginalMinSize"]["N"], item["RunId"]["S"]) == ("3", RUN_ID)


def test_enter_standby_with_lower_min_size_leaves_a_group_above_its_minimum(
    aws, fleet, ledger, load_handler, lambda_context, api_calls
):
    # Given "web" above its minimum (MinSize 1, desired 3), and a run with LowerMinSize
    app = load_handler("enter_standby")
    # When an instance is sent to standby
    app.lambda_handler(standby_event(fleet.instance_ids[0], LowerMinSize=True, RunId=RUN_ID), lambda_context)
    # Then MinSize is untouched and nothing is recorded
    assert group_of(aws, "web")["MinSize"] == 1
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == []
    assert ledger_item(aws, ledger, "minsize#web") is None


def test_enter_standby_leaves_an_instance_that_is_already_entering_standby(
    aws, fleet, load_handler, lambda_context, api_calls
):
    # Given an instance on its way into Standby
    instance = fleet.instance_ids[0]
    set_lifecycle_state("web", instance, "EnteringStandby")
    app = load_handler("enter_standby")
    # When it is sent to standby again
    result = app.lambda_handler(standby_event(instance), lambda_context)
    # Then nothing is called and the state is reported
    assert result["LifecycleState"] == "EnteringStandby"
    assert mutating(api_calls) == []
    assert desired(aws, "web") == 3


def test_enter_standby_refuses_an_instance_of_another_group(
    aws, fleet, fleet_builder, load_handler, lambda_context, api_calls
):
    # Given an instance of the group "api"
    api = fleet_builder.group("api", size=2)
    stranger = api.instance_ids[0]
    app = load_handler("enter_standby")
    # When the run asks to take it out of "web", twice
    errors = raises_twice(app, standby_event(stranger), lambda_context, InstanceNotInGroup)
    # Then InstanceNotInGroup names instance and group, and neither group changed
    assert str(errors[0]) == f"Instance {stranger} is not a member of group web."
    assert calls_to(api_calls, "EnterStandby") == []
    assert lifecycle(aws, stranger) == "InService"
    assert (desired(aws, "web"), desired(aws, "api")) == (3, 2)


def test_enter_standby_refuses_an_instance_in_no_group(aws, fleet, load_handler, lambda_context):
    # Given an instance id that no Auto Scaling group knows
    app = load_handler("enter_standby")
    # When the run asks to take it out of "web"
    # Then InstanceNotInGroup names it
    with pytest.raises(InstanceNotInGroup, match="i-0123456789abcdef0 is not a member of group web"):
        app.lambda_handler(standby_event("i-0123456789abcdef0"), lambda_context)


def test_enter_standby_refuses_an_instance_that_is_not_in_service(aws, fleet, load_handler, lambda_context, api_calls):
    # Given an instance still Pending
    instance = fleet.instance_ids[0]
    set_lifecycle_state("web", instance, "Pending")
    app = load_handler("enter_standby")
    # When it is sent to standby, twice
    errors = raises_twice(app, standby_event(instance), lambda_context, InstanceNotInService)
    # Then InstanceNotInService says what state it is in, and capacity is unchanged
    assert str(errors[0]) == f"Instance {instance} is Pending; only an InService instance can enter standby."
    assert calls_to(api_calls, "EnterStandby") == []
    assert desired(aws, "web") == 3


def test_enter_standby_turns_resource_contention_into_a_named_error(aws, fleet, load_handler, lambda_context):
    # Given Auto Scaling busy with another update of the group
    instance = fleet.instance_ids[0]
    app = load_handler("enter_standby")
    described = {
        "AutoScalingInstances": [
            {
                "InstanceId": instance,
                "AutoScalingGroupName": "web",
                "AvailabilityZone": f"{REGION}a",
                "LifecycleState": "InService",
                "HealthStatus": "HEALTHY",
                "ProtectedFromScaleIn": False,
            }
        ]
    }
    # When the instance is sent to standby
    with Stubber(autopatch.clients.client("autoscaling")) as stub:
        stub.add_response("describe_auto_scaling_instances", described, {"InstanceIds": [instance]})
        stub.add_client_error(
            "enter_standby",
            service_error_code="ResourceContention",
            service_message="pending update",
            http_status_code=500,
        )
        with pytest.raises(ResourceContention) as caught:
            app.lambda_handler(standby_event(instance), lambda_context)
    # Then the state machine gets ResourceContention, which it retries with back-off
    assert str(caught.value) == "EnterStandby: pending update"


# =====================================================================================================
# check_standby (polls inside one invocation)
# =====================================================================================================


def wait_event(instance, deadline, group="web", interval=5):
    return {"GroupName": group, "InstanceId": instance, "Deadline": deadline, "PollIntervalSeconds": interval}


def test_check_standby_is_true_at_once_when_the_instance_is_in_standby(
    aws, fleet, clock, load_handler, make_lambda_context, api_calls
):
    # Given an instance in Standby
    instance = fleet.instance_ids[0]
    standby(aws, "web", instance)
    app = load_handler("check_standby")
    # When it is checked, twice, even after its deadline
    results = [app.lambda_handler(wait_event(instance, 0), make_lambda_context()) for _ in range(2)]
    # Then it is in standby without waiting, and checking changed nothing
    assert results == [{"InStandby": True}, {"InStandby": True}]
    assert clock.slept == []
    assert mutating(api_calls) == []


def test_check_standby_polls_until_the_instance_reaches_standby(aws, fleet, clock, load_handler, make_lambda_context):
    # Given an instance that reaches Standby ten seconds from now
    instance = fleet.instance_ids[0]
    clock.at(10, lambda: standby(aws, "web", instance))
    app = load_handler("check_standby")
    # When it is checked, polling every 5 seconds within a 5-minute invocation
    result = app.lambda_handler(wait_event(instance, clock.now + 900), make_lambda_context(300))
    # Then the one invocation waited for it
    assert result == {"InStandby": True}
    assert clock.slept == [5, 5]


def test_check_standby_hands_back_to_the_state_machine_before_the_invocation_runs_out(
    aws, fleet, clock, load_handler, make_lambda_context
):
    # Given an instance still InService, far from its deadline, and invocations of 12 seconds
    app = load_handler("check_standby")
    event = wait_event(fleet.instance_ids[0], clock.now + 900)
    # When it is checked, twice (a new invocation each time)
    results = [app.lambda_handler(copy_of(event), make_lambda_context(12)) for _ in range(2)]
    # Then each invocation polls while a poll and 5 s reserve still fit (12 s: once more), then says "not yet"
    assert results == [{"InStandby": False}, {"InStandby": False}]
    assert clock.slept == [5, 5]


def test_check_standby_times_out_once_the_deadline_passes_while_polling(
    aws, fleet, clock, load_handler, make_lambda_context
):
    # Given an instance that stays InService, and a deadline 7 seconds away
    instance = fleet.instance_ids[0]
    app = load_handler("check_standby")
    # When it is checked
    with pytest.raises(StandbyTimedOut) as caught:
        app.lambda_handler(wait_event(instance, clock.now + 7), make_lambda_context(300))
    # Then the wait ends with StandbyTimedOut at the first poll past the deadline, naming instance and state
    assert clock.slept == [5, 5]
    assert str(caught.value) == f"Instance {instance} was still InService when its standby wait ran out."


def test_check_standby_past_its_deadline_times_out_at_once(aws, fleet, clock, load_handler, make_lambda_context):
    # Given an instance still InService, and a deadline a second ago
    app = load_handler("check_standby")
    event = wait_event(fleet.instance_ids[0], clock.now - 1)
    # When it is checked, twice
    for _ in range(2):
        with pytest.raises(StandbyTimedOut):
            app.lambda_handler(copy_of(event), make_lambda_context())
    # Then it timed out without waiting
    assert clock.slept == []


# =====================================================================================================
# send_patch_command (the task waits for its token)
# =====================================================================================================


TOKEN = "token-attempt-1"


def patch_event(instance, run_id=RUN_ID, token=TOKEN, **overrides):
    return {
        "InstanceId": instance,
        "RunId": run_id,
        "TaskToken": token,
        "Operation": "Install",
        "RebootOption": "NoReboot",
        "SnapshotId": SNAPSHOT_ID,
        "TimeoutSeconds": 3600,
        **overrides,
    }


def waiting(aws, table, instance):
    item = ledger_item(aws, table, f"wait#{instance}")
    return None if item is None else {k: v["S"] for k, v in item.items() if "S" in v}


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
    # and the ledger says which task waits for which command on this instance
    assert waiting(aws, ledger, instance) == {
        "Id": f"wait#{instance}",
        "RunId": RUN_ID,
        "TaskToken": TOKEN,
        "CommandId": first["CommandId"],
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


# =====================================================================================================
# command_finished (EventBridge: EC2 Command Invocation Status-change Notification)
# =====================================================================================================


def command_event(instance, command_id, status):
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "EC2 Command Invocation Status-change Notification",
        "source": "aws.ssm",
        "account": ACCOUNT,
        "time": "2026-11-25T12:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance}"],
        "detail": {
            "command-id": command_id,
            "document-name": PATCH_DOCUMENT,
            "instance-id": instance,
            "requested-date-time": "2026-11-25T11:50:00Z",
            "status": status,
        },
    }


@pytest.fixture
def sent_patch(aws, fleet, ledger, load_handler, lambda_context):
    """An instance whose patch command this run sent, its task waiting on TOKEN."""
    instance = fleet.instance_ids[0]
    sent = load_handler("send_patch_command").lambda_handler(patch_event(instance), lambda_context)
    return SimpleNamespace(instance=instance, command_id=sent["CommandId"])


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


# =====================================================================================================
# cancel_patch_command
# =====================================================================================================


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


# =====================================================================================================
# exit_standby
# =====================================================================================================


def exit_event(instance, group="web", **extra):
    return {"GroupName": group, "InstanceId": instance, "TimeoutSeconds": 600, **extra}


def test_exit_standby_returns_the_instance_to_service_and_restores_capacity_once(
    aws, fleet, load_handler, lambda_context, api_calls, frozen_now
):
    # Given an instance the run put in Standby (desired capacity 3 -> 2)
    instance = fleet.instance_ids[0]
    load_handler("enter_standby").lambda_handler(standby_event(instance), lambda_context)
    assert (lifecycle(aws, instance), desired(aws, "web")) == ("Standby", 2)
    app = load_handler("exit_standby")
    # When it is returned to service, twice
    first, second = twice(app, exit_event(instance), lambda_context)
    # Then it is InService (moto skips Pending) and capacity is back to 3, raised once
    assert lifecycle(aws, instance) == "InService"
    assert desired(aws, "web") == 3
    assert calls_to(api_calls, "ExitStandby") == [{"AutoScalingGroupName": "web", "InstanceIds": [instance]}]
    # and the second call is a no-op that reports the state, each with the health deadline
    assert first == {"LifecycleState": "Pending", "Deadline": frozen_now + 600}
    assert second == {"LifecycleState": "InService", "Deadline": frozen_now + 600}


def test_exit_standby_with_lower_min_size_puts_the_min_size_back_once(
    aws, fleet_builder, ledger, load_handler, lambda_context, api_calls
):
    # Given "web" (MinSize 3) whose instance the run took out with LowerMinSize (MinSize 3 -> 2)
    web = fleet_builder.group("web", size=3, min_size=3)
    instance = web.instance_ids[0]
    load_handler("enter_standby").lambda_handler(
        standby_event(instance, LowerMinSize=True, RunId=RUN_ID), lambda_context
    )
    app = load_handler("exit_standby")
    # When it is returned to service with LowerMinSize, twice
    twice(app, exit_event(instance, LowerMinSize=True), lambda_context)
    # Then MinSize and capacity are 3 again, MinSize put back once, and the ledger record is gone
    grp = group_of(aws, "web")
    assert (grp["MinSize"], grp["DesiredCapacity"], lifecycle(aws, instance)) == (3, 3, "InService")
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == [
        {"AutoScalingGroupName": "web", "MinSize": 2},
        {"AutoScalingGroupName": "web", "MinSize": 3},
    ]
    assert ledger_item(aws, ledger, "minsize#web") is None


def test_exit_standby_leaves_an_instance_that_never_left_service(aws, fleet, load_handler, lambda_context, api_calls):
    # Given an InService instance (its run failed before standby)
    instance = fleet.instance_ids[0]
    app = load_handler("exit_standby")
    # When it is returned to service
    result = app.lambda_handler(exit_event(instance), lambda_context)
    # Then nothing is called and capacity is unchanged
    assert result["LifecycleState"] == "InService"
    assert calls_to(api_calls, "ExitStandby") == []
    assert desired(aws, "web") == 3


def test_exit_standby_asks_to_be_retried_while_the_instance_is_entering_standby(
    aws, fleet, load_handler, lambda_context, api_calls
):
    # Given an instance still EnteringStandby
    instance = fleet.instance_ids[0]
    set_lifecycle_state("web", instance, "EnteringStandby")
    app = load_handler("exit_standby")
    # When it is returned to service, twice
    errors = raises_twice(app, exit_event(instance), lambda_context, InstanceNotReady)
    # Then InstanceNotReady (which the state machine retries) says so, and nothing was called
    assert str(errors[0]) == f"Instance {instance} is still EnteringStandby."
    assert calls_to(api_calls, "ExitStandby") == []
    assert lifecycle(aws, instance) == "EnteringStandby"


def test_exit_standby_refuses_an_instance_of_another_group(
    aws, fleet, fleet_builder, load_handler, lambda_context, api_calls
):
    # Given an instance of "api" in Standby
    api = fleet_builder.group("api", size=2)
    stranger = api.instance_ids[0]
    standby(aws, "api", stranger)
    app = load_handler("exit_standby")
    # When the run asks "web" to take it back
    # Then InstanceNotInGroup, and it stays in Standby
    with pytest.raises(InstanceNotInGroup, match=f"{stranger} is not a member of group web"):
        app.lambda_handler(exit_event(stranger), lambda_context)
    assert calls_to(api_calls, "ExitStandby") == []
    assert lifecycle(aws, stranger) == "Standby"


# =====================================================================================================
# check_health (polls inside one invocation)
# =====================================================================================================


def unhealthy(instance, state="unhealthy"):
    return {
        "TargetHealthDescriptions": [
            {
                "Target": {"Id": instance, "Port": 80},
                "TargetHealth": {"State": state, "Reason": "Target.FailedHealthChecks"},
            }
        ]
    }


def healthy(instance):
    return {
        "TargetHealthDescriptions": [{"Target": {"Id": instance, "Port": 80}, "TargetHealth": {"State": "healthy"}}]
    }


def test_check_health_is_true_when_in_service_and_healthy_in_the_target_group(
    aws, fleet, clock, load_handler, make_lambda_context, api_calls
):
    # Given an InService instance registered and healthy in the group's target group
    instance = fleet.instance_ids[0]
    elbv2 = aws.client("elbv2")
    registered = elbv2.describe_target_health(TargetGroupArn=fleet.target_group_arn)["TargetHealthDescriptions"]
    if instance not in {d["Target"]["Id"] for d in registered}:  # moto registers the ASG's instances itself
        elbv2.register_targets(TargetGroupArn=fleet.target_group_arn, Targets=[{"Id": instance}])
    app = load_handler("check_health")
    # When it is checked, twice, even past its deadline
    results = [app.lambda_handler(wait_event(instance, 0), make_lambda_context()) for _ in range(2)]
    # Then it is healthy at once, and its target group was asked about this instance
    assert results == [{"Healthy": True}, {"Healthy": True}]
    assert clock.slept == []
    assert calls_to(api_calls, "DescribeTargetHealth")[0] == {
        "TargetGroupArn": fleet.target_group_arn,
        "Targets": [{"Id": instance}],
    }
    assert mutating(api_calls) == []


def test_check_health_polls_until_the_target_turns_healthy(aws, fleet, clock, load_handler, make_lambda_context):
    # Given an InService instance its target group reports unhealthy, then initial, then healthy
    instance = fleet.instance_ids[0]
    app = load_handler("check_health")
    expected = {"TargetGroupArn": fleet.target_group_arn, "Targets": [{"Id": instance}]}
    # When it is checked within one invocation
    with Stubber(autopatch.clients.client("elbv2")) as stub:
        stub.add_response("describe_target_health", unhealthy(instance), expected)
        stub.add_response("describe_target_health", unhealthy(instance, "initial"), expected)
        stub.add_response("describe_target_health", healthy(instance), expected)
        result = app.lambda_handler(wait_event(instance, clock.now + 600), make_lambda_context(300))
        stub.assert_no_pending_responses()
    # Then that invocation waited until it was healthy
    assert result == {"Healthy": True}
    assert clock.slept == [5, 5]


def test_check_health_hands_back_while_unhealthy_before_the_deadline(
    aws, fleet, clock, load_handler, make_lambda_context
):
    # Given an InService instance its target group keeps reporting unhealthy, and 12-second invocations
    instance = fleet.instance_ids[0]
    app = load_handler("check_health")
    # When it is checked, twice, well before its deadline
    with Stubber(autopatch.clients.client("elbv2")) as stub:
        for _ in range(4):
            stub.add_response("describe_target_health", unhealthy(instance))
        results = [app.lambda_handler(wait_event(instance, clock.now + 600), make_lambda_context(12)) for _ in range(2)]
    # Then each says "not yet" before its time runs out
    assert results == [{"Healthy": False}, {"Healthy": False}]


@pytest.mark.parametrize(
    ("descriptions", "shown"), [(unhealthy("x")["TargetHealthDescriptions"], "unhealthy"), ([], "not registered")]
)
def test_check_health_times_out_naming_the_target_group(
    aws, fleet, clock, load_handler, make_lambda_context, descriptions, shown
):
    # Given an InService instance unhealthy in (or missing from) its target group, past its deadline
    instance = fleet.instance_ids[0]
    app = load_handler("check_health")
    event = wait_event(instance, clock.now - 1)
    # When it is checked, twice
    errors = []
    with Stubber(autopatch.clients.client("elbv2")) as stub:
        for _ in range(2):
            stub.add_response("describe_target_health", {"TargetHealthDescriptions": descriptions})
            with pytest.raises(HealthCheckTimedOut) as caught:
                app.lambda_handler(copy_of(event), make_lambda_context())
            errors.append(str(caught.value))
    # Then HealthCheckTimedOut names the instance, the target group and what it reported
    assert (
        errors
        == [f"Instance {instance} was not back in service when its health wait ran out: target group web-tg: {shown}."]
        * 2
    )


def test_check_health_waits_for_an_instance_still_in_standby(
    aws, fleet, clock, load_handler, make_lambda_context, api_calls
):
    # Given an instance still in Standby
    instance = fleet.instance_ids[0]
    standby(aws, "web", instance)
    app = load_handler("check_health")
    # When it is checked in a short invocation before its deadline, then once more after it
    before = app.lambda_handler(wait_event(instance, clock.now + 60), make_lambda_context(9))
    with pytest.raises(HealthCheckTimedOut) as caught:
        app.lambda_handler(wait_event(instance, clock.now - 1), make_lambda_context())
    # Then it is not healthy, then times out naming its lifecycle state; load balancers were not asked
    assert before == {"Healthy": False}
    assert str(caught.value).endswith("its health wait ran out: lifecycle state Standby.")
    assert calls_to(api_calls, "DescribeTargetHealth") == []


# =====================================================================================================
# send_alert
# =====================================================================================================


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
    aws, fleet, alert_topic, load_handler, lambda_context, api_calls
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
    # and it is of kind instance-failed, and its subject names instance and group
    assert sent_kinds(alert_topic) == ["instance-failed"]
    assert subject == f"Patching failed: {instance} in web"
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
    aws, fleet, alert_topic, load_handler, lambda_context, command
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


def test_send_alert_run_twice_sends_the_same_alert_twice(aws, fleet, alert_topic, load_handler, lambda_context):
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


def test_send_alert_with_an_empty_cause_still_alerts(aws, fleet, alert_topic, load_handler, lambda_context):
    # Given a failure whose Cause is empty
    app = load_handler("send_alert")
    # When the alert is sent
    app.lambda_handler(failure_event(fleet.instance_ids[0], Cause=""), lambda_context)
    # Then it is published, with an empty Cause line
    [(_, body, _)] = sent_messages(alert_topic)
    assert "Cause:        \n" in body


# =====================================================================================================
# summarize_run
# =====================================================================================================


def result(instance, group, outcome, command_id=None):
    return {"InstanceId": instance, "GroupName": group, "Result": outcome, "CommandId": command_id}


def summary_event(names=("web",), max_errors=0, recovered=()):
    return {
        "RunId": RUN_ID,
        "ExecutionArn": EXECUTION_ARN,
        "GroupNames": list(names),
        "MaxErrors": max_errors,
        "Recovered": list(recovered),
    }


def put_report(aws, bucket, name, document):
    aws.client("s3").put_object(Bucket=bucket, Key=f"runs/{RUN_ID}/{name}", Body=json.dumps(document).encode())


def test_summarize_run_lists_every_planned_instance_and_keeps_the_summary_in_the_report(
    aws, ledger, report_bucket, load_handler, lambda_context
):
    # Given a plan of 4 instances in 2 groups (one skipped by preflight), and the results of two parts
    skipped = {"InstanceId": "i-00000005", "GroupName": "api", "Result": "Skipped", "Reason": "ConnectionLost"}
    put_report(
        aws,
        report_bucket,
        "plan.json",
        {
            "Groups": [
                {"GroupName": "web", "Instances": ["i-00000001", "i-00000002"]},
                {"GroupName": "api", "Instances": ["i-00000003", "i-00000004"]},
            ],
            "Skipped": [skipped],
        },
    )
    record = load_handler("record_results")
    record.lambda_handler(record_event(1, [[result("i-00000001", "web", "Completed", "c-1")]], 1), lambda_context)
    part2 = [[result("i-00000002", "web", "Failed", "c-2")], [result("i-00000003", "api", "Completed", "c-3")]]
    record.lambda_handler(record_event(2, part2, 1), lambda_context)
    app = load_handler("summarize_run")
    # When the run is summarized, twice
    first, second = twice(app, summary_event(["web", "api"], max_errors=1), lambda_context)
    # Then both agree: every planned instance with its result, the one no part reached NotStarted
    assert first == second
    assert [(i["InstanceId"], i["Result"], i["CommandId"]) for i in first["Instances"]] == [
        ("i-00000001", "Completed", "c-1"),
        ("i-00000002", "Failed", "c-2"),
        ("i-00000003", "Completed", "c-3"),
        ("i-00000004", "NotStarted", None),
        ("i-00000005", "Skipped", None),
    ]
    assert first["Counts"] == {"Completed": 2, "Failed": 1, "Skipped": 1, "NotStarted": 1}
    assert first["Status"] == "Succeeded"
    assert first["Message"] == (
        "2 instance(s) patched, 1 failed (MaxErrors=1). 1 skipped (already compliant, or SSM agent offline)."
    )
    # and the summary is kept in the run's report, where the output points
    assert first["ReportLocation"] == f"s3://{report_bucket}/runs/{RUN_ID}/summary.json"
    body = aws.client("s3").get_object(Bucket=report_bucket, Key=f"runs/{RUN_ID}/summary.json")["Body"]
    assert json.loads(body.read()) == {k: v for k, v in first.items() if k != "ReportLocation"}


def test_summarize_run_fails_only_when_failures_exceed_max_errors(
    aws, ledger, report_bucket, load_handler, lambda_context
):
    # Given a plan of two instances, the first Failed, MaxErrors 0
    put_report(
        aws,
        report_bucket,
        "plan.json",
        {"Groups": [{"GroupName": "web", "Instances": ["i-01", "i-02"]}], "Skipped": []},
    )
    put_report(aws, report_bucket, "results-00001.json", [result("i-01", "web", "Failed", "c-1")])
    app = load_handler("summarize_run")
    # When the run is summarized
    summary = app.lambda_handler(summary_event(), lambda_context)
    # Then it failed, and says how many were left untouched
    assert summary["Status"] == "Failed"
    assert summary["Message"] == "1 instance(s) failed, more than MaxErrors=0: 1 instance(s) were left untouched."


def test_summarize_run_reports_why_the_gate_stopped_the_run(
    aws, fleet, ledger, report_bucket, alert_topic, load_handler, lambda_context
):
    # Given a run the gate stopped before its first instance because another one was in Standby
    put_report(
        aws,
        report_bucket,
        "plan.json",
        {"Groups": [{"GroupName": "web", "Instances": fleet.instance_ids}], "Skipped": []},
    )
    standby(aws, "web", fleet.instance_ids[1])
    stopped = load_handler("check_safe_to_continue").lambda_handler(gate_event(fleet.instance_ids[0]), lambda_context)
    app = load_handler("summarize_run")
    # When the run is summarized
    summary = app.lambda_handler(summary_event(), lambda_context)
    # Then it is Stopped, with the gate's reason
    assert summary["Status"] == "Stopped"
    assert summary["Message"] == f"The run stopped: {stopped['Reason']}. 3 instance(s) were left untouched."


def test_summarize_run_reports_a_paused_group_and_the_recovered_instances(
    aws, fleet, ledger, report_bucket, alert_topic, load_handler, lambda_context
):
    # Given a run whose gate paused "web" (tagged AutoPatch=paused) before its first instance
    put_report(
        aws,
        report_bucket,
        "plan.json",
        {"Groups": [{"GroupName": "web", "Instances": fleet.instance_ids}], "Skipped": []},
    )
    set_group_tag(aws, "web", "AutoPatch", "paused")
    load_handler("check_safe_to_continue").lambda_handler(gate_event(fleet.instance_ids[0]), lambda_context)
    recovered = [{"InstanceId": "i-0abcdef01", "GroupName": "web", "Deadline": NOW}]
    app = load_handler("summarize_run")
    # When the run is summarized
    summary = app.lambda_handler(summary_event(recovered=recovered), lambda_context)
    # Then it succeeded with "web" paused and its instances left, and lists the recovered instance
    assert summary["Status"] == "Succeeded"
    assert summary["PausedGroups"] == ["web"]
    assert summary["Recovered"] == ["i-0abcdef01"]
    assert summary["Message"].endswith("Paused before finishing: web (3 instance(s) were left untouched.)")


def test_summarize_run_of_a_large_run_points_at_the_report_for_the_list(
    aws, ledger, report_bucket, load_handler, lambda_context
):
    # Given a plan of 201 instances, all completed
    instances = [f"i-{n:08x}" for n in range(201)]
    put_report(
        aws, report_bucket, "plan.json", {"Groups": [{"GroupName": "web", "Instances": instances}], "Skipped": []}
    )
    put_report(aws, report_bucket, "results-00001.json", [result(i, "web", "Completed", "c") for i in instances])
    app = load_handler("summarize_run")
    # When the run is summarized
    summary = app.lambda_handler(summary_event(), lambda_context)
    # Then the output counts them and points at the report, which lists all 201
    assert summary["Instances"] == "201 instances: see ReportLocation"
    assert summary["Counts"]["Completed"] == 201
    body = aws.client("s3").get_object(Bucket=report_bucket, Key=f"runs/{RUN_ID}/summary.json")["Body"]
    assert len(json.loads(body.read())["Instances"]) == 201


@pytest.mark.parametrize("notify", ["true", "false"])
def test_summarize_run_sends_the_run_finished_notification_only_when_the_stack_asks(
    aws, ledger, report_bucket, alert_topic, load_handler, lambda_context, monkeypatch, notify
):
    # Given a finished run of two completed instances, and the stack parameter NotifyRunFinished
    monkeypatch.setenv("NOTIFY_RUN_FINISHED", notify)
    plan = {"Groups": [{"GroupName": "web", "Instances": ["i-01", "i-02"]}], "Skipped": []}
    put_report(aws, report_bucket, "plan.json", plan)
    put_report(aws, report_bucket, "results-00001.json", [result(i, "web", "Completed", "c") for i in ("i-01", "i-02")])
    app = load_handler("summarize_run")
    # When the run is summarized
    summary = app.lambda_handler(summary_event(), lambda_context)
    # Then with "true" one run-finished notification tells the result, counts, report and execution
    if notify == "false":
        assert sent_messages(alert_topic) == []
        return
    [(_, body, subject)] = sent_messages(alert_topic)
    assert sent_kinds(alert_topic) == ["run-finished"]
    assert subject == f"Patch run {RUN_ID} finished: Succeeded"
    assert body.splitlines()[0] == summary["Message"]
    assert "Instances:  2 Completed" in body
    assert f"Report:     {summary['ReportLocation']}" in body
    assert f"#/v2/executions/details/{EXECUTION_ARN}" in body


# =====================================================================================================
# notify_slack (SNS subscriber)
# =====================================================================================================

WEBHOOK = "https://hooks.slack.com/services/T0000/B0000/not-a-real-secret"


@pytest.fixture
def slack(aws, monkeypatch):
    """The webhook secret in Secrets Manager (a bare URL unless a test stores another form), and Slack itself:
    slack.send, the HTTP request, replaced by a recorder that answers 200."""
    autopatch.slack._webhook_url.cache_clear()
    monkeypatch.setenv("SLACK_SECRET_NAME", "autopatch/slack-webhook")
    aws.client("secretsmanager").create_secret(Name="autopatch/slack-webhook", SecretString=WEBHOOK)
    posts = []

    def send(url, body):
        posts.append((url, json.loads(body)))
        return 200

    real_send = autopatch.slack.send
    monkeypatch.setattr(autopatch.slack, "send", send)
    yield SimpleNamespace(posts=posts, module=autopatch.slack, real_send=real_send)
    autopatch.slack._webhook_url.cache_clear()


def sns_record(message, subject=None, kind=None):
    attributes = {"kind": {"Type": "String", "Value": kind}} if kind else {}
    return {
        "EventSource": "aws:sns",
        "Sns": {"Type": "Notification", "Subject": subject, "Message": message, "MessageAttributes": attributes},
    }


def test_notify_slack_posts_each_alert_as_a_message_for_people(aws, slack, load_handler, lambda_context):
    # Given an instance-failed alert and an execution-ended alert from EventBridge (no subject, no kind)
    link = execution_console_url(EXECUTION_ARN)
    failure_body = f"Patching instance i-0123456789abcdef0 of Auto Scaling group web failed.\n\nExecution:    {link}"
    event = {
        "Records": [
            sns_record(failure_body, "Patching failed: i-0123456789abcdef0 in web", "instance-failed"),
            sns_record(f'"Execution run-2026-11-25 ended ABORTED"\n{link}'),
        ]
    }
    app = load_handler("notify_slack")
    # When the subscriber gets them, twice (SNS retries a delivery it thinks failed)
    results = twice(app, event, lambda_context)
    # Then each alert was posted to the webhook, every time: Slack has no deduplication either
    assert results == [{"Posted": ["instance-failed", "execution-ended"]}] * 2
    assert [url for url, _ in slack.posts] == [WEBHOOK] * 4
    failed, ended = slack.posts[0][1], slack.posts[1][1]
    # and each says what happened, what to do, and links the execution
    assert failed["text"] == ":x: Patching failed: i-0123456789abcdef0 in web"
    assert failed["blocks"][0]["text"]["text"] == "Patching failed: i-0123456789abcdef0 in web"
    assert "Systems Manager > Run Command" in failed["blocks"][2]["text"]["text"]
    assert failed["blocks"][3]["elements"][0]["url"] == link
    assert ended["text"] == ":rotating_light: Execution run-2026-11-25 ended ABORTED"


@pytest.mark.parametrize(
    "secret",
    [WEBHOOK, f"  {WEBHOOK}\n", json.dumps({"url": WEBHOOK}), json.dumps({"webhook_url": WEBHOOK})],
    ids=["bare URL", "URL with spaces", "url key", "webhook_url key"],
)
def test_notify_slack_reads_the_webhook_in_every_documented_form(aws, slack, load_handler, lambda_context, secret):
    # Given the webhook secret stored in one of its accepted forms
    aws.client("secretsmanager").put_secret_value(SecretId="autopatch/slack-webhook", SecretString=secret)
    app = load_handler("notify_slack")
    # When an alert arrives
    app.lambda_handler({"Records": [sns_record("body", "subject", "run-stopped")]}, lambda_context)
    # Then it is posted to that URL
    assert [url for url, _ in slack.posts] == [WEBHOOK]


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        ("http", "Slack answered HTTP 500"),
        ("network", "Slack could not be reached (ConnectionRefusedError)"),
    ],
)
def test_notify_slack_failure_names_the_status_never_the_webhook(
    aws, slack, load_handler, lambda_context, monkeypatch, capsys, caplog, failure, message
):
    # Given Slack answering 500, or unreachable
    def urlopen(request, timeout):
        if failure == "http":
            raise urllib.error.HTTPError(request.full_url, 500, "Internal Server Error", {}, None)
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))

    monkeypatch.setattr(slack.module, "send", slack.real_send)
    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    app = load_handler("notify_slack")
    # When an alert arrives
    with pytest.raises(SlackPostFailed) as caught:
        app.lambda_handler({"Records": [sns_record("body", "subject", "run-stopped")]}, lambda_context)
    # Then the error (which makes SNS retry) says what went wrong, and the webhook is in no message or log line
    assert str(caught.value) == message
    captured = capsys.readouterr()
    assert WEBHOOK not in captured.out + captured.err + caplog.text
    assert "not-a-real-secret" not in repr(caught.getrepr())


@pytest.mark.parametrize(
    "event",
    [{}, {"Records": []}, {"Records": [{"Sns": {"Subject": "x"}}]}, {"Records": ["x"]}],
    ids=["no records", "no record", "no message", "record not an object"],
)
def test_notify_slack_rejects_an_event_that_is_not_from_sns(aws, slack, load_handler, lambda_context, event):
    # Given an event without SNS records carrying a message
    app = load_handler("notify_slack")
    # When it arrives
    # Then InvalidInput, and nothing is posted
    with pytest.raises(InvalidInput):
        app.lambda_handler(event, lambda_context)
    assert slack.posts == []


# =====================================================================================================
# read_compliance
# =====================================================================================================


def patch_state(instance, installed=12, missing=0, failed=0, pending_reboot=0, operation="Install"):
    """One DescribeInstancePatchStates entry (moto does not implement the call: the Stubber answers it)."""
    return {
        "InstanceId": instance,
        "PatchGroup": "web",
        "BaselineId": "pb-0123456789abcdef0",
        "OperationStartTime": "2026-11-25T12:00:00Z",
        "OperationEndTime": "2026-11-25T12:10:00Z",
        "Operation": operation,
        "InstalledCount": installed,
        "MissingCount": missing,
        "FailedCount": failed,
        "InstalledPendingRebootCount": pending_reboot,
    }


def read_compliance(app, context, instance, operation, *states):
    """Invoke read_compliance once per state given, each answered by DescribeInstancePatchStates."""
    outcomes = []
    with Stubber(autopatch.clients.client("ssm")) as stub:
        for state in states:
            stub.add_response(
                "describe_instance_patch_states",
                {"InstancePatchStates": [] if state is None else [state]},
                {"InstanceIds": [instance]},
            )
            try:
                outcomes.append(app.lambda_handler({"InstanceId": instance, "Operation": operation}, context))
            except PatchesFailed as error:
                outcomes.append(error)
        stub.assert_no_pending_responses()
    return outcomes


def test_read_compliance_reports_the_counts_after_an_install(aws, load_handler, lambda_context, api_calls):
    # Given an instance whose Install left 12 patches installed, one of them waiting for a reboot
    instance = "i-0123456789abcdef0"
    state = patch_state(instance, installed=12, pending_reboot=1)
    app = load_handler("read_compliance")
    # When its compliance is read, twice
    outcomes = read_compliance(app, lambda_context, instance, "Install", state, state)
    # Then both give the counts and say it is compliant, and nothing was changed
    expected = {"installed": 12, "missing": 0, "failed": 0, "pending_reboot": 1, "operation": "Install"}
    assert outcomes == [{"Compliance": expected, "Compliant": True}] * 2
    assert mutating(api_calls) == []


def test_read_compliance_fails_an_install_that_left_failed_patches(aws, load_handler, lambda_context):
    # Given an Install whose command succeeded but which reports 2 failed and 1 missing patch
    instance = "i-0123456789abcdef0"
    state = patch_state(instance, installed=9, missing=1, failed=2)
    app = load_handler("read_compliance")
    # When its compliance is read, twice
    outcomes = read_compliance(app, lambda_context, instance, "Install", state, state)
    # Then both raise PatchesFailed, saying how many failed, were missing and were installed
    assert [type(o) for o in outcomes] == [PatchesFailed, PatchesFailed]
    assert str(outcomes[0]) == (
        f"AWS-RunPatchBaseline succeeded on {instance} but 2 patch(es) failed to install (1 missing, 9 installed)."
    )


def test_read_compliance_after_a_scan_only_reports(aws, load_handler, lambda_context):
    # Given a Scan that found 3 missing and 1 failed patch
    instance = "i-0123456789abcdef0"
    app = load_handler("read_compliance")
    # When its compliance is read
    [outcome] = read_compliance(
        app, lambda_context, instance, "Scan", patch_state(instance, missing=3, failed=1, operation="Scan")
    )
    # Then it is reported as not compliant, without failing: a scan changes nothing
    assert outcome["Compliant"] is False
    assert (outcome["Compliance"]["missing"], outcome["Compliance"]["failed"]) == (3, 1)


def test_read_compliance_without_a_report_is_not_compliant(aws, load_handler, lambda_context):
    # Given an instance for which Patch Manager has no state yet
    instance = "i-0123456789abcdef0"
    app = load_handler("read_compliance")
    # When its compliance is read after an Install
    [outcome] = read_compliance(app, lambda_context, instance, "Install", None)
    # Then there are no counts, it does not count as compliant, and the Install is not failed for it
    assert outcome == {"Compliance": None, "Compliant": False}


def test_read_compliance_rejects_an_unknown_operation(aws, load_handler, lambda_context, api_calls):
    # Given an event whose Operation is neither Install nor Scan
    app = load_handler("read_compliance")
    # When compliance is to be read
    # Then InvalidInput, before any call
    with pytest.raises(InvalidInput, match=r"^Operation must be Install or Scan\.$"):
        app.lambda_handler({"InstanceId": "i-0123456789abcdef0", "Operation": "Patch"}, lambda_context)
    assert api_calls == []
