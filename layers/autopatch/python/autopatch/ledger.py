"""The run ledger (a DynamoDB table): which run holds each group, whether a run was stopped, and what a run
changed on a group and must give back. Conditional writes make each of these safe when two runs start at the
same moment."""

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


def acquire_locks(
    group_names: list[str], execution_arn: str, run_id: str, previous_execution_arn: str | None = None
) -> list[str]:
    """Hold every group for this run, taking over holds of runs that no longer run (and, for a run's next
    execution, its previous one's). Returns the groups taken over from such runs. Raises GroupLocked
    (holding nothing) when a live run holds one of them."""
    taken, taken_over, held = [], [], []
    for name in group_names:
        outcome = _acquire(name, execution_arn, run_id, previous_execution_arn)
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


def _acquire(
    name: str, execution_arn: str, run_id: str, previous_execution_arn: str | None, cleaning_until: int | None = None
) -> str:
    ddb = client("dynamodb")
    item = {
        "Id": {"S": f"lock#{name}"},
        "Holder": {"S": execution_arn},
        "RunId": {"S": run_id},
        "Since": {"N": str(int(time.time()))},
        "ExpiresAt": _expires(),
    }
    if cleaning_until is not None:
        item["CleaningUntil"] = {"N": str(cleaning_until)}
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
    current = _hold(name)
    holder = current["Holder"]["S"] if current else None
    handed_over = current is not None and holder == previous_execution_arn and current["RunId"]["S"] == run_id
    in_the_way = None if handed_over else _held_by(current)
    if in_the_way:
        return in_the_way
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


def holds_to_take_over(group_names: list[str]) -> dict[str, str]:
    """What acquire_locks would find, read only (a dry run's): the groups it would take over from runs that no
    longer run -> the execution name of each. Raises GroupLocked, as acquire_locks would, when a live run (or
    its clean-up) holds one of them."""
    holds = {name: _hold(name) for name in group_names}
    in_the_way = {name: _held_by(item) for name, item in holds.items()}
    held = [f"{name} ({why})" for name, why in in_the_way.items() if why]
    if held:
        raise GroupLocked(
            "Another run is patching " + "; ".join(held) + ". A run started now would end GroupLocked. "
            "Nothing was changed."
        )
    return {name: item["Holder"]["S"].rsplit(":", 1)[-1] for name, item in holds.items() if item}


def holder(group_name: str) -> dict | None:
    """Who holds the group now: {"RunId", "Execution" (the execution's name)}, or None when no run does."""
    item = _hold(group_name)
    return {"RunId": item["RunId"]["S"], "Execution": item["Holder"]["S"].rsplit(":", 1)[-1]} if item else None


def _hold(name: str) -> dict | None:
    ddb = client("dynamodb")
    return ddb.get_item(TableName=_table(), Key={"Id": {"S": f"lock#{name}"}}, ConsistentRead=True).get("Item")


def _held_by(item: dict | None) -> str | None:
    """ "held by ..." while the hold belongs to a live run or to its clean-up; None when it may be taken over."""
    if not item:
        return None
    holder = item["Holder"]["S"]
    if _cleaning(item):
        return f"held by the clean-up of {holder.rsplit(':', 1)[-1]}"
    if _is_running(holder):
        return f"held by {holder.rsplit(':', 1)[-1]}"
    return None


def _cleaning(item: dict) -> bool:
    """A hold the clean-up of an execution that ended badly keeps while it puts the group right (clean_up_run):
    no other run takes it over until the clean-up releases it, or its mark runs out."""
    return int(item.get("CleaningUntil", {}).get("N", "0")) > time.time()


def mark_cleaning(group_names: list[str], execution_arn: str, until: int) -> list[str]:
    """Mark the holds this execution still has as held by its clean-up until `until` (epoch seconds).
    Returns the groups it still held: the holds the execution left behind."""
    ddb, held = client("dynamodb"), []
    for name in group_names:
        try:
            ddb.update_item(
                TableName=_table(),
                Key={"Id": {"S": f"lock#{name}"}},
                UpdateExpression="SET CleaningUntil = :until",
                ConditionExpression="Holder = :me",
                ExpressionAttributeValues={":until": {"N": str(until)}, ":me": {"S": execution_arn}},
            )
            held.append(name)
        except ClientError as error:
            if not _conditional_failed(error):
                raise
    return held


def hold_for_cleanup(group_name: str, execution_arn: str, run_id: str, until: int) -> str:
    """Hold a group again for the clean-up of an execution that had released it (a crash after its own error
    handling). "taken" or "taken over"; "held by ..." when a live run or another clean-up holds it."""
    return _acquire(group_name, execution_arn, run_id, None, cleaning_until=until)


