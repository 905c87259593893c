"""check_safe_to_continue, the gate before each instance: failures, the fleet's health, alarms, the run's hold on
the group and instance refreshes. Against a moto account; conftest.py says how and holds the shared fixtures."""

from unittest import mock

import pytest

import autopatch.clients
from autopatch.errors import AwsThrottled, InvalidInput
from autopatch.polling import RESERVE_SECONDS
from tests.handlers.helpers import (
    EXECUTION_ARN,
    RUN_ID,
    gate_event,
    hold,
    ledger_item,
    mark_failed,
    mutating,
    runs_own_standby,
    sent_kinds,
    sent_messages,
    set_group_tag,
    set_lifecycle_state,
    standby,
    throttled,
    twice,
)
from tests.support import CPU_ALARM

OTHER_RUN = "run-2026-11-26"


pytestmark = pytest.mark.usefixtures("held")  # the gate runs while the run holds its groups


def cpu_alarm(aws, state):
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.put_metric_alarm(AlarmName="cpu-high", **CPU_ALARM)
    cloudwatch.set_alarm_state(AlarmName="cpu-high", StateValue=state, StateReason="test")


def test_check_safe_to_continue_proceeds_when_all_is_well(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, api_calls
):
    # Given a healthy group, no failure in the run and an alarm in OK
    cpu_alarm(aws, "OK")
    app = load_handler("check_safe_to_continue")
    # When the gate is checked before the first instance, twice
    results = twice(app, gate_event(fleet.instance_ids[0], alarm_names=["cpu-high"]), lambda_context)
    # Then the run goes on and nobody is alerted; the only record is when the instance was let go (the window's
    # estimate times it from then), written again by the second call
    assert results == [{"Proceed": True, "Gone": False, "Wait": False, "Deadline": None, "Reason": None}] * 2
    assert mutating(api_calls) == ["UpdateItem", "UpdateItem"]
    assert ledger_item(aws, ledger, f"started#{RUN_ID}#{fleet.instance_ids[0]}") is not None
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
    assert (
        results
        == [
            {
                "Proceed": False,
                "Gone": False,
                "Wait": False,
                "Deadline": None,
                "Reason": "1 instance(s) failed, more than MaxErrors=0",
            }
        ]
        * 2
    )
    assert allowed == {"Proceed": True, "Gone": False, "Wait": False, "Deadline": None, "Reason": None}
    assert sent_messages(alert_topic) == []


@pytest.mark.parametrize("known_by", ["standby owed", "failure"])
def test_check_safe_to_continue_stops_the_run_while_its_own_instance_it_could_not_return_is_out_of_service(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, known_by
):
    # Given an instance of "web" this run put in Standby and could not return to service ("Could not return to
    # service"): the ledger still owes its standby's capacity, or records its failure (MaxErrors 1 allows it)
    nxt, other = fleet.instance_ids[0], fleet.instance_ids[1]
    if known_by == "standby owed":
        runs_own_standby(load_handler, lambda_context, other)
    else:
        standby(aws, "web", other)
        mark_failed(load_handler, lambda_context, other)
    app = load_handler("check_safe_to_continue")
    # When the gate is checked before the next instance, twice
    results = twice(app, gate_event(nxt, max_errors=1), lambda_context)
    # Then the run stops, naming the instance and its state, and the reason is recorded for the run
    reason = f"before {nxt} of web: {other} is Standby"
    assert results == [{"Proceed": False, "Gone": False, "Wait": False, "Deadline": None, "Reason": reason}] * 2
    assert ledger_item(aws, ledger, f"stop#{RUN_ID}")["Reason"]["S"] == reason
    # and one alert, not two, tells on-call why and what to do
    [(_, body, subject)] = sent_messages(alert_topic)
    assert sent_kinds(alert_topic) == ["run-stopped"]
    assert subject == f"Patching stopped: run {RUN_ID}, at group web"
    assert f"Why:        {reason}" in body
    assert "the run ends FAILED with error RunStopped" in body
    assert f"#/v2/executions/details/{EXECUTION_ARN}" in body


