"""Any fleet size: a run larger than one execution's event budget continues itself in new executions.
The budget is shrunk here so that a small fleet spans several executions."""

import pytest
from simulation_checks import calls_on, run_alerts, simulate

from autopatch import runs

pytestmark = pytest.mark.simulation


@pytest.fixture
def three_instances_per_execution(monkeypatch):
    monkeypatch.setattr(runs, "EVENT_BUDGET", 3 * runs.EVENTS_PER_INSTANCE)


def group(name="web", instances=7, **extra):
    return {"name": name, "instances": instances, "min_size": 1, "max_size": 20, "patch_seconds": 300, **extra}


def test_a_run_continues_itself_until_every_instance_is_patched(three_instances_per_execution):
    report = simulate({"groups": [group(instances=7)], "input": {}})

    assert report["status"] == "SUCCEEDED"
    assert report["run_executions"] == ["run-20260104T0300", "run-20260104T0300-part2", "run-20260104T0300-part3"]
    assert {e["status"] for e in report["executions"]} == {"SUCCEEDED"}
    assert {i["result"] for i in report["instances"]} == {"Completed"}
    # each execution kept to its budget, and the console shows where the run went on
    assert all(e["history_events"] <= runs.EVENT_BUDGET + 200 for e in report["executions"])
    summary = report["summary"]
    assert summary["Counts"]["Completed"] == 7
    assert summary["ReportLocation"].endswith("/runs/run-20260104T0300/summary.json")
    # one SnapshotId for the whole run, across executions
    snapshots = {
        c["params"]["Parameters"]["SnapshotId"][0] for c in report["api_calls"] if c["operation"] == "SendCommand"
    }
    assert len(snapshots) == 1


def test_groups_side_by_side_stay_one_instance_at_a_time_across_executions(three_instances_per_execution):
    scenario = {"groups": [group("web", 5), group("api", 4)], "input": {"GroupConcurrency": 2}}
    runs_budget = runs.slice_size(2)

    report = simulate(scenario)

    assert report["status"] == "SUCCEEDED"
    assert len(report["run_executions"]) == -(-5 // runs_budget)
    assert [g["max_out_of_service"] for g in report["groups"]] == [1, 1]


def test_a_failure_in_a_later_execution_stops_the_run_and_is_alerted_once(three_instances_per_execution):
    report = simulate({"groups": [group(instances=7, faults={"4": "patch_failed"})], "input": {}})

    assert report["status"] == "FAILED"
    assert report["error"] == "PatchingFailed"
    assert len(report["run_executions"]) == 2  # the run stopped in part 2 and did not continue
    results = [i["result"] for i in report["instances"]]
    assert results == ["Completed"] * 4 + ["Failed"] + ["NotStarted"] * 2
    for instance in report["instances"][5:]:
        assert calls_on(report, instance["instance_id"]) == []
    assert len(run_alerts(report)) == 1


def test_a_run_across_executions_bakes_each_group_once_from_its_last_instance(monkeypatch):
    # Given a budget of three instances per execution once a bake's events are set aside
    monkeypatch.setattr(runs, "EVENT_BUDGET", 3 * runs.EVENTS_PER_INSTANCE + runs.BAKE_EVENTS)
    report = simulate({"groups": [group(instances=7, scale_out_after=1)], "input": {"BakeAmi": True}})

    assert report["status"] == "SUCCEEDED"
    assert len(report["run_executions"]) == 3
    # the image is taken once, of the last instance, by the execution that patched it
    (create,) = [c for c in report["api_calls"] if c["operation"] == "CreateImage"]
    assert create["params"]["InstanceId"] == report["instances"][-1]["instance_id"]
    assert create["execution"] == report["run_executions"][-1]
    (bake,) = report["summary"]["Bakes"]
    assert bake["Status"] == "Baked"
    assert report["groups"][0]["scaled_out"][0]["image_id"] == bake["ImageId"]