def _is_running(execution_arn: str) -> bool:
    try:
        return client("stepfunctions").describe_execution(executionArn=execution_arn)["status"] in LIVE
    except ClientError as error:
        if error.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
            return False  # no such execution (or no ARN at all) runs
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


def group_stop_key(run_id: str, group_name: str) -> str:
    """The key of the stop of one group of a run (stop, stop_reason); a stop of the whole run is keyed by its id."""
    return f"{run_id}#{group_name}"


def stop(key: str, reason: str, claimant: str) -> bool:
    """Record that a run (or a group of it) stopped. True for the one claimant that must announce it: the
    first to record it, again when it retries before announced() (its alert may not have gone out)."""
    try:
        client("dynamodb").update_item(
            TableName=_table(),
            Key={"Id": {"S": f"stop#{key}"}},
            UpdateExpression="SET Reason = if_not_exists(Reason, :reason), Claimant = if_not_exists(Claimant, :me), "
            "ExpiresAt = :expires",
            ConditionExpression="attribute_not_exists(Announced) AND "
            "(attribute_not_exists(Claimant) OR Claimant = :me)",
            ExpressionAttributeValues={":reason": {"S": reason}, ":me": {"S": claimant}, ":expires": _expires()},
        )
        return True
    except ClientError as error:
        if _conditional_failed(error):
            return False
        raise


def announced(key: str) -> None:
    """The stop's alert went out: no retry announces it again."""
    client("dynamodb").update_item(
        TableName=_table(),
        Key={"Id": {"S": f"stop#{key}"}},
        UpdateExpression="SET Announced = :yes",
        ExpressionAttributeValues={":yes": {"BOOL": True}},
    )


def stop_reason(key: str) -> str | None:
    item = (
        client("dynamodb")
        .get_item(TableName=_table(), Key={"Id": {"S": f"stop#{key}"}}, ConsistentRead=True)
        .get("Item")
    )
    return item["Reason"]["S"] if item else None


def claim_canary(run_id: str, instance_id: str) -> bool:
    """True for the run's canary: the first of its instances to claim it (once patched), again when it asks twice
    (a retry); False for every other instance. Kept with the run, so its later executions have no canary."""
    try:
        client("dynamodb").update_item(
            TableName=_table(),
            Key={"Id": {"S": f"canary#{run_id}"}},
            UpdateExpression="SET InstanceId = :me, ExpiresAt = :expires",
            ConditionExpression="attribute_not_exists(InstanceId) OR InstanceId = :me",
            ExpressionAttributeValues={":me": {"S": instance_id}, ":expires": _expires()},
        )
        return True
    except ClientError as error:
        if _conditional_failed(error):
            return False
        raise


REASON_MAX = 1000  # characters of a failure's reason kept for the clean-up's alert


def record_failure(run_id: str, instance_id: str, reason: str | None = None) -> None:
    """Count a failed instance against the run's MaxErrors. A string set: recording twice counts once. The
    reason (step, error and cause) is kept for the clean-up, whose alert stands in for one a stop cut off."""
    ddb = client("dynamodb")
    ddb.update_item(
        TableName=_table(),
        Key={"Id": {"S": f"failed#{run_id}"}},
        UpdateExpression="ADD Instances :instance SET ExpiresAt = :expires",
        ExpressionAttributeValues={":instance": {"SS": [instance_id]}, ":expires": _expires()},
    )
    if reason:
        item = {"Id": {"S": f"failed#{run_id}#{instance_id}"}, "Reason": {"S": reason[:REASON_MAX]}}
        ddb.put_item(TableName=_table(), Item={**item, "ExpiresAt": _expires()})


def failure_reason(run_id: str, instance_id: str) -> str | None:
    item = (
        client("dynamodb")
        .get_item(TableName=_table(), Key={"Id": {"S": f"failed#{run_id}#{instance_id}"}}, ConsistentRead=True)
        .get("Item")
    )
    return item["Reason"]["S"] if item else None


def failures(run_id: str) -> list[str]:
    """The instances that failed in this run (consistent read, unlike a query on instance tags)."""
    item = (
        client("dynamodb")
        .get_item(TableName=_table(), Key={"Id": {"S": f"failed#{run_id}"}}, ConsistentRead=True)
        .get("Item")
    )
    return sorted(item["Instances"]["SS"]) if item else []


