"""The maintenance window: a run takes an instance out of service only if it is expected back before the window
closes, ends WindowEnded with one notice, and the next run (SkipPatchedWithinHours) patches only the rest; the
forecast says beforehand what fits."""

import json
from pathlib import Path

import pytest
from simulation_checks import calls_on, fleet_calls, run_alerts, simulate

from autopatch import runs

pytestmark = pytest.mark.simulation

# In the simulator an instance of a group with patch_seconds 300 takes 404 s from the gate letting it go to its
# return to service: 30 s into Standby, the patch (303 s), 70 s back to InService and healthy.
EACH = 404
DEFAULT = 15 * 60  # autopatch.window.DEFAULT_SECONDS: the estimate before any run has measured the group
HOURS = 3600


def group(name="web", instances=8, **extra):
    return {"name": name, "instances": instances, "min_size": 1, "max_size": 20, "patch_seconds": 300, **extra}


def out_of_service(report: dict) -> list[tuple[str, float, float]]:
    """Each time an instance was out of service, from the timeline: (instance, from EnteringStandby, to back
    InService)."""
    spans, since = [], {}
    for entry in report["timeline"]:
        if entry["text"].startswith("EnteringStandby"):
            since[entry["instance"]] = entry["t"]
        elif entry["text"].startswith("InService") and entry["instance"] in since:
            spans.append((entry["instance"], since.pop(entry["instance"]), entry["t"]))
    return spans + [(i, t, float("inf")) for i, t in since.items()]


def expected_fit(window_seconds: int, count: int, first: int = DEFAULT, each: int = EACH) -> int:
    """How many instances a run patches in the window: the first estimated at the default, the next ones at this
    run's own median (every instance takes `each`)."""
    patched, at = 0, 0
    while patched < count and at + (first if patched == 0 else each) <= window_seconds:
        patched, at = patched + 1, at + each
    return patched


def window_notices(report: dict) -> list[dict]:
    return [n for n in run_alerts(report) if (n["subject"] or "").startswith("Patch window ended")]


@pytest.mark.parametrize("minutes", [10, 20, 45])
def test_a_window_patches_what_fits_and_no_instance_is_out_after_it_closes(minutes):
    # Given a group of 8 instances no run has measured, and a run with a window of `minutes`
    report = simulate({"groups": [group()], "input": {"WindowMinutes": minutes}})

    # Then the run succeeds with WindowEnded: the instances that fit are patched, the rest left NotStarted with why
    fit = expected_fit(minutes * 60, 8)
    summary = report["summary"]
    assert report["status"] == "SUCCEEDED"
    assert summary["Status"] == "WindowEnded"
    assert summary["Counts"]["Completed"] == fit
    assert summary["Counts"]["NotStarted"] == 8 - fit
    left = [i for i in summary["Instances"] if i["Result"] == "NotStarted"]
    assert all("the window closed (EndBy 2026-01-04T" in i["Reason"] for i in left)
    for instance in left:
        assert calls_on(report, instance["InstanceId"]) == []
    # and no instance is out of service once the window has closed
    assert all(back <= minutes * 60 for _, _, back in out_of_service(report))
    # and one notice, not a failure alert, says how many are left
    (notice,) = window_notices(report)
    assert notice["subject"] == f"Patch window ended: run run-20260104T0300, {8 - fit} left"
    assert f"{8 - fit} instance(s) were not started" in notice["message"]
    assert [n for n in run_alerts(report) if n is not notice] == []