@pytest.mark.parametrize("state", ["Standby", "EnteringStandby"])
@pytest.mark.parametrize("whose", ["another instance", "the next instance"])
def test_check_safe_to_continue_leaves_a_group_to_another_tool_that_put_one_of_its_instances_in_standby(
    aws, fleet, fleet_builder, ledger, alert_topic, load_handler, lambda_context, api_calls, state, whose
):
    # Given an instance of "web" another tool or a person put in Standby (or on its way there): the run took it
    # out of service neither now nor before (an instance of "api" the run has out is its own); "api" healthy
    api = fleet_builder.group("api", size=3)
    nxt = fleet.instance_ids[0]
    away = fleet.instance_ids[2] if whose == "another instance" else nxt
    standby(aws, "web", away)
    set_lifecycle_state("web", away, state)
    runs_own_standby(load_handler, lambda_context, api.instance_ids[2], group="api")
    app = load_handler("check_safe_to_continue")
    before = len(api_calls)
    # When the gate is checked before web's next instance, twice, then before api's next but for its own standby
    results = twice(app, gate_event(nxt), lambda_context)
    # Then "web" stops, naming the instance, with one "paused" alert; the run goes on
    reason = f"group web: {away} is {state}, put there by another tool or a person: the run leaves the group to them"
    assert results == [{"Proceed": False, "Gone": False, "Wait": False, "Deadline": None, "Reason": reason}] * 2
    [(_, body, subject)] = sent_messages(alert_topic)
    assert sent_kinds(alert_topic) == ["group-paused"]
    assert subject == f"Patching paused: group web, run {RUN_ID}"
    assert f"Why:        {reason}" in body and "the other groups go on" in body
    assert ledger_item(aws, ledger, f"stop#{RUN_ID}#web")["Reason"]["S"] == reason
    assert ledger_item(aws, ledger, f"stop#{RUN_ID}") is None
    # nothing is called on the other tool's instance
    assert [op for op in mutating(api_calls[before:]) if op not in ("PutItem", "UpdateItem", "Publish")] == []
    # and "api", its own instance in Standby, is stopped only by that: the run's own out of service
    other_group = app.lambda_handler(gate_event(api.instance_ids[0], group="api"), lambda_context)
    assert other_group["Reason"] == f"before {api.instance_ids[0]} of api: {api.instance_ids[2]} is Standby"


def _detach(aws, instance):
    aws.client("autoscaling").detach_instances(
        InstanceIds=[instance], AutoScalingGroupName="web", ShouldDecrementDesiredCapacity=True
    )


def _scale_in(aws, instance):
    aws.client("autoscaling").terminate_instance_in_auto_scaling_group(
        InstanceId=instance, ShouldDecrementDesiredCapacity=True
    )


def _replace(aws, instance):
    aws.client("autoscaling").terminate_instance_in_auto_scaling_group(
        InstanceId=instance, ShouldDecrementDesiredCapacity=False
    )


@pytest.mark.parametrize("leave", [_detach, _scale_in, _replace], ids=["detached", "scaled-in", "replaced"])
def test_check_safe_to_continue_says_an_instance_that_left_the_group_is_gone_not_failed(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, api_calls, leave
):
    # Given a planned instance that left "web" before its turn (a detach, a scale-in, a replacement)
    gone = fleet.instance_ids[1]
    leave(aws, gone)
    app = load_handler("check_safe_to_continue")
    # When the gate is checked before it, twice, and then before the next planned instance
    results = twice(app, gate_event(gone), lambda_context)
    nxt = app.lambda_handler(gate_event(fleet.instance_ids[2]), lambda_context)
    # Then it is Gone: nothing is changed or recorded (but the next one's start), nobody is alerted, and the run
    # goes on with the next one
    assert (
        results
        == [
            {
                "Proceed": False,
                "Gone": True,
                "Wait": False,
                "Deadline": None,
                "Reason": f"{gone} left group web before its turn",
            }
        ]
        * 2
    )
    assert mutating(api_calls) == ["UpdateItem"]
    assert ledger_item(aws, ledger, f"started#{RUN_ID}#{gone}") is None
    assert sent_messages(alert_topic) == []
    assert ledger_item(aws, ledger, f"stop#{RUN_ID}") is None
    assert nxt == {"Proceed": True, "Gone": False, "Wait": False, "Deadline": None, "Reason": None}


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
    assert results == [{"Proceed": False, "Gone": False, "Wait": False, "Deadline": None, "Reason": reason}] * 2
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
    assert results == [{"Proceed": False, "Gone": False, "Wait": False, "Deadline": None, "Reason": reason}] * 2
    assert other_group == {"Proceed": True, "Gone": False, "Wait": False, "Deadline": None, "Reason": None}
    [(_, body, subject)] = sent_messages(alert_topic)
    assert sent_kinds(alert_topic) == ["group-paused"]
    assert subject == f"Patching paused: group web, run {RUN_ID}"
    assert "the other groups go on" in body
    assert ledger_item(aws, ledger, f"stop#{RUN_ID}#web")["Reason"]["S"] == reason


