"""recover_groups: what a dead run left in Standby, tagged or lowered.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import pytest

from autopatch import PATCH_TAG_KEY, RUN_TAG_KEY
from autopatch.errors import InstanceNotReady
from tests.handlers.helpers import (
    EXECUTION_ARN,
    RUN_ID,
    calls_to,
    desired,
    fleet_snapshot,
    group_of,
    ledger_item,
    lifecycle,
    patch_tags,
    raises_twice,
    sent_messages,
    set_lifecycle_state,
    standby,
    tag,
    twice,
)


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
    assert subject == f"Patching failed: {left} in web, run {RUN_ID}"
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
        Item={"Id": {"S": "minsize#web"}, "Original": {"N": "2"}, "SetTo": {"N": "1"}, "RunId": {"S": "run-dead"}},
    )
    app = load_handler("recover_groups")
    # When this run recovers "web", twice
    twice(app, recover_event("web"), lambda_context)
    # Then MinSize is 2 again, once, and the record is gone
    assert group_of(aws, "web")["MinSize"] == 2
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == [{"AutoScalingGroupName": "web", "MinSize": 2}]
    assert ledger_item(aws, ledger, "minsize#web") is None


@pytest.mark.parametrize(
    ("max_now", "max_at_end"),
    [(4, 3), (5, 5)],
    ids=["still-the-dead-runs", "owner-set-max-size-5-since"],
)
def test_recover_groups_gives_back_the_max_size_and_az_rebalance_a_dead_run_changed(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, api_calls, max_now, max_at_end
):
    # Given "web" (3 instances) on which a dead run suspended AZRebalance and raised MaxSize 3 to 4 (recorded in
    # the ledger); its owner may have set another MaxSize since
    asg, ddb = aws.client("autoscaling"), aws.client("dynamodb")
    asg.update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=max_now)
    asg.suspend_processes(AutoScalingGroupName="web", ScalingProcesses=["AZRebalance"])
    for item in (
        {"Id": {"S": "maxsize#web"}, "Original": {"N": "3"}, "SetTo": {"N": "4"}},
        {"Id": {"S": "azrebalance#web"}},
    ):
        ddb.put_item(TableName=ledger, Item={**item, "RunId": {"S": "run-dead"}})
    # When this run recovers "web", twice
    twice(load_handler("recover_groups"), recover_event("web"), lambda_context)
    # Then AZRebalance is resumed and MaxSize put back (once, if it was still the dead run's), the records gone
    grp = group_of(aws, "web")
    assert (grp["MaxSize"], grp["SuspendedProcesses"]) == (max_at_end, [])
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == (
        [{"AutoScalingGroupName": "web", "MaxSize": 3}] if max_now == 4 else []
    )
    assert calls_to(api_calls, "ResumeProcesses") == [
        {"AutoScalingGroupName": "web", "ScalingProcesses": ["AZRebalance"]}
    ]
    assert (ledger_item(aws, ledger, "maxsize#web"), ledger_item(aws, ledger, "azrebalance#web")) == (None, None)


def test_recover_groups_makes_room_to_return_an_instance_of_a_group_at_its_max_size(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, api_calls
):
    # Given an instance a dead run left in Standby (desired 3 -> 2), then the group scaled out to its MaxSize 3
    left = fleet.instance_ids[0]
    tag(aws, left, "InProgress", "run-dead")
    standby(aws, "web", left)
    aws.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="web", MaxSize=3, DesiredCapacity=3)
    # When this run recovers "web", twice
    twice(load_handler("recover_groups"), recover_event("web"), lambda_context)
    # Then MaxSize is raised to 4, once, for this run (which puts it back once the instance is no longer Pending),
    # and the instance is back
    grp = group_of(aws, "web")
    assert (grp["MaxSize"], grp["DesiredCapacity"], lifecycle(aws, left)) == (4, 4, "InService")
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == [{"AutoScalingGroupName": "web", "MaxSize": 4}]
    item = ledger_item(aws, ledger, "maxsize#web")
    assert (item["Original"]["N"], item["SetTo"]["N"], item["RunId"]["S"]) == ("3", "4", RUN_ID)