def test_a_run_patches_at_least_what_its_forecast_said_would_fit():
    # Given a dry run with a 45-minute window, then the run itself 5 minutes later with the same window
    window = {"WindowMinutes": 45}
    scenario = {
        "groups": [group()],
        "input": {**window, "DryRun": True},
        "later_runs": [{"at": 300, "input": window}],
    }

    report = simulate(scenario)

    dry, run = report["runs"]
    forecast = dry["summary"]["Plan"]["Forecast"]
    (web,) = forecast["Groups"]
    (planned,) = dry["summary"]["Plan"]["Groups"]
    # Then the dry run said which fit, at the default estimate it names as one
    assert (web["Estimate"], web["FitCount"], web["LeftCount"]) == ("default", 3, 5)
    assert "default 15 minutes" in forecast["Note"]
    # and the run patched at least those, in that order (its own instances improved the estimate)
    patched = [i["InstanceId"] for i in run["summary"]["Instances"] if i["Result"] == "Completed"]
    assert len(patched) >= web["FitCount"]
    assert patched[: web["FitCount"]] == planned["Instances"][: web["FitCount"]]
    assert web["Left"] == planned["Instances"][web["FitCount"] :]
    assert run["summary"]["Status"] == "WindowEnded"


@pytest.mark.parametrize(
    "end_by",
    ["2026-01-04T03:20:00Z", "2026-01-04T12:20:00+09:00", "2026-01-03T22:20:00-05:00", "2026-01-04T04:20:00+01:00"],
    ids=["UTC", "Tokyo", "New York", "Paris"],
)
def test_end_by_in_any_zone_closes_the_window_at_that_moment(end_by):
    # Given a run that must end by 03:20 UTC, written in one zone or another
    report = simulate({"groups": [group()], "input": {"EndBy": end_by}})

    # Then it patches what fits in its 20 minutes, whatever the zone, and says the window's end as it was given
    summary = report["summary"]
    assert summary["Counts"]["Completed"] == expected_fit(20 * 60, 8)
    assert summary["Message"].startswith(f"The window closed at {end_by}:")
    assert all(back <= 20 * 60 for _, _, back in out_of_service(report))


def test_groups_side_by_side_each_fit_their_own_instances_in_the_window():
    # Given two groups patched side by side (GroupConcurrency 2), one with slower instances, and a 30-minute window
    scenario = {
        "groups": [group("web", 6), group("api", 5, patch_seconds=600)],
        "input": {"WindowMinutes": 30, "GroupConcurrency": 2},
    }

    report = simulate(scenario)

    # Then each group patches what fits at its own pace, one instance at a time, none out past the window
    counts = {}
    for line in report["summary"]["Instances"]:
        counts.setdefault(line["GroupName"], []).append(line["Result"])
    assert counts["web"].count("Completed") == expected_fit(30 * 60, 6)
    assert counts["api"].count("Completed") == expected_fit(30 * 60, 5, each=704)
    assert [g["max_out_of_service"] for g in report["groups"]] == [1, 1]
    assert all(back <= 30 * 60 for _, _, back in out_of_service(report))
    assert len(window_notices(report)) == 1


def test_an_instance_out_when_the_window_closes_finishes_and_nothing_else_starts():
    # Given instances that take 22 minutes, more than the default estimate, and a 16-minute window
    report = simulate({"groups": [group(instances=4, patch_seconds=1200)], "input": {"WindowMinutes": 16}})

    # Then the first instance, expected to fit, is out when the window closes: it finishes, patched and back
    first, *rest = report["summary"]["Instances"]
    assert first["Result"] == "Completed"
    ((instance, taken_out, back),) = out_of_service(report)
    assert (instance, taken_out) == (first["InstanceId"], 0)
    assert back > 16 * 60
    # and no other instance is taken out after it
    assert [i["Result"] for i in rest] == ["NotStarted"] * 3
    assert report["summary"]["Status"] == "WindowEnded"