def test_check_safe_to_continue_stops_every_group_once_the_run_stopped(
    aws, fleet, fleet_builder, ledger, alert_topic, load_handler, lambda_context
):
    # Given the run stopped by the gate of group "web" (one alert sent): an instance the run put in Standby is there
    api = fleet_builder.group("api", size=2)
    runs_own_standby(load_handler, lambda_context, fleet.instance_ids[1])
    app = load_handler("check_safe_to_continue")
    stopped = app.lambda_handler(gate_event(fleet.instance_ids[0]), lambda_context)
    # When the gate of the healthy group "api" is checked
    result = app.lambda_handler(gate_event(api.instance_ids[0], group="api"), lambda_context)
    # Then "api" stops too, with the run's reason, and no second alert
    assert result == {"Proceed": False, "Gone": False, "Wait": False, "Deadline": None, "Reason": stopped["Reason"]}
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


def refresh_calls(api_calls):
    return [params["AutoScalingGroupName"] for _, op, params in api_calls if op == "DescribeInstanceRefreshes"]


@pytest.mark.parametrize(
    ("status", "stops"),
    [
        ("Pending", True),
        ("InProgress", True),
        ("Cancelling", True),
        ("RollbackInProgress", True),
        ("Baking", True),
        ("Successful", False),
        ("Cancelled", False),
        ("Failed", False),
        ("RollbackSuccessful", False),
    ],
)
def test_check_safe_to_continue_leaves_a_group_to_an_instance_refresh_started_midway(
    aws, fleet, fleet_builder, ledger, alert_topic, load_handler, lambda_context, api_calls, held, status, stops
):
    # Given an instance refresh of "web" in `status` (started after the preflight), an older one that succeeded,
    # and "api" with none
    api = fleet_builder.group("api", size=2)
    held.refreshes["web"] = [
        {"InstanceRefreshId": "refresh-2", "AutoScalingGroupName": "web", "Status": status},
        {"InstanceRefreshId": "refresh-1", "AutoScalingGroupName": "web", "Status": "Successful"},
    ]
    app = load_handler("check_safe_to_continue")
    # When the gate is checked before web's next instance, twice, then before api's
    results = twice(app, gate_event(fleet.instance_ids[1]), lambda_context)
    other_group = app.lambda_handler(gate_event(api.instance_ids[0], group="api"), lambda_context)
    # Then an active refresh stops "web" only, naming it and its status, with one "paused" alert; "api" goes on;
    # a refresh that has ended stops nothing. Each check asks for the group's refreshes once (once the group is
    # stopped, the retry reads the stop and asks nothing more).
    assert other_group == {"Proceed": True, "Gone": False, "Wait": False, "Deadline": None, "Reason": None}
    assert refresh_calls(api_calls) == (["web", "api"] if stops else ["web", "web", "api"])
    if not stops:
        assert results == [{"Proceed": True, "Gone": False, "Wait": False, "Deadline": None, "Reason": None}] * 2
        assert sent_messages(alert_topic) == []
        return
    reason = (
        f"group web: instance refresh refresh-2 is {status}: the refresh replaces its instances, the run leaves them "
        "to it"
    )
    assert results == [{"Proceed": False, "Gone": False, "Wait": False, "Deadline": None, "Reason": reason}] * 2
    [(_, body, subject)] = sent_messages(alert_topic)
    assert sent_kinds(alert_topic) == ["group-paused"]
    assert subject == f"Patching paused: group web, run {RUN_ID}"
    assert f"Why:        {reason}" in body and "refresh-1" not in body
    assert ledger_item(aws, ledger, f"stop#{RUN_ID}#web")["Reason"]["S"] == reason
    assert ledger_item(aws, ledger, f"stop#{RUN_ID}") is None  # the run itself goes on


def _deleted(aws, ledger, executions):
    aws.client("dynamodb").delete_item(TableName=ledger, Key={"Id": {"S": "lock#web"}})
    return "this run no longer holds group web: its hold was removed from the run ledger"


def _taken_by_another_run(aws, ledger, executions):
    # a person deleted the hold, and a run started after it took the group
    _deleted(aws, ledger, executions)
    hold(aws, ledger, "web", executions.start(OTHER_RUN), OTHER_RUN)
    return f"this run no longer holds group web: {OTHER_RUN} (run {OTHER_RUN}) holds it now"


def _taken_by_this_runs_next_part(aws, ledger, executions):
    # the run continued in its next execution, which took the hold over: still this run's
    hold(aws, ledger, "web", executions.start(f"{RUN_ID}-part2"), RUN_ID)
    return None


