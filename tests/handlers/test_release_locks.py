"""release_locks: at the end of the run, what it still has changed on its groups given back, then its holds released.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import pytest

from autopatch import ledger as run_ledger
from tests.handlers.helpers import EXECUTION_ARN, RUN_ID, calls_to, group_of, ledger_item, twice


def release_event(*names):
    return {"RunId": RUN_ID, "ExecutionArn": EXECUTION_ARN, "GroupNames": list(names)}


def leave_changes(aws, ledger, group, run_id, max_now):
    """A run raised the group's MaxSize 3 to 4 (the group is now at max_now) and suspended its AZRebalance."""
    asg, ddb = aws.client("autoscaling"), aws.client("dynamodb")
    asg.update_auto_scaling_group(AutoScalingGroupName=group, MaxSize=max_now)
    asg.suspend_processes(AutoScalingGroupName=group, ScalingProcesses=["AZRebalance"])
    for item in (
        {"Id": {"S": f"maxsize#{group}"}, "Original": {"N": "3"}, "SetTo": {"N": "4"}},
        {"Id": {"S": f"azrebalance#{group}"}},
    ):
        ddb.put_item(TableName=ledger, Item={**item, "RunId": {"S": run_id}})


@pytest.mark.parametrize(("max_now", "max_at_end"), [(4, 3), (6, 6)], ids=["still-the-runs", "owner-set-6-since"])
def test_release_locks_gives_back_the_max_size_and_az_rebalance_the_run_changed(
    aws, fleet, ledger, load_handler, lambda_context, api_calls, max_now, max_at_end
):
    # Given "web" (3 instances) held by this run, which raised its MaxSize 3 to 4 (the owner may have set another
    # since) and suspended its AZRebalance
    run_ledger.acquire_locks(["web"], EXECUTION_ARN, RUN_ID)
    leave_changes(aws, ledger, "web", RUN_ID, max_now)
    # When the run lets go of it, twice
    twice(load_handler("release_locks"), release_event("web"), lambda_context)
    # Then MaxSize is the owner's again (put back once, if it was still the run's), AZRebalance resumed once, the
    # records and the hold gone
    grp = group_of(aws, "web")
    assert (grp["MaxSize"], grp["SuspendedProcesses"]) == (max_at_end, [])
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == (
        [{"AutoScalingGroupName": "web", "MaxSize": 3}] if max_now == 4 else []
    )
    assert len(calls_to(api_calls, "ResumeProcesses")) == 1
    assert [ledger_item(aws, ledger, f"{k}#web") for k in ("maxsize", "azrebalance", "lock")] == [None] * 3


def test_release_locks_leaves_what_another_run_changed(
    aws, fleet_builder, ledger, load_handler, lambda_context, api_calls
):
    # Given "web", held by another run that raised its MaxSize and suspended its AZRebalance, and "api" of this run
    fleet_builder.group("web")
    fleet_builder.group("api")
    other = EXECUTION_ARN.replace(RUN_ID, "run-other")
    run_ledger.acquire_locks(["web"], other, "run-other")
    leave_changes(aws, ledger, "web", "run-other", 4)
    # When this run lets go of both (as after it found "web" held: GroupLocked)
    load_handler("release_locks").lambda_handler(release_event("web", "api"), lambda_context)
    # Then the other run's changes and hold stay as they are
    grp = group_of(aws, "web")
    assert (grp["MaxSize"], [p["ProcessName"] for p in grp["SuspendedProcesses"]]) == (4, ["AZRebalance"])
    assert calls_to(api_calls, "UpdateAutoScalingGroup") == calls_to(api_calls, "ResumeProcesses") == []
    assert ledger_item(aws, ledger, "lock#web")["Holder"]["S"] == other
