"""The window in the functions: the gate's cutoff from the expected duration of one instance (this run's median,
else the group's recent runs, else the default), the time a patched instance took and its AutoPatchPatched tag,
and the forecast of check_fleet. Against a moto account; conftest.py says how and holds the shared fixtures."""

import time

import pytest

from autopatch import PATCHED_TAG_KEY, window
from autopatch import ledger as run_ledger
from autopatch.run_input import utc_text
from tests.handlers.helpers import RUN_ID, fleet_event, gate_event, ledger_item, patch_tags, sent_messages, twice

pytestmark = pytest.mark.usefixtures("held")  # the gate runs while the run holds its groups


def measured(group: str, run_id: str, *seconds: int) -> None:
    for each in seconds:
        run_ledger.add_duration(group, run_id, each)


def closes_in(seconds: int) -> str:
    return utc_text(time.time() + seconds)


@pytest.mark.parametrize(
    ("durations", "closes", "proceeds", "source"),
    [
        ({}, 1000, True, "default"),  # 15 minutes fit in 1,000 s
        ({}, 800, False, "default"),
        ({"run-old": (600, 620, 2000)}, 700, True, "recent runs"),  # median 620 s, not the mean
        ({"run-old": (600, 620, 2000)}, 500, False, "recent runs"),
        ({"run-old": (900,), RUN_ID: (300, 320)}, 500, True, "this run"),  # this run's own instances come first
        ({"run-old": (100,), RUN_ID: (600,)}, 500, False, "this run"),
    ],
    ids=["default fits", "default too long", "recent fits", "recent too long", "this run fits", "this run too long"],
)
def test_the_gate_takes_an_instance_out_only_if_it_is_expected_back_before_the_window_closes(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context, durations, closes, proceeds, source
):
    # Given what the ledger measured of group web, and a window that closes in `closes` seconds
    for run_id, seconds in durations.items():
        measured("web", run_id, *seconds)
    end_by = closes_in(closes)
    app = load_handler("check_safe_to_continue")
    # When the gate is asked about the next instance, twice
    first, second = twice(app, {**gate_event(fleet.instance_ids[0]), "EndBy": end_by}, lambda_context)
    # Then it lets the instance go only if its expected time ends before the window closes
    assert first["Proceed"] is second["Proceed"] is proceeds
    assert window.estimate(RUN_ID, "web")["Source"] == source
    marker = ledger_item(aws, ledger, f"stop#window#{RUN_ID}")
    if proceeds:
        assert marker is None
        assert ledger_item(aws, ledger, f"started#{RUN_ID}#{fleet.instance_ids[0]}") is not None
    else:
        # left for the next run, with why, recorded for the summary; no stop, and nobody alerted now
        assert f"the window closes at {end_by}" in first["Reason"]
        assert f"({source})" in first["Reason"]
        assert marker["Reason"]["S"] == first["Reason"]
        assert ledger_item(aws, ledger, f"stop#{RUN_ID}") is None
        assert sent_messages(alert_topic) == []


def test_a_patched_instance_is_tagged_with_when_and_by_which_run_and_timed_once(
    aws, fleet, ledger, alert_topic, load_handler, lambda_context
):
    # Given an instance the gate let go
    instance = fleet.instance_ids[0]
    load_handler("check_safe_to_continue").lambda_handler(gate_event(instance), lambda_context)
    app = load_handler("tag_instance")
    # When it is marked Completed, twice (a retry)
    twice(app, {"InstanceId": instance, "Value": "Completed", "RunId": RUN_ID, "GroupName": "web"}, lambda_context)
    # Then it carries the time and the run that patched it
    at, run = patch_tags(aws, instance)[PATCHED_TAG_KEY].split(" ")
    assert run == RUN_ID
    assert abs(time.mktime(time.strptime(at, "%Y-%m-%dT%H:%M:%SZ")) - time.mktime(time.gmtime())) < 60
    # and the ledger kept how long it took, once
    assert [d["RunId"] for d in run_ledger.durations("web")] == [RUN_ID]
    # and an instance failed is not tagged as patched
    app.lambda_handler({"InstanceId": fleet.instance_ids[1], "Value": "Failed", "RunId": RUN_ID}, lambda_context)
    assert PATCHED_TAG_KEY not in patch_tags(aws, fleet.instance_ids[1])


def test_the_ledger_keeps_only_the_most_recent_durations_of_a_group(aws, ledger):
    # Given more durations of a group than the ledger keeps
    measured("web", "run-old", *range(1, run_ledger.RECENT_DURATIONS + 6))
    # Then the oldest are dropped
    kept = [d["Seconds"] for d in run_ledger.durations("web")]
    assert kept == list(range(6, run_ledger.RECENT_DURATIONS + 6))


@pytest.mark.parametrize(
    ("concurrency", "closes", "fit", "left", "expected"),
    [
        (1, None, {"web": 3, "api": 2}, {"web": 0, "api": 0}, 60),  # 3 x 10 + 2 x 15 minutes
        (2, None, {"web": 3, "api": 2}, {"web": 0, "api": 0}, 30),  # side by side: the longer of 30 and 30
        (1, 45 * 60 + 30, {"web": 3, "api": 1}, {"web": 0, "api": 1}, 45),  # api starts after 30 minutes
        (2, 25 * 60 + 30, {"web": 2, "api": 1}, {"web": 1, "api": 1}, 20),
    ],
)
def test_check_fleet_forecasts_what_fits_per_group(
    aws, fleet, fleet_builder, report_bucket, unimplemented, load_handler, lambda_context,
    concurrency, closes, fit, left, expected,
):  # fmt: skip
    # Given web measured at 10 minutes an instance, api (2 instances) at 15 minutes by earlier runs
    fleet_builder.group("api", size=2)
    measured("web", "run-old", 600, 600)
    measured("api", "run-old", 900)
    end_by = closes_in(closes) if closes else None
    event = {**fleet_event("web", "api"), "GroupConcurrency": concurrency, "EndBy": end_by}
    # When the fleet is checked for the run, and as a dry run
    planned = load_handler("check_fleet").lambda_handler(event, lambda_context)["Forecast"]
    dry = load_handler("check_fleet").lambda_handler({**event, "DryRun": True}, lambda_context)["Forecast"]
    # Then both forecast how many fit and are left per group, from the measured durations, and the run's length
    for forecast in (planned, dry):
        assert {g["GroupName"]: g["FitCount"] for g in forecast["Groups"]} == fit
        assert {g["GroupName"]: g["LeftCount"] for g in forecast["Groups"]} == left
        assert {g["Estimate"] for g in forecast["Groups"]} == {"recent runs"}
        assert forecast["ExpectedMinutes"] == expected
        assert forecast["EndBy"] == end_by
        assert "Note" not in forecast
    # and the dry run names them: the first FitCount instances of each group fit, the rest are listed as left
    plan = load_handler("check_fleet").lambda_handler({**event, "DryRun": True}, lambda_context)
    web = next(g for g in plan["Groups"] if g["GroupName"] == "web")
    left = next(g for g in dry["Groups"] if g["GroupName"] == "web")["Left"]
    assert web["Instances"][fit["web"] :] == left
    assert "Fit" not in dry["Groups"][0]