def test_the_next_runs_resume_with_the_rest_and_patch_none_twice():
    # Given the stack's defaults of a short window: 20 minutes, and skip what was patched within 24 hours; the
    # scheduled run (input {}), then the next ones 2 and 4 hours later, with the same defaults
    scenario = {
        "groups": [group(instances=6)],
        "input": {},
        "parameters": {"WindowMinutesDefault": "20", "SkipPatchedWithinHoursDefault": "24"},
        "later_runs": [{"at": 2 * HOURS, "input": {}}, {"at": 4 * HOURS, "input": {}}],
    }

    report = simulate(scenario)

    # Then each run patches the next 2 that fit in its window (the first at the default estimate, then at 404 s),
    # and skips those the runs before it patched, naming the run that patched each
    first, second, third = (run["summary"] for run in report["runs"])
    patched_by = {}
    for run, summary in zip(report["runs"], (first, second, third), strict=True):
        done = [i["InstanceId"] for i in summary["Instances"] if i["Result"] == "Completed"]
        assert len(done) == 2
        skipped = {i["InstanceId"]: i for i in summary["Instances"] if i["Result"] == "Skipped"}
        assert set(skipped) == set(patched_by)
        for instance, line in skipped.items():
            assert line["PatchedBy"] == patched_by[instance]
            assert line["Reason"].startswith(f"patched by run {patched_by[instance]} at 2026-01-04T0")
            assert line["Reason"].endswith("within SkipPatchedWithinHours=24")
        patched_by.update(dict.fromkeys(done, run["name"]))
    assert [first["Status"], second["Status"], third["Status"]] == ["WindowEnded", "WindowEnded", "Succeeded"]
    assert second["Counts"]["NotStarted"] == 2
    # and over the three runs each instance got exactly one patch command
    commands = [c["params"]["InstanceIds"][0] for c in fleet_calls(report) if c["operation"] == "SendCommand"]
    assert sorted(commands) == sorted(i["instance_id"] for i in report["instances"])
    # and each run its window ended sent one notice (the last one ended with nothing left)
    assert [n["subject"] for n in window_notices(report)] == [
        "Patch window ended: run run-20260104T0300, 4 left",
        "Patch window ended: run run-20260104T050000-later1, 2 left",
    ]


@pytest.mark.parametrize("concurrency", [1, 2])
def test_the_forecast_matches_the_run_within_ten_percent(concurrency):
    # Given a first run that measures two groups of different speeds, a dry run an hour later, then the run
    groups = [group("web", 3), group("api", 2, patch_seconds=600), group("jobs", 2, patch_seconds=120)]
    settings = {"GroupConcurrency": concurrency}
    scenario = {
        "groups": groups,
        "input": settings,
        "later_runs": [{"at": HOURS * 3, "input": {**settings, "DryRun": True}}, {"at": HOURS * 4, "input": settings}],
    }

    report = simulate(scenario)

    _, dry, run = report["runs"]
    forecast = dry["summary"]["Plan"]["Forecast"]
    # Then the forecast comes from measured durations, not the default
    assert {g["Estimate"] for g in forecast["Groups"]} == {"recent runs"}
    assert "Note" not in forecast
    # and the run took what it forecast, within 10%
    assert run["status"] == "SUCCEEDED"
    assert abs(forecast["ExpectedMinutes"] * 60 - run["virtual_seconds"]) <= 0.1 * run["virtual_seconds"]


def test_a_window_ends_a_run_that_spans_several_executions(monkeypatch):
    # Given a run too large for one execution (three instances per execution here) with a 50-minute window
    monkeypatch.setattr(runs, "EVENT_BUDGET", 3 * runs.EVENTS_PER_INSTANCE)
    report = simulate({"groups": [group(instances=10)], "input": {"WindowMinutes": 50}})

    # Then it continues while instances fit, then ends WindowEnded from the execution the window closed in
    fit = expected_fit(50 * 60, 10)
    assert report["status"] == "SUCCEEDED"
    assert report["summary"]["Status"] == "WindowEnded"
    assert report["summary"]["Counts"]["Completed"] == fit
    # (4 slices of 3: the gates of the last ones left their instances, the window not yet closed when they began)
    assert fit == 7
    assert len(report["run_executions"]) == 4
    assert all(back <= 50 * 60 for _, _, back in out_of_service(report))
    assert len(window_notices(report)) == 1


