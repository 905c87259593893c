"""The run ledger (a DynamoDB table): which run holds each group, whether a run was stopped, and the MinSize
a run lowered. Conditional writes make each of these safe when two runs start at the same moment."""

import os
import time

from botocore.exceptions import ClientError

from .clients import client
from .errors import GroupLocked

RETENTION_SECONDS = 90 * 24 * 3600  # items expire (TTL attribute ExpiresAt) like execution names do
LIVE = ("RUNNING", "PENDING_REDRIVE")


def _table() -> str:
    return os.environ["LEDGER_TABLE"]


def _expires() -> dict:
    return {"N": str(int(time.time()) + RETENTION_SECONDS)}


def _conditional_failed(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


def acquire_locks(group_names: list[str], execution_arn: str, run_id: str) -> list[str]:
    """Hold every group for this run, taking over holds of runs that no longer run. Returns the groups
    taken over from such runs. Raises GroupLocked (holding nothing) when a live run holds one of them."""
    taken, taken_over, held = [], [], []
    for name in group_names:
        outcome = _acquire(name, execution_arn, run_id)
        if outcome.startswith("held by "):
            held.append(f"{name} ({outcome})")
        else:
            taken.append(name)
            if outcome == "taken over":
                taken_over.append(name)
    if held:
        release_locks(taken, execution_arn)
        raise GroupLocked("Another run is patching " + "; ".join(held) + ". Nothing was touched.")
    return taken_over


def _acquire(name: str, execution_arn: str, run_id: str) -> str:
    ddb = client("dynamodb")
    item = {
        "Id": {"S": f"lock#{name}"},
        "Holder": {"S": execution_arn},
        "RunId": {"S": run_id},
        "Since": {"N": str(int(time.time()))},
        "ExpiresAt": _expires(),
    }
    try:
        ddb.put_item(
            TableName=_table(),
            Item=item,
            ConditionExpression="attribute_not_exists(Id) OR Holder = :me",
            ExpressionAttributeValues={":me": {"S": execution_arn}},
        )
        return "taken"
    except ClientError as error:
        if not _conditional_failed(error):
            raise
    current = ddb.get_item(TableName=_table(), Key={"Id": {"S": f"lock#{name}"}}, ConsistentRead=True).get("Item")
    holder = current["Holder"]["S"] if current else None
    if holder and _is_running(holder):
        return f"held by {holder.rsplit(':', 1)[-1]}"
    try:
        ddb.put_item(
            TableName=_table(),
            Item=item,
            ConditionExpression="attribute_not_exists(Id) OR Holder = :old",
            ExpressionAttributeValues={":old": {"S": holder or ""}},
        )
    except ClientError as error:
        if _conditional_failed(error):  # another run took it over first
            return "held by another run"
        raise
    return "taken over"


def _is_running(execution_arn: str) -> bool:
    try:
        return client("stepfunctions").describe_execution(executionArn=execution_arn)["status"] in LIVE
    except ClientError as error:
        if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
            return False
        raise


def release_locks(group_names: list[str], execution_arn: str) -> None:
    ddb = client("dynamodb")
    for name in group_names:
        try:
            ddb.delete_item(
                TableName=_table(),
                Key={"Id": {"S": f"lock#{name}"}},
                ConditionExpression="Holder = :me",
                ExpressionAttributeValues={":me": {"S": execution_arn}},
            )
        except ClientError as error:
            if not _conditional_failed(error):  # not ours (any more): nothing to release
                raise


def stop(key: str, reason: str) -> bool:
    """Record that a run (or a group of it) stopped. True only for the call that recorded it first."""
    try:
        client("dynamodb").update_item(
            TableName=_table(),
            Key={"Id": {"S": f"stop#{key}"}},
            UpdateExpression="SET Reason = :reason, ExpiresAt = :expires",
            ConditionExpression="attribute_not_exists(Reason)",
            ExpressionAttributeValues={":reason": {"S": reason}, ":expires": _expires()},
        )
        return True
    except ClientError as error:
        if _conditional_failed(error):
            return False
        raise


def stop_reason(key: str) -> str | None:
    item = (
        client("dynamodb")
        .get_item(TableName=_table(), Key={"Id": {"S": f"stop#{key}"}}, ConsistentRead=True)
        .get("Item")
    )
    return item["Reason"]["S"] if item else None


def remember_min_size(group_name: str, original: int, run_id: str) -> bool:
    """Record a group's MinSize before lowering it. False when one is already recorded (keep the first)."""
    try:
        client("dynamodb").put_item(
            TableName=_table(),
            Item={
                "Id": {"S": f"minsize#{group_name}"},
                "OriginalMinSize": {"N": str(original)},
                "RunId": {"S": run_id},
                "ExpiresAt": _expires(),
            },
            ConditionExpression="attribute_not_exists(Id)",
        )
        return True
    except ClientError as error:
        if _conditional_failed(error):
            return False
        raise


def lowered_min_size(group_name: str) -> int | None:
    item = (
        client("dynamodb")
        .get_item(TableName=_table(), Key={"Id": {"S": f"minsize#{group_name}"}}, ConsistentRead=True)
        .get("Item")
    )
    return int(item["OriginalMinSize"]["N"]) if item else None


def forget_min_size(group_name: str) -> None:
    client("dynamodb").delete_item(TableName=_table(), Key={"Id": {"S": f"minsize#{group_name}"}})
