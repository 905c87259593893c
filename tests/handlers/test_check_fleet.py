"""check_fleet, the preflight: the plan of every instance, or every problem of every group.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import re

import pytest

from autopatch import patching, preflight
from autopatch.errors import GroupLocked, InvalidInput, PreflightFailed
from autopatch.runs import NO_HOOKS
from tests.handlers.helpers import (
    calls_to,
    fleet_event,
    lifecycle,
    mutating,
    raises_twice,
    saved_plan,
    set_group_tag,
    standby,
    tag,
    twice,
)

pytestmark = pytest.mark.usefixtures("ledger")  # the holds and a MinSize a dead run lowered are read there


def test_check_fleet_keeps_the_plan_of_every_in_service_instance_in_the_report(
    aws, fleet, fleet_builder, report_bucket, unimplemented, load_handler, lambda_context, api_calls
):
    # Given two healthy groups whose instances are all InService, healthy in their target group and online in SSM
    api = fleet_builder.group("api", size=2)
    app = load_handler("check_fleet")
    # When the fleet is checked, twice
    first, second = twice(app, fleet_event("web", "api"), lambda_context)
    # Then both return the counts per group, in the run's order, and none skipped
    assert first == second
    assert {k: first[k] for k in ("Groups", "Skipped")} == {
        "Groups": [{"GroupName": "web", "Count": 3}, {"GroupName": "api", "Count": 2}],
        "Skipped": 0,
    }
    # and the forecast: no group measured yet, so 15 minutes an instance (the default), one group after the other
    forecast = first["Forecast"]
    assert (forecast["ExpectedMinutes"], forecast["EndBy"], forecast["FitCount"], forecast["LeftCount"]) == (
        75,
        None,
        5,
        0,
    )
    assert [(g["GroupName"], g["Estimate"], g["StartsAfterMinutes"], g["FitCount"]) for g in forecast["Groups"]] == [
        ("web", "default", 0, 3),
        ("api", "default", 45, 2),
    ]
    assert "No run has measured web, api yet" in forecast["Note"]
    # and the plan in the run's report lists every instance per group, and in the forecast which fit
    plan = saved_plan(aws, report_bucket)
    assert plan["Forecast"]["Groups"][0]["Fit"] == plan["Groups"][0]["Instances"]
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


@pytest.mark.parametrize(("size", "pages"), [(3, 1), (50, 1), (61, 2)])
def test_check_fleet_says_what_is_in_a_warm_pool_and_does_not_refuse_the_group(
    aws, fleet, fleet_builder, report_bucket, unimplemented, load_handler, lambda_context, api_calls, size, pages
):
    # Given "web" with a warm pool of `size` instances (all Warmed:Stopped but one still Warmed:Pending), "api"
    # without one
    fleet_builder.group("api", size=2)
    aws.client("autoscaling").put_warm_pool(AutoScalingGroupName="web", PoolState="Stopped")
    unimplemented.group("web").warm_instances = [
        {
            "InstanceId": f"i-warm{n:013x}",
            "AvailabilityZone": "us-east-1a",
            "LifecycleState": "Warmed:Pending" if n == 0 else "Warmed:Stopped",
            "HealthStatus": "Healthy",
            "ProtectedFromScaleIn": False,
        }
        for n in range(size)
    ]
    app = load_handler("check_fleet")
    # When the fleet is checked for a run, then as a dry run
    planned = app.lambda_handler(fleet_event("web", "api"), lambda_context)
    dry = app.lambda_handler(fleet_event("web", "api", dry_run=True), lambda_context)
    # Then neither refuses "web": the preflight's result, the plan in the report and the dry run's plan each say
    # what is in its pool and that the run does not patch it; "api" has no WarmPool
    pool = {
        "PoolState": "Stopped",
        "Instances": size,
        "States": {"Warmed:Pending": 1, **({"Warmed:Stopped": size - 1} if size > 1 else {})},
        "Patched": False,
        "Note": preflight.WARM_POOL_NOTE,
    }
    assert planned["Groups"] == [{"GroupName": "web", "Count": 3, "WarmPool": pool}, {"GroupName": "api", "Count": 2}]
    assert [g.get("WarmPool") for g in saved_plan(aws, report_bucket)["Groups"]] == [pool, None]
    assert [g.get("WarmPool") for g in dry["Groups"]] == [pool, None]
    assert sorted(dry["Groups"][0]["Instances"]) == fleet.instance_ids  # the pool's are not among them
    # and each check read every page of each group's warm pool (at most 50 instances a page)
    warm_calls = [params["AutoScalingGroupName"] for _, op, params in api_calls if op == "DescribeWarmPool"]
    assert warm_calls == (["web"] * pages + ["api"]) * 2


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


@pytest.mark.parametrize("size", [2, 3, 5])
def test_check_fleet_refuses_a_group_at_its_minimum_unless_lower_min_size_or_keep_capacity(
    aws, fleet_builder, unimplemented, load_handler, lambda_context, size
):
    # Given "web" with MinSize and desired capacity both `size`
    fleet_builder.group("web", size=size, min_size=size)
    app = load_handler("check_fleet")
    # When the fleet is checked (dry run) without either, with LowerMinSize, then with KeepCapacity
    message = preflight_error(app, fleet_event("web", dry_run=True), lambda_context)
    lowered = app.lambda_handler(fleet_event("web", lower_min_size=True, dry_run=True), lambda_context)
    kept = app.lambda_handler(fleet_event("web", keep_capacity=True, dry_run=True), lambda_context)
    # Then it is refused, naming both ways to go on, and allowed by either
    assert (
        f"desired capacity {size} minus one is below MinSize {size} (KeepCapacity: true adds an instance first; "
        "LowerMinSize: true lowers MinSize by one while an instance is out)"
    ) in message
    assert lowered["Groups"][0]["Count"] == size
    assert kept["Groups"][0]["Count"] == size


def test_check_fleet_refuses_a_group_of_one_unless_keep_capacity(
    aws, fleet_builder, unimplemented, api_calls, load_handler, lambda_context
):
    # Given a group with a single instance (MinSize 1, MaxSize 1)
    fleet_builder.group("solo", size=1, min_size=1, max_size=1)
    app = load_handler("check_fleet")
    # When the fleet is checked, even with LowerMinSize, then with KeepCapacity
    message = preflight_error(app, fleet_event("solo", lower_min_size=True, dry_run=True), lambda_context)
    plan = app.lambda_handler(fleet_event("solo", keep_capacity=True, dry_run=True), lambda_context)
    # Then it is refused without KeepCapacity, which the message names: taking its only instance out would leave
    # nothing serving; with it the dry run plans the instance and says what it would add (MaxSize raised too)
    assert "group solo: fewer than two InService instances (1)" in message
    assert "KeepCapacity: true adds one first" in message
    assert plan["Groups"][0]["Count"] == 1
    assert plan["Groups"][0]["KeepCapacity"] == {
        "Adds": 1,
        "DesiredCapacity": "1 -> 2 while patching, then 1",
        "MaxSize": "1 -> 2 while patching, then 1",
    }
    # and nothing was changed
    assert mutating(api_calls) == []


def test_check_fleet_refuses_a_group_with_no_instance_in_service_even_with_keep_capacity(
    aws, fleet_builder, unimplemented, load_handler, lambda_context
):
    # Given a group whose only instance is in Standby
    fleet = fleet_builder.group("solo", size=1, min_size=0, max_size=2)
    standby(aws, "solo", fleet.instance_ids[0])
    app = load_handler("check_fleet")
    # When the fleet is checked with KeepCapacity
    message = preflight_error(app, fleet_event("solo", keep_capacity=True, dry_run=True), lambda_context)
    # Then it is refused: there is nothing in service to keep
    assert "group solo: no InService instance" in message


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
    assert first == second
    assert {k: first[k] for k in ("Groups", "Skipped")} == {"Groups": [{"GroupName": "web", "Count": 1}], "Skipped": 2}
    plan = saved_plan(aws, report_bucket)
    assert plan["Groups"] == [{"GroupName": "web", "Instances": [online], "Recover": [], "Hooks": NO_HOOKS}]
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


def hold(aws, ledger, group, execution_arn, run_id, **extra):
    item = {"Id": {"S": f"lock#{group}"}, "Holder": {"S": execution_arn}, "RunId": {"S": run_id}, **extra}
    aws.client("dynamodb").put_item(TableName=ledger, Item=item)


def test_check_fleet_counts_a_dead_runs_standby_leftover_as_back_in_service(
    aws, fleet, report_bucket, unimplemented, load_handler, lambda_context, api_calls
):
    # Given "web" of 3 whose instance a dead run left in Standby: alone, desired 2 of MinSize 1, two InService
    left = fleet.instance_ids[0]
    tag(aws, left, "InProgress", "run-dead")
    standby(aws, "web", left)
    app = load_handler("check_fleet")
    # When the fleet is checked before the run recovers it, twice
    first, second = twice(app, fleet_event("web"), lambda_context)
    # Then it passes and plans all three, the leftover named as what the run recovers first
    assert first == second
    assert {k: first[k] for k in ("Groups", "Skipped")} == {"Groups": [{"GroupName": "web", "Count": 3}], "Skipped": 0}
    plan = saved_plan(aws, report_bucket)
    assert sorted(plan["Groups"][0]["Instances"]) == fleet.instance_ids
    assert plan["Groups"][0]["Recover"] == [
        {"InstanceId": left, "LifecycleState": "Standby", "LeftBy": "run-dead", "Tag": "InProgress"}
    ]
    # and the leftover is untouched: only the report was written
    assert lifecycle(aws, left) == "Standby"
    assert mutating(api_calls) == ["PutObject", "PutObject"]


def test_check_fleet_refuses_a_leftover_whose_patch_command_may_still_reboot_it(
    aws, fleet, report_bucket, unimplemented, load_handler, lambda_context, api_calls, monkeypatch
):
    # Given an instance a dead run left in Standby while its patch command is still InProgress
    left = fleet.instance_ids[1]
    tag(aws, left, "InProgress", "run-dead")
    standby(aws, "web", left)
    command = {"CommandId": "c-1", "Operation": "Install", "Status": "InProgress"}
    monkeypatch.setattr(patching, "run_command", lambda instance, run: command if run == "run-dead" else None)
    app = load_handler("check_fleet")
    # When the fleet is checked, twice
    message = preflight_error(app, fleet_event("web"), lambda_context)
    # Then the preflight names the command, before anything is changed
    assert f"{left}, left in Standby by run run-dead, still has its patch command c-1 InProgress" in message
    assert mutating(api_calls) == []


def test_check_fleet_dry_run_refuses_as_a_run_would_a_group_a_live_run_holds(
    aws, fleet, ledger, executions, unimplemented, load_handler, lambda_context, api_calls
):
    # Given "web" held by a running execution "run-other"
    hold(aws, ledger, "web", executions.start("run-other"), "run-other")
    app = load_handler("check_fleet")
    # When a dry run checks the fleet, twice
    errors = raises_twice(app, fleet_event("web", dry_run=True), lambda_context, GroupLocked)
    # Then it ends GroupLocked naming the run, as the run would, and writes nothing
    assert str(errors[0]) == (
        "Another run is patching web (held by run-other). A run started now would end GroupLocked. Nothing was changed."
    )
    assert mutating(api_calls) == []


def test_check_fleet_dry_run_refuses_a_group_the_clean_up_of_a_run_holds(
    aws, fleet, ledger, executions, unimplemented, load_handler, lambda_context, frozen_now
):
    # Given "web" held by the clean-up of a stopped execution, for a minute more
    stopped = executions.start("run-stopped")
    executions.stop(stopped)
    hold(aws, ledger, "web", stopped, "run-stopped", CleaningUntil={"N": str(frozen_now + 60)})
    app = load_handler("check_fleet")
    # When a dry run checks the fleet
    errors = raises_twice(app, fleet_event("web", dry_run=True), lambda_context, GroupLocked)
    # Then it says the clean-up holds it
    assert "web (held by the clean-up of run-stopped)" in str(errors[0])


def test_check_fleet_dry_run_reports_the_hold_and_the_leftover_of_a_dead_run(
    aws, fleet, fleet_builder, ledger, executions, unimplemented, load_handler, lambda_context, api_calls
):
    # Given "web" held by a stopped execution that left an instance in Standby, and "api" held by nobody
    dead = executions.start("run-dead")
    executions.stop(dead)
    hold(aws, ledger, "web", dead, "run-dead")
    left = fleet.instance_ids[2]
    tag(aws, left, "Failed", "run-dead")
    standby(aws, "web", left)
    fleet_builder.group("api", size=2)
    app = load_handler("check_fleet")
    # When a dry run checks the fleet, twice
    first, second = twice(app, fleet_event("web", "api", dry_run=True), lambda_context)
    # Then it lists the leftover as recovered first and the hold it would take over; "api" has neither
    assert first == second
    web, api = first["Groups"]
    assert web["Recover"] == [{"InstanceId": left, "LifecycleState": "Standby", "LeftBy": "run-dead", "Tag": "Failed"}]
    assert web["TakeOverHoldOf"] == "run-dead"
    assert (web["Count"], sorted(web["Instances"])) == (3, fleet.instance_ids)
    assert (api["Recover"], api["TakeOverHoldOf"]) == ([], None)
    # and nothing was written, the hold still the dead run's
    assert mutating(api_calls) == []
    assert lifecycle(aws, left) == "Standby"


def test_check_fleet_judges_a_min_size_a_dead_run_lowered_at_the_value_it_restores(
    aws, fleet_builder, ledger, unimplemented, load_handler, lambda_context
):
    # Given "web" of 3 at MinSize 2, which a dead run lowered from 3 (recorded in the ledger)
    fleet_builder.group("web", size=3, min_size=2)
    aws.client("dynamodb").put_item(
        TableName=ledger,
        Item={"Id": {"S": "minsize#web"}, "Original": {"N": "3"}, "SetTo": {"N": "2"}, "RunId": {"S": "run-dead"}},
    )
    app = load_handler("check_fleet")
    # When the fleet is checked (dry run) without LowerMinSize
    message = preflight_error(app, fleet_event("web", dry_run=True), lambda_context)
    # Then it is refused at MinSize 3, the value the run's recovery would put back
    assert "desired capacity 3 minus one is below MinSize 3" in message


def test_check_fleet_judges_a_group_as_its_recovery_leaves_it_when_a_dead_run_raised_its_max_size(
    aws, fleet_builder, ledger, unimplemented, load_handler, lambda_context
):
    # Given "web" of 3 at MinSize 2 whose MaxSize 2 a dead run raised to 3 (recorded in the ledger): giving it back
    # will lower the desired capacity to 2
    fleet_builder.group("web", size=3, min_size=2)
    aws.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=3)
    aws.client("dynamodb").put_item(
        TableName=ledger,
        Item={"Id": {"S": "maxsize#web"}, "Original": {"N": "2"}, "SetTo": {"N": "3"}, "RunId": {"S": "run-dead"}},
    )
    app = load_handler("check_fleet")
    # When the fleet is checked (dry run) without LowerMinSize
    message = preflight_error(app, fleet_event("web", dry_run=True), lambda_context)
    # Then it is refused at the desired capacity the group will have once MaxSize is back
    assert "desired capacity 2 minus one is below MinSize 2" in message


SMOKE = "arn:aws:lambda:us-east-1:123456789012:function:smoke-test"


@pytest.fixture
def allowed_hooks(monkeypatch):
    """The stack allows one document and one function as hooks (HookDocumentNames, HookFunctionArns)."""
    monkeypatch.setenv("HOOK_DOCUMENT_NAMES", "MyApp-GracefulStop")
    monkeypatch.setenv("HOOK_FUNCTION_ARNS", SMOKE)


def test_check_fleet_plans_each_group_with_the_input_hooks_its_tags_override(
    aws, fleet, fleet_builder, report_bucket, unimplemented, load_handler, lambda_context, allowed_hooks
):
    # Given a run whose input has both hooks, and group api tagged to call a function before standby instead
    fleet_builder.group("api", size=2)
    set_group_tag(aws, "api", "AutoPatchBeforeStandby", SMOKE)
    set_group_tag(aws, "api", "AutoPatchAfterHealthy", "none")
    given = {"BeforeStandby": {"DocumentName": "MyApp-GracefulStop"}, "AfterHealthy": {"FunctionArn": SMOKE}}
    app = load_handler("check_fleet")
    # When the fleet is checked, and checked in a dry run
    app.lambda_handler({**fleet_event("web", "api"), "Hooks": given}, lambda_context)
    dry = app.lambda_handler({**fleet_event("web", "api", dry_run=True), "Hooks": given}, lambda_context)
    # Then web runs the input's hooks, and api its tags' (its AfterHealthy turned off)
    document = {"Kind": "Document", "Name": "MyApp-GracefulStop", "TimeoutSeconds": 600, "Parameters": {}}
    function = {"Kind": "Function", "Name": SMOKE, "TimeoutSeconds": 300}
    expected = {
        "web": {"BeforeStandby": document, "AfterHealthy": function},
        "api": {"BeforeStandby": function, "AfterHealthy": {"Kind": "None"}},
    }
    assert {g["GroupName"]: g["Hooks"] for g in saved_plan(aws, report_bucket)["Groups"]} == expected
    assert {g["GroupName"]: g["Hooks"] for g in dry["Groups"]} == expected


@pytest.mark.parametrize(
    ("tag", "named"),
    [
        ('{"DocumentName": "MyApp-GracefulStop", "TimeoutSeconds": 5}', "TimeoutSeconds must be an integer from 30"),
        ("AWS-RunShellScript", "BeforeStandby document AWS-RunShellScript is not in the stack's HookDocumentNames"),
        (f"{SMOKE}-2", f"BeforeStandby function {SMOKE}-2 is not in the stack's HookFunctionArns"),
    ],
)
def test_check_fleet_refuses_a_group_whose_hook_tag_is_malformed_or_not_allowed(
    aws, fleet, report_bucket, unimplemented, load_handler, lambda_context, api_calls, allowed_hooks, tag, named
):
    # Given a group tagged with a hook the stack does not allow, or that is malformed
    set_group_tag(aws, "web", "AutoPatchBeforeStandby", tag)
    # When the fleet is checked
    with pytest.raises(PreflightFailed, match="group web: .*" + re.escape(named)):
        load_handler("check_fleet").lambda_handler(fleet_event("web"), lambda_context)
    # Then nothing was changed
    assert mutating(api_calls) == []


def test_check_fleet_refuses_input_hooks_the_stack_does_not_allow_before_looking_at_a_group(
    aws, fleet, report_bucket, unimplemented, load_handler, lambda_context, api_calls, allowed_hooks
):
    event = {**fleet_event("web"), "Hooks": {"AfterHealthy": {"DocumentName": "AWS-RunShellScript"}}}
    with pytest.raises(InvalidInput, match="Hooks: AfterHealthy document AWS-RunShellScript is not in the stack's"):
        load_handler("check_fleet").lambda_handler(event, lambda_context)
    assert mutating(api_calls) == []
    assert calls_to(api_calls, "DescribeAutoScalingGroups") == []