@pytest.mark.parametrize(
    "lose", [_deleted, _taken_by_another_run, _taken_by_this_runs_next_part], ids=["deleted", "another-run", "part2"]
)
def test_check_safe_to_continue_stops_a_group_the_run_no_longer_holds(
    aws, fleet, fleet_builder, ledger, alert_topic, load_handler, lambda_context, executions, lose
):
    # Given the run's hold on "web" deleted from the ledger, or then taken by another run, or taken over by this
    # run's own next execution; "api" still held
    api = fleet_builder.group("api", size=2)
    reason = lose(aws, ledger, executions)
    app = load_handler("check_safe_to_continue")
    # When the gate is checked before web's next instance, twice, then before api's
    results = twice(app, gate_event(fleet.instance_ids[1]), lambda_context)
    other_group = app.lambda_handler(gate_event(api.instance_ids[0], group="api"), lambda_context)
    # Then "web" stops, saying who holds it now, with one alert, and "api" goes on; the hold of this run's own
    # next execution stops nothing
    assert other_group == {"Proceed": True, "Gone": False, "Wait": False, "Deadline": None, "Reason": None}
    if reason is None:
        assert results == [{"Proceed": True, "Gone": False, "Wait": False, "Deadline": None, "Reason": None}] * 2
        assert sent_messages(alert_topic) == []
        return
    assert results == [{"Proceed": False, "Gone": False, "Wait": False, "Deadline": None, "Reason": reason}] * 2
    [(_, body, subject)] = sent_messages(alert_topic)
    assert sent_kinds(alert_topic) == ["group-paused"]
    assert subject == f"Patching paused: group web, run {RUN_ID}"
    assert f"Why:        {reason}" in body
    assert ledger_item(aws, ledger, f"stop#{RUN_ID}#web")["Reason"]["S"] == reason


@pytest.mark.parametrize("state", ["Pending", "Pending:Wait", "Pending:Proceed", "Terminating", "Terminating:Wait"])
def test_check_safe_to_continue_waits_while_another_instance_launches_or_terminates(
    aws, fleet, ledger, alert_topic, clock, load_handler, make_lambda_context, held, state
):
    # Given another instance of "web" launching or terminating, which settles (InService) 100 s later
    nxt, other = fleet.instance_ids[0], fleet.instance_ids[1]
    set_lifecycle_state("web", other, state)
    clock.at(100, lambda: set_lifecycle_state("web", other, "InService"))
    app = load_handler("check_safe_to_continue")
    # When the gate is checked before the next instance
    result = app.lambda_handler({**gate_event(nxt), "PollIntervalSeconds": 10}, make_lambda_context())
    # Then it waited within its invocation, polling, and goes on once the other instance settled: no stop, no alert
    assert result == {"Proceed": True, "Gone": False, "Wait": False, "Deadline": None, "Reason": None}
    assert clock.slept == [10] * 10
    assert sent_messages(alert_topic) == []
    assert ledger_item(aws, ledger, f"stop#{RUN_ID}") is None


@pytest.mark.parametrize("timeout", [300, 900])
def test_check_safe_to_continue_says_wait_when_its_time_is_spent_and_stops_past_the_deadline(
    aws, fleet, ledger, alert_topic, clock, load_handler, make_lambda_context, held, timeout
):
    # Given another instance held in Pending:Wait for good (a launch hook that never completes)
    nxt, other = fleet.instance_ids[0], fleet.instance_ids[1]
    set_lifecycle_state("web", other, "Pending:Wait")
    app = load_handler("check_safe_to_continue")
    event = {**gate_event(nxt), "HealthTimeoutSeconds": timeout, "PollIntervalSeconds": 5}
    # When the gate is asked, as the state machine asks it, until it stops waiting
    answers = [app.lambda_handler(event, make_lambda_context())]
    while answers[-1]["Wait"]:
        answers.append(app.lambda_handler({**event, "Deadline": answers[-1]["Deadline"]}, make_lambda_context()))
    # Then each invocation but the last says Wait with the same deadline, HealthTimeoutSeconds after the first
    deadline = clock.now + timeout
    waits, stop = answers[:-1], answers[-1]
    assert waits and all((a["Wait"], a["Deadline"], a["Proceed"]) == (True, deadline, False) for a in waits)
    assert len(waits) == timeout // (300 - RESERVE_SECONDS)
    # and the last stops the run, naming what did not settle, with one alert
    reason = f"before {nxt} of web: {other} is Pending:Wait (not settled within HealthTimeoutSeconds={timeout})"
    assert stop == {"Proceed": False, "Gone": False, "Wait": False, "Deadline": None, "Reason": reason}
    assert ledger_item(aws, ledger, f"stop#{RUN_ID}")["Reason"]["S"] == reason
    assert sent_kinds(alert_topic) == ["run-stopped"]


