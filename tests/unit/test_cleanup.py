"""The clean-up after an execution that ended badly, at the lowest level: the ledger's clean-up holds, the
truthful tag, and what counts as left behind."""

import time

import pytest

from autopatch import PATCH_TAG_KEY, RUN_TAG_KEY, cleanup, groups
from autopatch import ledger as run_ledger
from autopatch.errors import GroupLocked

MACHINE = "arn:aws:states:us-east-1:123456789012:execution:autopatch-rolling-patch"
STOPPED, NEXT = f"{MACHINE}:run-stopped", f"{MACHINE}:run-next"


def tag(aws, instance, value, run_id):
    aws.client("ec2").create_tags(
        Resources=[instance], Tags=[{"Key": PATCH_TAG_KEY, "Value": value}, {"Key": RUN_TAG_KEY, "Value": run_id}]
    )


def standby(aws, instance):
    aws.client("autoscaling").enter_standby(
        AutoScalingGroupName="web", InstanceIds=[instance], ShouldDecrementDesiredCapacity=True
    )


# the ledger ---------------------------------------------------------------------------------------------
def test_a_hold_marked_for_clean_up_is_not_taken_over_until_the_mark_runs_out(ledger, monkeypatch):
    # Given a stopped execution (no longer running) that holds "web"
    monkeypatch.setattr(run_ledger, "_is_running", lambda arn: False)
    run_ledger.acquire_locks(["web"], STOPPED, "run-stopped")
    # When its clean-up marks its holds
    assert run_ledger.mark_cleaning(["web", "api"], STOPPED, int(time.time()) + 600) == ["web"]
    # Then a new run cannot take the group over while the clean-up works on it
    with pytest.raises(GroupLocked, match="held by the clean-up of run-stopped"):
        run_ledger.acquire_locks(["web"], NEXT, "run-next")
    # and takes it over once the mark has run out (a clean-up that died)
    run_ledger.mark_cleaning(["web"], STOPPED, int(time.time()) - 1)
    assert run_ledger.acquire_locks(["web"], NEXT, "run-next") == ["web"]


def test_a_clean_up_holds_again_a_group_its_run_had_released_unless_a_live_run_holds_it(ledger, monkeypatch):
    monkeypatch.setattr(run_ledger, "_is_running", lambda arn: arn == NEXT)
    assert run_ledger.hold_for_cleanup("web", STOPPED, "run-stopped", int(time.time()) + 600) == "taken"
    run_ledger.release_locks(["web"], STOPPED)
    run_ledger.acquire_locks(["web"], NEXT, "run-next")
    assert run_ledger.hold_for_cleanup("web", STOPPED, "run-stopped", int(time.time()) + 600) == "held by run-next"


@pytest.mark.parametrize("settings", [["MinSize"], ["MaxSize", "AZRebalance"], ["MinSize", "MaxSize", "AZRebalance"]])
def test_only_what_this_run_changed_on_a_group_is_its_to_give_back(ledger, settings):
    for setting in settings:
        run_ledger.remember_change("web", setting, "run-other", original=2, set_to=1)
    assert groups.changes_by("web", "run-stopped") == []
    assert groups.changes_by("web", "run-other") == settings
    assert run_ledger.change("web", settings[0]) == {"RunId": "run-other", "Original": 2, "SetTo": 1}


def test_attempts_are_counted(ledger):
    assert [run_ledger.count_attempt("cleanup#x") for _ in range(3)] == [1, 2, 3]


# what is left behind, and the truthful tag ---------------------------------------------------------------------
def test_left_behind_is_what_this_run_tagged_and_did_not_finish(aws, fleet, ledger):
    a, b, c = fleet.instance_ids
    tag(aws, a, "InProgress", "run-stopped")  # stopped before EnterStandby, or during the health wait
    tag(aws, b, "Failed", "run-stopped")  # the failure path was cut short while it was in Standby
    standby(aws, b)
    tag(aws, c, "Failed", "run-stopped")  # failed and back in service: nothing to do

    left = cleanup.left_behind("web", "run-stopped")

    assert [(i["InstanceId"], i["Was"], i["Tag"]) for i in left] == sorted(
        [(a, "InService", "InProgress"), (b, "Standby", "Failed")]
    )
    assert cleanup.left_behind("web", "run-other") == []


INSTALL = {"CommandId": "c-1", "Operation": "Install", "Status": "Success"}


@pytest.mark.parametrize(
    ("tag_value", "command", "status", "state", "healthy", "expected"),
    [
        ("InProgress", INSTALL, "Success", {"operation": "Install", "failed": 0}, True, "Completed"),
        ("InProgress", INSTALL, "Success", {"operation": "Install", "failed": 0}, False, "Failed"),
        ("InProgress", INSTALL, "Success", {"operation": "Install", "failed": 2}, True, "Failed"),
        ("InProgress", INSTALL, "Success", {"operation": "Scan", "failed": 0}, True, "Failed"),
        ("InProgress", INSTALL, "Success", None, True, "Failed"),
        ("InProgress", INSTALL, "Cancelled", {"operation": "Install", "failed": 0}, True, "Failed"),
        ("InProgress", {**INSTALL, "Operation": "Scan"}, "Success", {"operation": "Scan", "failed": 0}, True, "Failed"),
        ("InProgress", None, None, None, True, "Failed"),
        ("Failed", INSTALL, "Success", {"operation": "Install", "failed": 0}, True, "Failed"),
    ],
    ids=[
        "patched-and-healthy",
        "patched-not-healthy",
        "failed-patches",
        "compliance-from-a-scan",
        "compliance-unknown",
        "cancelled",
        "only-scanned",
        "no-command",
        "already-failed",
    ],
)
def test_completed_only_for_a_patch_known_to_have_succeeded(
    monkeypatch, tag_value, command, status, state, healthy, expected
):
    monkeypatch.setattr(cleanup, "_command_status", lambda c: status)
    monkeypatch.setattr(cleanup.compliance, "patch_state", lambda i: state)

    result, reason = cleanup._truthful_tag({"InstanceId": "i-0123456789abcdef0", "Tag": tag_value}, command, healthy)

    assert result == expected and reason
