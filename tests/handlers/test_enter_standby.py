"""enter_standby: the instance to Standby, the group's capacity lowered once.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import pytest
from botocore.stub import Stubber

import autopatch.clients
from autopatch.errors import InstanceNotInGroup, InstanceNotInService, ResourceContention
from tests.handlers.helpers import (
    REGION,
    RUN_ID,
    calls_to,
    desired,
    group_of,
    ledger_item,
    lifecycle,
    mutating,
    raises_twice,
    set_lifecycle_state,
    standby_event,
    twice,
)


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