def test_check_safe_to_continue_stops_at_once_on_an_unhealthy_instance_even_while_another_settles(
    aws, fleet, ledger, alert_topic, clock, load_handler, make_lambda_context, held
):
    # Given one instance Pending and another the run put in Standby and could not return
    nxt, launching, away = fleet.instance_ids[0], fleet.instance_ids[1], fleet.instance_ids[2]
    set_lifecycle_state("web", launching, "Pending")
    runs_own_standby(load_handler, make_lambda_context(), away)
    app = load_handler("check_safe_to_continue")
    # When the gate is checked
    result = app.lambda_handler(gate_event(nxt), make_lambda_context())
    # Then it does not wait: the run stops at once, naming both
    assert result["Proceed"] is False and result["Wait"] is False
    assert result["Reason"] == f"before {nxt} of web: {away} is Standby; {launching} is Pending"
    assert clock.slept == []
    assert sent_kinds(alert_topic) == ["run-stopped"]


def test_check_safe_to_continue_waits_for_the_instance_itself_while_it_is_still_launching(
    aws, fleet, ledger, alert_topic, clock, load_handler, make_lambda_context, held
):
    # Given a newcomer whose turn it is, still Pending:Wait, InService 30 s later
    newcomer = fleet.instance_ids[0]
    set_lifecycle_state("web", newcomer, "Pending:Wait")
    clock.at(30, lambda: set_lifecycle_state("web", newcomer, "InService"))
    app = load_handler("check_safe_to_continue")
    # When the gate is checked before it
    result = app.lambda_handler(gate_event(newcomer), make_lambda_context())
    # Then it waits for it, then goes on
    assert result["Proceed"] is True
    assert sum(clock.slept) == 30


# --- the soak after a patched instance --------------------------------------------------------------------


@pytest.mark.parametrize(("soak", "canary"), [(0, 900), (300, 3600), (600, 0), (86_400, 60)])
def test_the_runs_first_patched_instance_soaks_canary_soak_seconds_and_the_others_soak_seconds(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, soak, canary
):
    # Given a run with SoakSeconds and CanarySoakSeconds
    first, second, third = fleet.instance_ids
    app = load_handler("check_safe_to_continue")

    def start(instance):
        event = {**gate_event(instance), "Soak": "Start", "SoakSeconds": soak, "CanarySoakSeconds": canary}
        return twice(app, event, lambda_context)

    # When its instances are patched one after another, each asking twice (a retry) how long to soak
    answers = [start(instance) for instance in (first, second, third)]
    # Then the first soaks CanarySoakSeconds (SoakSeconds when no canary soak is set), the others SoakSeconds
    assert answers == [[{"Seconds": canary or soak}] * 2, [{"Seconds": soak}] * 2, [{"Seconds": soak}] * 2]
    assert sent_messages(alert_topic) == []


def test_the_check_after_a_soak_stops_the_run_on_the_soaked_instances_own_target(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context
):
    # Given the instance just patched, soaked, and now missing from its target group
    patched = fleet.instance_ids[0]
    aws.client("elbv2").deregister_targets(TargetGroupArn=fleet.target_group_arn, Targets=[{"Id": patched}])
    app = load_handler("check_safe_to_continue")
    # When the gate checks before the next instance, and at the end of the soak, twice
    before = app.lambda_handler(gate_event(patched), lambda_context)
    after = twice(app, {**gate_event(patched), "Soak": "Check"}, lambda_context)
    # Then the gate before an instance leaves its own health to the patching; the soak's check stops the run on it,
    # with one alert
    assert before["Proceed"] is True
    reason = f"during the soak after {patched} of web: {patched} is not registered in target group web-tg"
    assert [(a["Proceed"], a["Reason"]) for a in after] == [(False, reason)] * 2
    (message,) = sent_messages(alert_topic)
    assert reason in message[1]


@pytest.mark.parametrize("soak", ["Begin", "check", ""])
def test_an_unknown_soak_step_is_refused(aws, fleet, ledger, alert_topic, load_handler, lambda_context, soak):
    # Given a soak step the state machine never sends
    app = load_handler("check_safe_to_continue")
    # When the gate is called with it
    with pytest.raises(InvalidInput, match="Soak must be one of Start, Check"):
        app.lambda_handler({**gate_event(fleet.instance_ids[0]), "Soak": soak}, lambda_context)
    # Then nothing is claimed, stopped or sent
    assert ledger_item(aws, ledger, f"canary#{RUN_ID}") is None
    assert sent_messages(alert_topic) == []
