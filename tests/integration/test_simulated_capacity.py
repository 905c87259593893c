"""What a whole simulated run reports about capacity: the instance-seconds each group spent below the healthy count
it started with, a group whose launches never pass their health checks, and the benchmark's KeepCapacity rows (here
with the default input only: the calls the simulated group answers are tested in tests/unit/test_simulator_aws.py),
and the rows that say what a soak and ECS draining add per instance."""

import pytest
from simulation_checks import simulate

from simulator import bench

pytestmark = pytest.mark.simulation


def moments(report, instance_id, text) -> list[float]:
    return [e["t"] for e in report["timeline"] if e["instance"] == instance_id and e["text"].startswith(text)]


@pytest.mark.parametrize(("instances", "patch_seconds", "warmup_seconds"), [(2, 300, 60), (3, 120, 200)])
def test_capacity_seconds_lost_is_each_instance_s_time_from_standby_to_healthy(
    instances, patch_seconds, warmup_seconds
):
    # Given a group whose instances are patched one at a time (no extra instance)
    scenario = {
        "groups": [
            {"name": "web", "instances": instances, "patch_seconds": patch_seconds, "warmup_seconds": warmup_seconds}
        ],
        "input": {},
    }

    # When the run is simulated
    report = simulate(scenario)

    # Then each instance was short from its EnterStandby (EnteringStandby: no longer serving) until it was healthy
    # again, one at a time: the group lost their sum, in instance-seconds, and served one fewer at worst
    assert report["status"] == "SUCCEEDED"
    (web,) = report["groups"]
    out = []
    for instance in report["instances"]:
        (left,) = moments(report, instance["instance_id"], "EnteringStandby")
        back = moments(report, instance["instance_id"], "healthy in its target groups")
        out.append(back[-1] - left)
    assert all(o > 30 + patch_seconds + 10 + warmup_seconds for o in out)
    assert web["capacity_seconds_lost"] == pytest.approx(sum(out), abs=0.01)
    assert web["min_healthy"] == instances - 1


def test_a_dry_run_loses_no_capacity_but_what_ec2_takes_until_the_end_of_the_run():
    # Given two groups; at the start EC2 terminates one of api's instances (replaced at once), web is left alone
    scenario = {
        "groups": [{"name": "web", "instances": 2}, {"name": "api", "instances": 3, "warmup_seconds": 600}],
        "input": {"DryRun": True},
        "events": [{"at": 0, "group": "api", "do": "terminate", "index": 1}],
    }

    # When a dry run is simulated (it ends long before the replacement has warmed up)
    report = simulate(scenario)

    # Then web lost nothing; api one instance for the whole run, nothing after its end
    web, api = report["groups"]
    assert report["virtual_seconds"] < 10 + 600
    assert web["capacity_seconds_lost"] == 0
    assert api["capacity_seconds_lost"] == pytest.approx(report["virtual_seconds"], abs=0.01)


def test_a_group_that_launches_unhealthy_instances_replaces_each_one_it_launches():
    # Given a group whose launches never pass their health checks, scaled out by one early in a dry run
    scenario = {
        "groups": [{"name": "web", "instances": 2, "max_size": 4, "launches_unhealthy": True}],
        "input": {"DryRun": True},
        "events": [{"at": 5, "group": "web", "do": "scale_out", "count": 1}],
    }

    # When it is simulated (the fleet is followed for an hour after the event)
    report = simulate(scenario)

    # Then each instance it launched went unhealthy after its warm-up and was replaced; its own two still serve
    launched = [i for i in report["instances"] if i["launched_during_run"]]
    assert len(launched) > 2
    replaced = [
        e for e in report["timeline"] if e["text"] == "Terminating (UNHEALTHY in its target groups (ELB health check))"
    ]
    assert [e["instance"] for e in replaced] == [i["instance_id"] for i in launched[:-1]]
    assert [i["lifecycle_state"] for i in report["instances"][:2]] == ["InService", "InService"]
    assert {i["health"] for i in report["instances"][:2]} == {"healthy"}


def test_the_benchmark_compares_inputs_on_the_same_fleet_row_by_row():
    # Given a one-group fleet of 2, run with the default input and as a dry run
    inputs = [("default", {}), ("dry run", {"DryRun": True})]

    # When the benchmark compares them
    rows = bench.compare_keep_capacity("1 x 2", 1, 2, 1, inputs)

    # Then there is a row per input, each with its makespan, transitions and capacity lost
    default, dry = rows
    assert [(r["scenario"], r["input"], r["status"], r["instances"]) for r in rows] == [
        ("1 x 2", "default", "SUCCEEDED", 2),
        ("1 x 2", "dry run", "SUCCEEDED", 2),
    ]
    assert (default["completed"], dry["completed"]) == (2, 0)
    assert default["makespan_s"] > 2 * bench.PATCH > dry["makespan_s"]
    assert default["transitions"] > dry["transitions"] > 0
    assert default["capacity_seconds_lost"] > 2 * bench.PATCH
    assert dry["capacity_seconds_lost"] == 0


def test_the_benchmark_says_what_a_soak_adds_per_instance():
    # Given a one-group fleet of 2, run with the default input and with two soak lengths
    inputs = [("default", {}), ("soak 60", {"SoakSeconds": 60}), ("soak 600", {"SoakSeconds": 600})]

    # When the benchmark compares them
    rows = bench.added_per_instance(bench.compare_keep_capacity("1 x 2", 1, 2, 1, inputs))

    # Then each row says the time its input adds to each instance: the soak
    assert [(r["input"], r["completed"], r["added_per_instance_s"]) for r in rows] == [
        ("default", 2, 0),
        ("soak 60", 2, 60),
        ("soak 600", 2, 600),
    ]
    # and the same transitions whatever its length (a Wait state), at a cost
    default, short, long = rows
    assert default["transitions_added_per_instance"] == 0 and default["cost_added_per_instance_usd"] == 0
    assert short["transitions_added_per_instance"] == long["transitions_added_per_instance"] > 0
    assert 0 < short["cost_added_per_instance_usd"] <= long["cost_added_per_instance_usd"]


def test_the_benchmark_says_what_ecs_draining_adds_per_instance():
    # Given a one-group fleet of 2 as a plain group and as ECS capacity, its tasks leaving in 2 or 10 minutes
    drains = [120, 600]
    kinds = [("plain", {})] + [
        (f"drain {s}", {"ecs": {"tasks_per_instance": tasks, "drain_seconds": s}})
        for tasks, s in zip([4, 2], drains, strict=True)
    ]

    # When the benchmark compares them
    rows = bench.added_per_instance(bench.compare_drain("1 x 2", 1, 2, 1, kinds))

    # Then each row says the time draining adds to each instance: the drain, but for the deregistration delay that
    # Standby waits for meanwhile; no task lost
    assert [(r["group"], r["status"], r["completed"], r["tasks_lost"], r["added_per_instance_s"]) for r in rows] == [
        ("plain", "SUCCEEDED", 2, 0, 0),
        *[(f"drain {s}", "SUCCEEDED", 2, 0, s - bench.DEREGISTRATION) for s in drains],
    ]
    # and what it costs: the wait's Lambda time, and for a drain longer than one call waits, a few transitions more
    plain, two_minutes, ten_minutes = rows
    assert plain["cost_added_per_instance_usd"] == 0
    assert 0 < two_minutes["cost_added_per_instance_usd"] < ten_minutes["cost_added_per_instance_usd"]
    assert [r["transitions_added_per_instance"] for r in rows[:2]] == [0, 0]
    assert ten_minutes["transitions_added_per_instance"] > 0
