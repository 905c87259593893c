"""KeepCapacity (keep_capacity, autopatch.surge): the instance added to a group before its first leaves service,
the wait until it is healthy, the group refused when it is not, and the one instance removed when the group is
done: which one, how many, and what is left as it was. Against a moto account (conftest.py): moto launches an
instance SetDesiredCapacity asks for at once, InService; the tests set other states by hand."""

import pytest

from autopatch import ledger as run_ledger
from autopatch import surge
from autopatch.errors import AddedInstanceNotHealthy
from tests.handlers.helpers import (
    EXECUTION_ARN,
    RUN_ID,
    calls_to,
    group_of,
    raises_twice,
    runs_own_standby,
    sent_kinds,
    sent_messages,
    set_lifecycle_state,
    tag,
    twice,
)


@pytest.fixture
def context(clock, make_lambda_context):
    """The clock frozen at NOW that the polling's sleep moves forward, and an invocation of 300 s (the function's)."""
    return make_lambda_context(300)


def add_event(instance, deadline=None, **extra):
    return {
        "Action": "Add",
        "GroupName": "web",
        "InstanceId": instance,
        "RunId": RUN_ID,
        "Deadline": deadline,
        "HealthTimeoutSeconds": 600,
        "PollIntervalSeconds": 5,
        **extra,
    }


def remove_event(**extra):
    return {"Action": "Remove", "GroupName": "web", "RunId": RUN_ID, **extra}


def refuse_event(instance):
    return {
        "Action": "Refuse",
        "GroupName": "web",
        "InstanceId": instance,
        "RunId": RUN_ID,
        "ExecutionArn": EXECUTION_ARN,
        "Error": "AddedInstanceNotHealthy",
        "Cause": '{"errorMessage": "KeepCapacity: the instance added to group web was not healthy."}',
    }


def instances(aws, group="web"):
    return [i["InstanceId"] for i in group_of(aws, group)["Instances"] if i["LifecycleState"] != "Terminating"]


def sizes(aws, group="web"):
    found = group_of(aws, group)
    return found["MinSize"], found["DesiredCapacity"], found["MaxSize"]


@pytest.mark.parametrize(("size", "max_size"), [(1, 1), (3, 6), (3, 3), (5, 5)])
def test_add_raises_the_desired_capacity_by_one_and_max_size_only_at_the_maximum_and_waits_for_the_new_instance(
    aws, fleet_builder, ledger, load_handler, context, api_calls, size, max_size
):
    # Given a group of `size` instances with MaxSize `max_size`
    fleet = fleet_builder.group("web", size=size, min_size=1, max_size=max_size)
    app = load_handler("keep_capacity")
    # When the run adds an instance, twice (a retry), then once more for the group's next instance
    first, again = twice(app, add_event(fleet.instance_ids[0]), context)
    later = app.lambda_handler(add_event(fleet.instance_ids[1 % size]), context)
    # Then the group has one instance more, desired capacity plus one and MaxSize raised only as far as needed
    assert sizes(aws) == (1, size + 1, max(max_size, size + 1))
    added = [i for i in instances(aws) if i not in fleet.instance_ids]
    assert len(added) == 1
    # it is Ready once that instance is InService and healthy, and every call names it
    assert first["Ready"] and again["Ready"] and later["Ready"]
    assert first["InstanceId"] == again["InstanceId"] == later["InstanceId"] == added[0]
    # and only the first call changed the group: one SetDesiredCapacity, one MaxSize raise if at the maximum
    assert len(calls_to(api_calls, "SetDesiredCapacity")) == 1
    assert len(calls_to(api_calls, "UpdateAutoScalingGroup")) == (1 if size + 1 > max_size else 0)
    change = run_ledger.change("web", surge.ADDED)
    assert change["RunId"] == RUN_ID and change["Original"] == size and change["SetTo"] == size + 1
    assert change["InstanceId"] == added[0]


def test_add_waits_while_the_new_instance_is_not_healthy_then_refuses_past_its_deadline(
    aws, fleet, ledger, load_handler, context, clock
):
    # Given a run that added an instance which stays Pending (a launch that never finishes)
    app = load_handler("keep_capacity")
    surge.add("web", RUN_ID)
    new = next(i for i in instances(aws) if i not in fleet.instance_ids)
    set_lifecycle_state("web", new, "Pending:Wait")
    # When the run waits for it within its deadline, then after it
    now = clock.now
    waiting = app.lambda_handler(add_event(fleet.instance_ids[0], deadline=int(now) + 3600), context)
    errors = raises_twice(
        app, add_event(fleet.instance_ids[0], deadline=int(now) - 1), context, AddedInstanceNotHealthy
    )
    # Then it says not Ready while there is time, and then names the instance and its state
    assert waiting["Ready"] is False
    assert f"{new} is Pending:Wait" in str(errors[0])


def test_remove_takes_out_the_added_instance_and_gives_back_max_size(
    aws, fleet_builder, ledger, load_handler, context, api_calls
):
    # Given a group at its MaxSize 3 that the run added one to, then patched (each tagged Completed by the run)
    fleet = fleet_builder.group("web", size=3, min_size=3, max_size=3)
    app = load_handler("keep_capacity")
    added = app.lambda_handler(add_event(fleet.instance_ids[0]), context)["InstanceId"]
    for instance in fleet.instance_ids:
        tag(aws, instance, "Completed", RUN_ID)
    # When the group is done, twice (a retry)
    done, again = twice(app, remove_event(), context)
    # Then the added instance is the one terminated, with the desired capacity decremented, once
    terminated = calls_to(api_calls, "TerminateInstanceInAutoScalingGroup")
    assert [c["InstanceId"] for c in terminated] == [added]
    assert terminated[0]["ShouldDecrementDesiredCapacity"] is True
    assert added in done["Done"] and again["Done"] is None
    # and MinSize, desired capacity and MaxSize are the owner's again, with nothing left in the ledger
    assert sizes(aws) == (3, 3, 3)
    assert run_ledger.change("web", surge.ADDED) is None and run_ledger.change("web", "MaxSize") is None


