"""check_safe_to_continue, the gate before each instance: failures, the fleet's health, alarms.
Against a moto account; conftest.py says how and holds the shared fixtures."""

from unittest import mock

import pytest

import autopatch.clients
from autopatch.errors import AwsThrottled
from tests.handlers.helpers import (
    EXECUTION_ARN,
    RUN_ID,
    gate_event,
    ledger_item,
    mark_failed,
    mutating,
    sent_kinds,
    sent_messages,
    set_group_tag,
    standby,
    throttled,
    twice,
)
from tests.support import CPU_ALARM


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
    # Then the run goes on, nothing is recorded and nobody is alerted
    assert results == [{"Proceed": True, "Gone": False, "Reason": None}] * 2
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
    assert results == [{"Proceed": False, "Gone": False, "Reason": "1 instance(s) failed, more than MaxErrors=0"}] * 2
    assert allowed == {"Proceed": True, "Gone": False, "Reason": None}
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
    assert results == [{"Proceed": False, "Gone": False, "Reason": reason}] * 2
    assert ledger_item(aws, ledger, f"stop#{RUN_ID}")["Reason"]["S"] == reason
    # and one alert, not two, tells on-call why and what to do
    [(_, body, subject)] = sent_messages(alert_topic)
    assert sent_kinds(alert_topic) == ["run-stopped"]
    assert subject == f"Patching stopped: run {RUN_ID}, at group web"
    assert f"Why:        {reason}" in body
    assert "the run ends FAILED with error RunStopped" in body
    assert f"#/v2/executions/details/{EXECUTION_ARN}" in body


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
    # Then it is Gone: nothing is changed or recorded, nobody is alerted, and the run goes on with the next one
    assert results == [{"Proceed": False, "Gone": True, "Reason": f"{gone} left group web before its turn"}] * 2
    assert mutating(api_calls) == []
    assert sent_messages(alert_topic) == []
    assert ledger_item(aws, ledger, f"stop#{RUN_ID}") is None
    assert nxt == {"Proceed": True, "Gone": False, "Reason": None}


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
    assert results == [{"Proceed": False, "Gone": False, "Reason": reason}] * 2
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
    assert results == [{"Proceed": False, "Gone": False, "Reason": reason}] * 2
    assert other_group == {"Proceed": True, "Gone": False, "Reason": None}
    [(_, body, subject)] = sent_messages(alert_topic)
    assert sent_kinds(alert_topic) == ["group-paused"]
    assert subject == f"Patching paused: group web, run {RUN_ID}"
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
    assert result == {"Proceed": False, "Gone": False, "Reason": stopped["Reason"]}
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
