"""Constants and helpers the handler tests share: the run under test, fixed times and events, and the
lookups of what a handler left in the moto account. The fixtures are in conftest.py."""

import json
import uuid

import pytest
from botocore.exceptions import ClientError
from moto.autoscaling.models import autoscaling_backends
from moto.sns.models import sns_backends

from autopatch import PATCH_DOCUMENT, PATCH_TAG_KEY, PATCHED_TAG_KEY, RUN_TAG_KEY

REGION = "us-east-1"
ACCOUNT = "123456789012"
STATE_MACHINE = "RollingPatch"
RUN_ID = "run-2026-11-25"
EXECUTION_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{STATE_MACHINE}:{RUN_ID}"
SNAPSHOT_ID = "0b4e7c2a-1d9f-5a3e-8c71-2f6d9e0a4b13"
NOW = 1_795_000_000  # a fixed "now" for the deadline arithmetic


# --- invoking and reading ----------------------------------------------------------------------------


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


def runs_own_standby(load_handler, context, instance, group="web"):
    """The run's own EnterStandby (enter_standby): the ledger owes the group the capacity it took until it returns
    the instance, and it stays owed for one the run could not return to service."""
    load_handler("enter_standby").lambda_handler(standby_event(instance, group), context)


def patch_tags(aws, instance):
    """The tags a run leaves on an instance (the propagated AutoPatch opt-in tag left out)."""
    found = aws.client("ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": [instance]}])["Tags"]
    return {t["Key"]: t["Value"] for t in found if t["Key"] in (PATCH_TAG_KEY, RUN_TAG_KEY, PATCHED_TAG_KEY)}


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


def hold(aws, ledger, group, execution_arn=EXECUTION_ARN, run_id=RUN_ID):
    """The hold acquire_locks writes, written with the test's own client (not one of the handlers' calls)."""
    item = {"Id": {"S": f"lock#{group}"}, "Holder": {"S": execution_arn}, "RunId": {"S": run_id}}
    aws.client("dynamodb").put_item(TableName=ledger, Item={**item, "Since": {"N": "0"}})


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


# --- events of one handler that the tests of others build too -------------------------------------


def fleet_event(*names, lower_min_size=False, offline="refuse", dry_run=None, keep_capacity=False):
    event = {"RunId": RUN_ID, "ExecutionArn": EXECUTION_ARN, "GroupNames": list(names)}
    event |= {"LowerMinSize": lower_min_size, "KeepCapacity": keep_capacity, "OfflineInstances": offline}
    return event if dry_run is None else {**event, "DryRun": dry_run}


def saved_plan(aws, bucket, run_id=RUN_ID):
    found = aws.client("s3").get_object(Bucket=bucket, Key=f"runs/{run_id}/plan.json")
    return json.loads(found["Body"].read())


def record_event(part, results, max_errors=0):
    return {"RunId": RUN_ID, "Part": part, "Results": results, "MaxErrors": max_errors}


def gate_event(instance, group="web", max_errors=0, alarm_names=()):
    return {
        "GroupName": group,
        "InstanceId": instance,
        "RunId": RUN_ID,
        "ExecutionArn": EXECUTION_ARN,
        "MaxErrors": max_errors,
        "AlarmNames": list(alarm_names),
    }


def standby_event(instance, group="web", **extra):
    return {"GroupName": group, "InstanceId": instance, "TimeoutSeconds": 900, "RunId": RUN_ID, **extra}


def wait_event(instance, deadline, group="web", interval=5):
    return {"GroupName": group, "InstanceId": instance, "Deadline": deadline, "PollIntervalSeconds": interval}


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


def result(instance, group, outcome, command_id=None):
    return {"InstanceId": instance, "GroupName": group, "Result": outcome, "CommandId": command_id}
