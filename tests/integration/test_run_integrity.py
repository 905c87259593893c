"""What a run trusts, through the simulator: its error budget (Scan failures count too), the alarms it is given
(each must exist, any number of them), a gate that fails, a continuation started by hand, and alerts whose
subjects say which run and which group. Every scenario also passes the invariants of simulation_checks."""

import pytest
from simulation_checks import calls_on, fleet_calls, run_alerts, simulate

pytestmark = pytest.mark.simulation

RUN = "run-20260104T0300"  # the simulator's first execution


def group(name="web", instances=3, **extra):
    return {"name": name, "instances": instances, "min_size": 1, "max_size": 6, "patch_seconds": 300, **extra}


def results(report, name=None):
    return [i["result"] for i in report["instances"] if name is None or i["group"] == name]


# the error budget: Scan failures count --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("max_errors", "failing", "expected"),
    [
        (0, [0], ["Failed", "NotStarted", "NotStarted", "NotStarted", "NotStarted"]),
        (2, [0, 1, 2], ["Failed", "Failed", "Failed", "NotStarted", "NotStarted"]),
        (2, [1, 3], ["Completed", "Failed", "Completed", "Failed", "Completed"]),
    ],
    ids=["max-errors-0", "max-errors-2-spent", "max-errors-2-within"],
)
def test_scan_failures_count_against_max_errors(max_errors, failing, expected):
    # Given a Scan run whose scans fail on some instances
    faults = {str(n): "patch_failed" for n in failing}
    scenario = {"groups": [group(instances=5, faults=faults)], "input": {"Operation": "Scan", "MaxErrors": max_errors}}

    report = simulate(scenario)

    # Then the run stops scanning once more instances failed than MaxErrors allows, and alerts each failure once
    assert results(report) == expected
    spent = len(failing) > max_errors
    assert (report["status"], report["error"]) == (("FAILED", "PatchingFailed") if spent else ("SUCCEEDED", None))
    assert len(run_alerts(report)) == len(failing)
    # and a scan never took an instance out of service, nor tagged it
    assert not [c for c in fleet_calls(report) if c["operation"] in ("EnterStandby", "ExitStandby", "CreateTags")]
    for instance in report["instances"]:
        if instance["result"] == "NotStarted":
            assert calls_on(report, instance["instance_id"]) == []


# alerts ---------------------------------------------------------------------------------------------------
def test_two_groups_paused_in_one_run_send_alerts_that_name_each_group_and_the_run():
    # Given two groups patched side by side, each paused by its operator after its first instance
    scenario = {
        "groups": [group("web", faults={"0": "paused_after_patch"}), group("api", faults={"0": "paused_after_patch"})],
        "input": {"GroupConcurrency": 2},
    }

    report = simulate(scenario)

    # Then the run succeeds with both groups paused, and each pause is one alert whose subject names its group
    assert report["status"] == "SUCCEEDED"
    assert sorted(report["output"]["PausedGroups"]) == ["api", "web"]
    subjects = sorted(a["subject"] for a in run_alerts(report))
    assert subjects == [f"Patching paused: group api, run {RUN}", f"Patching paused: group web, run {RUN}"]


def test_a_failure_and_a_stop_name_their_run_and_group():
    scenario = {"groups": [group("web", alarm="web-5xx", faults={"0": "patch_failed", "1": "alarm_after_patch"})]}
    scenario["input"] = {"MaxErrors": 1}

    report = simulate(scenario)

    assert report["error"] == "RunStopped"
    failed, stopped = run_alerts(report)
    assert failed["subject"] == f"Patching failed: {report['instances'][0]['instance_id']} in web, run {RUN}"
    assert stopped["subject"] == f"Patching stopped: run {RUN}, at group web"