def record_recovered(run_id: str, group_name: str, instance_id: str) -> None:
    """Note an instance this run is recovering from a dead run (a string set: noting it twice is harmless)."""
    client("dynamodb").update_item(
        TableName=_table(),
        Key={"Id": {"S": f"recovered#{run_id}#{group_name}"}},
        UpdateExpression="ADD Instances :instance SET ExpiresAt = :expires",
        ExpressionAttributeValues={":instance": {"SS": [instance_id]}, ":expires": _expires()},
    )


def recovered(run_id: str, group_name: str) -> list[str]:
    item = (
        client("dynamodb")
        .get_item(TableName=_table(), Key={"Id": {"S": f"recovered#{run_id}#{group_name}"}}, ConsistentRead=True)
        .get("Item")
    )
    return sorted(item["Instances"]["SS"]) if item else []


def remember_change(
    group_name: str,
    setting: str,
    run_id: str,
    original: int | None = None,
    set_to: int | None = None,
    instances: list[str] | None = None,
) -> None:
    """Record, before making it, a change the run makes to a group and must give back (groups.SETTINGS, and the
    instance KeepCapacity adds, surge.ADDED): the setting's original value and the run's (none for a process the
    run suspends), and the group's instances at that moment if given. Replaces an earlier record."""
    item = {"Id": {"S": _change_key(group_name, setting)}, "RunId": {"S": run_id}, "ExpiresAt": _expires()}
    for name, value in (("Original", original), ("SetTo", set_to)):
        if value is not None:
            item[name] = {"N": str(value)}
    if instances:
        item["Instances"] = {"SS": instances}
    client("dynamodb").put_item(TableName=_table(), Item=item)


def note_on_change(group_name: str, setting: str, **notes: str) -> None:
    """Add what became known since to a recorded change (the instance launched for it, that it was made)."""
    names = sorted(notes)
    client("dynamodb").update_item(
        TableName=_table(),
        Key={"Id": {"S": _change_key(group_name, setting)}},
        UpdateExpression="SET " + ", ".join(f"#{n} = :{n}" for n in names),
        ConditionExpression="attribute_exists(Id)",
        ExpressionAttributeNames={f"#{n}": n for n in names},
        ExpressionAttributeValues={f":{n}": {"S": notes[n]} for n in names},
    )


def hand_over_change(group_name: str, setting: str, run_id: str) -> None:
    """The change is this run's to give back from now on (it recovers what a dead run left)."""
    client("dynamodb").update_item(
        TableName=_table(),
        Key={"Id": {"S": _change_key(group_name, setting)}},
        UpdateExpression="SET RunId = :run",
        ConditionExpression="attribute_exists(Id)",
        ExpressionAttributeValues={":run": {"S": run_id}},
    )


def change(group_name: str, setting: str) -> dict | None:
    """{"RunId", "Original", "SetTo"} of the change a run recorded to this setting of the group and has not given
    back, with its "Instances" if recorded and what note_on_change added; None when there is none."""
    item = (
        client("dynamodb")
        .get_item(TableName=_table(), Key={"Id": {"S": _change_key(group_name, setting)}}, ConsistentRead=True)
        .get("Item")
    )
    if not item:
        return None
    number = {name: int(item[name]["N"]) if name in item else None for name in ("Original", "SetTo")}
    notes = {name: value["S"] for name, value in item.items() if "S" in value and name not in ("Id", "RunId")}
    instances = {"Instances": sorted(item["Instances"]["SS"])} if "Instances" in item else {}
    return {"RunId": item.get("RunId", {}).get("S"), **number, **instances, **notes}


def forget_change(group_name: str, setting: str) -> None:
    client("dynamodb").delete_item(TableName=_table(), Key={"Id": {"S": _change_key(group_name, setting)}})


def _change_key(group_name: str, setting: str) -> str:
    return f"{setting.lower()}#{group_name}"  # minsize#web, maxsize#web, azrebalance#web, addedinstance#web


def remember_standby(run_id: str, instance_id: str) -> None:
    """The run's EnterStandby lowered the group's desired capacity for this instance: owed back until forget_standby."""
    client("dynamodb").put_item(TableName=_table(), Item={**_standby_key(run_id, instance_id), "ExpiresAt": _expires()})


def standby_taken(run_id: str, instance_id: str) -> bool:
    """Whether the capacity the run's standby took for this instance is still owed to its group."""
    key = _standby_key(run_id, instance_id)
    return "Item" in client("dynamodb").get_item(TableName=_table(), Key=key, ConsistentRead=True)


def forget_standby(run_id: str, instance_id: str) -> None:
    """The capacity was given back (ExitStandby, or desired capacity raised for an instance that went)."""
    client("dynamodb").delete_item(TableName=_table(), Key=_standby_key(run_id, instance_id))


