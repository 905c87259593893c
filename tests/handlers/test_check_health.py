"""check_health, which polls inside one invocation: back in service and healthy in the target group.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import pytest
from botocore.stub import Stubber

import autopatch.clients
from autopatch.errors import HealthCheckTimedOut
from autopatch.polling import RESERVE_SECONDS
from tests.handlers.helpers import calls_to, copy_of, mutating, standby, wait_event

# the ledger says whether a run drained the instance's ECS container instance
pytestmark = pytest.mark.usefixtures("ledger")


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
        for _ in range(6):  # 12 s: a check, 5 s, a check, 2 s down to the reserve, a last check
            stub.add_response("describe_target_health", unhealthy(instance))
        results = [app.lambda_handler(wait_event(instance, clock.now + 600), make_lambda_context(12)) for _ in range(2)]
    # Then each says "not yet" before its time runs out, having waited all of it but the reserve
    assert results == [{"Healthy": False}, {"Healthy": False}]
    assert clock.slept == [5, 2, 5, 2]
    stub.assert_no_pending_responses()


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


def test_check_health_with_a_300_second_interval_waits_and_checks_again_before_handing_back(
    aws, fleet, clock, load_handler, make_lambda_context
):
    # Given an InService instance unhealthy in its target group, then healthy, a 300 s poll interval and the
    # function's 300 s timeout: not one interval plus the reserve fits in the invocation
    instance = fleet.instance_ids[0]
    app = load_handler("check_health")
    # When it is checked
    with Stubber(autopatch.clients.client("elbv2")) as stub:
        stub.add_response("describe_target_health", unhealthy(instance))
        stub.add_response("describe_target_health", healthy(instance))
        result = app.lambda_handler(wait_event(instance, clock.now + 3600, interval=300), make_lambda_context(300))
        stub.assert_no_pending_responses()
    # Then it slept down to the reserve and its last check, just before handing back, saw the instance healthy
    assert result == {"Healthy": True}
    assert clock.slept == [300 - RESERVE_SECONDS]