@pytest.mark.parametrize(
    ("run_input", "named"),
    [
        ({"WindowMinutes": 1441}, "WindowMinutes must be between 0 and 1440"),
        ({"WindowMinutes": -1}, "WindowMinutes must be between 0 and 1440"),
        ({"WindowMinutes": 30.5}, "WindowMinutes must be an integer"),
        ({"WindowMinutes": "30"}, "WindowMinutes must be an integer"),
        ({"EndBy": "2026-01-04T02:00:00Z"}, "EndBy must be after the run's start (2026-01-04T03:00:00Z)"),
        ({"EndBy": "2026-01-04T05:00:00"}, "EndBy must be an ISO 8601 time with its zone"),
        ({"EndBy": "2026-01-05T03:00:01Z"}, "at most 1440 minutes later"),
        ({"EndBy": "2026-01-04T05:00:00Z", "WindowMinutes": 60}, "Give WindowMinutes or EndBy, not both"),
        ({"SkipPatchedWithinHours": 8761}, "SkipPatchedWithinHours must be between 0 and 8760"),
    ],
    ids=["1441", "negative", "not an integer", "a string", "past", "no zone", "beyond a day", "both", "skip a year+"],
)
def test_a_bad_window_is_refused_by_name_and_nothing_is_touched(run_input, named):
    report = simulate({"groups": [group(instances=3)], "input": run_input})

    assert report["status"] == "FAILED"
    assert report["error"] == "InvalidInput"
    assert named in report["cause"]
    assert fleet_calls(report) == []


def test_a_window_that_closed_during_an_execution_starts_no_next_slice(monkeypatch):
    # Given one instance per execution, instances that take 22 minutes, and a 16-minute window
    monkeypatch.setattr(runs, "EVENT_BUDGET", runs.EVENTS_PER_INSTANCE)
    report = simulate({"groups": [group(instances=3, patch_seconds=1200)], "input": {"WindowMinutes": 16}})

    # Then the first execution patches the first instance, out past the window's end; the next execution, started
    # once the window has closed, takes no instance and ends the run WindowEnded
    assert report["run_executions"] == ["run-20260104T0300", "run-20260104T0300-part2"]
    assert [i["Result"] for i in report["summary"]["Instances"]] == ["Completed", "NotStarted", "NotStarted"]
    assert report["summary"]["Status"] == "WindowEnded"
    assert [i for i, _, _ in out_of_service(report)] == [report["summary"]["Instances"][0]["InstanceId"]]
    assert len(window_notices(report)) == 1


def test_the_readme_weekend_window_plays_out_as_it_says():
    # Given the README's weekend window: a dry run on Friday, then the schedule's Saturday and Sunday runs
    scenario = json.loads((Path(__file__).parents[2] / "simulator/scenarios/weekend-window.json").read_text())

    report = simulate(scenario)

    friday, saturday, sunday = report["runs"]
    (forecast,) = friday["summary"]["Plan"]["Forecast"]["Groups"]
    # Then Friday's forecast, at the default estimate, expects 3 of the 10 to fit in 45 minutes
    assert (forecast["Estimate"], forecast["FitCount"]) == ("default", 3)
    # and Saturday patches what fits and leaves the rest; Sunday patches exactly those, skipping Saturday's
    saturday_done = {i["InstanceId"] for i in saturday["summary"]["Instances"] if i["Result"] == "Completed"}
    sunday_done = {i["InstanceId"] for i in sunday["summary"]["Instances"] if i["Result"] == "Completed"}
    assert len(saturday_done) == expected_fit(45 * 60, 10) >= forecast["FitCount"]
    assert saturday["summary"]["Status"] == "WindowEnded"
    assert sunday_done == {i["instance_id"] for i in report["instances"]} - saturday_done
    assert sunday["summary"]["Status"] == "Succeeded"
    assert {i["PatchedBy"] for i in sunday["summary"]["Instances"] if i["Result"] == "Skipped"} == {saturday["name"]}