def test_remove_prefers_an_instance_the_run_did_not_patch(aws, fleet, ledger, load_handler, context, api_calls):
    # Given a run that added an instance and then patched it (it is tagged Completed), and patched all but one other
    app = load_handler("keep_capacity")
    added = app.lambda_handler(add_event(fleet.instance_ids[0]), context)["InstanceId"]
    for instance in [added, *fleet.instance_ids[:2]]:
        tag(aws, instance, "Completed", RUN_ID)
    tag(aws, fleet.instance_ids[2], "Completed", "an-earlier-run")
    # When the group is done
    app.lambda_handler(remove_event(), context)
    # Then the one this run did not patch is removed, not the one added
    assert [c["InstanceId"] for c in calls_to(api_calls, "TerminateInstanceInAutoScalingGroup")] == [
        fleet.instance_ids[2]
    ]


@pytest.mark.parametrize(("moved", "expected_desired"), [(+2, 5), (-1, 2), (0, 3)])
def test_remove_takes_out_one_instance_whatever_the_scaling_did_meanwhile(
    aws, fleet, ledger, load_handler, context, api_calls, moved, expected_desired
):
    # Given a run that added an instance (desired 3 -> 4), then a scaling policy moved the desired capacity
    app = load_handler("keep_capacity")
    app.lambda_handler(add_event(fleet.instance_ids[0]), context)
    aws.client("autoscaling").set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=4 + moved)
    # When the group is done
    app.lambda_handler(remove_event(), context)
    # Then exactly one instance is removed: the scaling's change stands, and the run never removes more than it added
    assert len(calls_to(api_calls, "TerminateInstanceInAutoScalingGroup")) == 1
    assert group_of(aws, "web")["DesiredCapacity"] == expected_desired


def test_remove_leaves_the_added_instance_when_the_group_is_at_its_min_size(
    aws, fleet, ledger, load_handler, context, api_calls
):
    # Given a run that added an instance (desired 3 -> 4), then the owner raised MinSize to 4
    app = load_handler("keep_capacity")
    app.lambda_handler(add_event(fleet.instance_ids[0]), context)
    aws.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="web", MinSize=4)
    # When the group is done
    done = app.lambda_handler(remove_event(), context)
    # Then nothing is removed (it would cross MinSize), the record is gone and the group keeps its 4
    assert calls_to(api_calls, "TerminateInstanceInAutoScalingGroup") == []
    assert "MinSize 4" in done["Done"]
    assert sizes(aws) == (4, 4, 6)
    assert run_ledger.change("web", surge.ADDED) is None


def test_remove_waits_while_an_instance_the_run_took_out_is_still_in_standby(
    aws, fleet, ledger, load_handler, context, api_calls
):
    # Given a run that added an instance, then took one out that it could not return (still in Standby)
    app = load_handler("keep_capacity")
    app.lambda_handler(add_event(fleet.instance_ids[0]), context)
    runs_own_standby(load_handler, context, fleet.instance_ids[0])
    # When the group is done
    done = app.lambda_handler(remove_event(), context)
    # Then nothing is removed: the added instance stands in for the one out, and the record stays for the recovery
    assert done["Done"] is None
    assert calls_to(api_calls, "TerminateInstanceInAutoScalingGroup") == []
    assert run_ledger.change("web", surge.ADDED)["RunId"] == RUN_ID


def test_refuse_stops_the_group_alerts_once_and_gives_the_added_instance_back(
    aws, fleet, ledger, alert_topic, load_handler, context, api_calls
):
    # Given a run whose added instance never became healthy
    app = load_handler("keep_capacity")
    surge.add("web", RUN_ID)
    new = next(i for i in instances(aws) if i not in fleet.instance_ids)
    set_lifecycle_state("web", new, "Pending")
    # When the group is refused, twice (a retry)
    first, again = twice(app, refuse_event(fleet.instance_ids[0]), context)
    # Then the group is stopped for this run (its instances are left as they are), with one "Patching paused" alert
    assert run_ledger.stop_reason(f"{RUN_ID}#web") == first["Reason"] == again["Reason"]
    assert "KeepCapacity: the instance added to group web was not healthy." in first["Reason"]
    assert sent_kinds(alert_topic) == ["group-paused"]
    assert "Patching paused: group web" in sent_messages(alert_topic)[0][2]
    # and the instance added (the one not healthy) is removed, the group back to its 3
    assert [c["InstanceId"] for c in calls_to(api_calls, "TerminateInstanceInAutoScalingGroup")] == [new]
    assert group_of(aws, "web")["DesiredCapacity"] == 3


@pytest.mark.parametrize("action", ["Refuse", "Nothing"])
def test_keep_capacity_refuses_a_bad_event_and_touches_nothing(
    aws, fleet, ledger, load_handler, context, api_calls, action
):
    # Given an event without what the action needs, or with an unknown action
    event = {"Action": action, "GroupName": "web", "RunId": RUN_ID}
    # Then it is refused with a named error, and nothing is called
    from autopatch.errors import InvalidInput

    raises_twice(load_handler("keep_capacity"), event, context, InvalidInput)
    assert api_calls == []