def _standby_key(run_id: str, instance_id: str) -> dict:
    return {"Id": {"S": f"standby#{run_id}#{instance_id}"}}


def count_attempt(key: str) -> int:
    """Count one more attempt at something retried (the clean-up of an execution); returns the count."""
    found = client("dynamodb").update_item(
        TableName=_table(),
        Key={"Id": {"S": f"attempts#{key}"}},
        UpdateExpression="ADD Attempts :one SET ExpiresAt = :expires",
        ExpressionAttributeValues={":one": {"N": "1"}, ":expires": _expires()},
        ReturnValues="UPDATED_NEW",
    )
    return int(found["Attributes"]["Attempts"]["N"])


# The ledger's sparse index of the tasks waiting for a patch command: only wait items carry its key, so the
# follower (follow_waiting_commands) reads the waiting tasks without scanning the table.
WAITING_INDEX = "Waiting"
WAITING = "patch-command"  # the index key's one value


def remember_task_token(instance_id: str, run_id: str, token: str, operation: str) -> None:
    """Where the end of this instance's patch command (its status-change event, or the follower) finds the Step
    Functions task waiting for it."""
    client("dynamodb").put_item(
        TableName=_table(),
        Item={
            "Id": {"S": f"wait#{instance_id}"},
            "InstanceId": {"S": instance_id},
            "RunId": {"S": run_id},
            "TaskToken": {"S": token},
            "Operation": {"S": operation},
            WAITING_INDEX: {"S": WAITING},
            "ExpiresAt": _expires(),
        },
    )


def attach_command(instance_id: str, command_id: str) -> None:
    """Note the command's id on the wait item; gone already means the command ended and was handed over."""
    try:
        client("dynamodb").update_item(
            TableName=_table(),
            Key={"Id": {"S": f"wait#{instance_id}"}},
            UpdateExpression="SET CommandId = :command",
            ConditionExpression="attribute_exists(Id)",
            ExpressionAttributeValues={":command": {"S": command_id}},
        )
    except ClientError as error:
        if not _conditional_failed(error):
            raise


def _strings(item: dict) -> dict:
    return {key: value["S"] for key, value in item.items() if "S" in value}


def waiting_task(instance_id: str) -> dict | None:
    """{"InstanceId", "TaskToken", "RunId", "Operation", "CommandId"} of the task waiting for this instance's
    patch, if any (CommandId once attached)."""
    item = (
        client("dynamodb")
        .get_item(TableName=_table(), Key={"Id": {"S": f"wait#{instance_id}"}}, ConsistentRead=True)
        .get("Item")
    )
    return _strings(item) if item else None


def waiting_tasks() -> list[dict]:
    """Every task waiting for a patch command, as waiting_task gives them (from the index, eventually
    consistent: a task that has just started waiting may be missing)."""
    pages = (
        client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=_table(),
            IndexName=WAITING_INDEX,
            KeyConditionExpression="#waiting = :waiting",
            ExpressionAttributeNames={"#waiting": WAITING_INDEX},
            ExpressionAttributeValues={":waiting": {"S": WAITING}},
        )
    )
    return [_strings(item) for page in pages for item in page["Items"]]


def forget_waiting_task(instance_id: str, token: str) -> bool:
    """Forget the task waiting on `token`; False when the ledger no longer holds it (it was forgotten already, or
    a newer wait replaced it, which stays)."""
    try:
        client("dynamodb").delete_item(
            TableName=_table(),
            Key={"Id": {"S": f"wait#{instance_id}"}},
            ConditionExpression="TaskToken = :token",
            ExpressionAttributeValues={":token": {"S": token}},
        )
        return True
    except ClientError as error:
        if _conditional_failed(error):
            return False
        raise


# How long the instances of each group took, from the gate letting one go to its return to service, patched: the
# window's estimate (autopatch.window). The group's item keeps the most recent RECENT_DURATIONS, of any run.
RECENT_DURATIONS = 20


def remember_start(run_id: str, instance_id: str) -> None:
    """The gate let the instance go: its patching starts now."""
    client("dynamodb").update_item(
        TableName=_table(),
        Key=_start_key(run_id, instance_id),
        UpdateExpression="SET Since = :now, ExpiresAt = :expires",
        ExpressionAttributeValues={":now": {"N": str(int(time.time()))}, ":expires": _expires()},
    )


def take_start(run_id: str, instance_id: str) -> int | None:
    """When the instance's patching started, forgotten as it is read (DeleteItem with ReturnValues ALL_OLD returns
    the item as it was, nothing when there was none): a second call (a retry) gets None."""
    found = client("dynamodb").delete_item(
        TableName=_table(), Key=_start_key(run_id, instance_id), ReturnValues="ALL_OLD"
    )
    return int(found["Attributes"]["Since"]["N"]) if "Attributes" in found else None


def _start_key(run_id: str, instance_id: str) -> dict:
    return {"Id": {"S": f"started#{run_id}#{instance_id}"}}


def add_duration(group_name: str, run_id: str, seconds: int) -> None:
    """Keep how long one of the group's instances took in this run, dropping the oldest beyond RECENT_DURATIONS:
    list_append adds it at the end, REMOVE Recent[n] drops list elements by index
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html)."""
    ddb, key = client("dynamodb"), _durations_key(group_name)
    entry = {"M": {"RunId": {"S": run_id}, "Seconds": {"N": str(seconds)}}}
    found = ddb.update_item(
        TableName=_table(),
        Key=key,
        UpdateExpression="SET Recent = list_append(if_not_exists(Recent, :none), :entry), ExpiresAt = :expires",
        ExpressionAttributeValues={":none": {"L": []}, ":entry": {"L": [entry]}, ":expires": _expires()},
        ReturnValues="UPDATED_NEW",
    )
    extra = len(found["Attributes"]["Recent"]["L"]) - RECENT_DURATIONS
    if extra > 0:
        ddb.update_item(
            TableName=_table(), Key=key, UpdateExpression="REMOVE " + ", ".join(f"Recent[{n}]" for n in range(extra))
        )


def _durations_key(group_name: str) -> dict:
    return {"Id": {"S": f"durations#{group_name}"}}


def durations(group_name: str) -> list[dict]:
    """The group's recent durations, oldest first: [{"RunId", "Seconds"}]."""
    item = (
        client("dynamodb").get_item(TableName=_table(), Key=_durations_key(group_name), ConsistentRead=True).get("Item")
    )
    entries = item["Recent"]["L"] if item else []
    return [{"RunId": e["M"]["RunId"]["S"], "Seconds": int(e["M"]["Seconds"]["N"])} for e in entries]


def remember_cluster(run_id: str, group_name: str, cluster: str | None) -> None:
    """The ECS cluster whose capacity the group is (None: none), found once per run and group (autopatch.ecs)."""
    item = {**_cluster_key(run_id, group_name), "Cluster": {"S": cluster or ""}, "ExpiresAt": _expires()}
    client("dynamodb").put_item(TableName=_table(), Item=item)


def cluster(run_id: str, group_name: str) -> dict | None:
    """{"Cluster": the cluster's ARN or None} as remember_cluster recorded it; None when the run has not looked yet."""
    item = client("dynamodb").get_item(TableName=_table(), Key=_cluster_key(run_id, group_name)).get("Item")
    return {"Cluster": item["Cluster"]["S"] or None} if item else None


def _cluster_key(run_id: str, group_name: str) -> dict:
    return {"Id": {"S": f"ecscluster#{run_id}#{group_name}"}}


def remember_drain(run_id: str, instance_id: str, cluster_arn: str, container_instance: str, deadline: int) -> None:
    """A run sets the instance's container instance DRAINING (recorded before the call): until forget_drain, a run
    of this stack owes it ACTIVE again, whichever run (the next run's recovery too) sees the instance healthy."""
    item = {
        **_drain_key(instance_id),
        "RunId": {"S": run_id},
        "Cluster": {"S": cluster_arn},
        "ContainerInstance": {"S": container_instance},
        "Deadline": {"N": str(deadline)},
        "ExpiresAt": _expires(),
    }
    client("dynamodb").put_item(TableName=_table(), Item=item)


def drain(instance_id: str) -> dict | None:
    """{"RunId", "Cluster", "ContainerInstance", "Deadline"} of the drain a run recorded and has not ended."""
    item = client("dynamodb").get_item(TableName=_table(), Key=_drain_key(instance_id), ConsistentRead=True).get("Item")
    if not item:
        return None
    return {
        **{name: item[name]["S"] for name in ("RunId", "Cluster", "ContainerInstance")},
        "Deadline": int(item["Deadline"]["N"]),
    }


def forget_drain(instance_id: str) -> None:
    """The container instance is ACTIVE again (or gone with its instance)."""
    client("dynamodb").delete_item(TableName=_table(), Key=_drain_key(instance_id))


def _drain_key(instance_id: str) -> dict:
    return {"Id": {"S": f"drain#{instance_id}"}}
