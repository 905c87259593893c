"""SoakSeconds and CanarySoakSeconds through the simulator: the run waits after a patched instance is healthy,
then checks the alarms and targets as the gate does, and stops before the next instance leaves service when one
went bad during the soak. Every scenario also passes the invariants of simulation_checks."""

import pytest
from simulation_checks import calls_on, run_alerts, simulate

pytestmark = pytest.mark.simulation


def group(name="web", instances=3, **extra):
    return {"name": name, "instances": instances, "min_size": 1, "max_size": 6, "patch_seconds": 300, **extra}


def results(report):
    return {(i["group"], i["index"]): i["result"] for i in report["instances"]}


def took_out(report, index, name="web"):
    """Whether the run put the group's instance at index in Standby."""
    (instance,) = [i["instance_id"] for i in report["instances"] if i["group"] == name and i["index"] == index]
    return any(call["operation"] == "EnterStandby" for call in calls_on(report, instance))


@pytest.mark.parametrize(("delay", "soak"), [(120, 300), (600, 900), (1800, 3600)])
def test_a_soak_catches_an_alarm_before_the_next_instance_leaves_service(delay, soak):
    # Given a group whose alarm goes off some minutes after its first instance is patched
    alarmed = group(alarm="web-5xx", alarm_delay_seconds=delay, faults={"0": "alarm_after_patch"})
    # When it is patched with a soak longer than that
    report = simulate({"groups": [alarmed], "input": {"SoakSeconds": soak}})
    # Then the run stops after the first instance, the second never leaves service, and one alert names the alarm
    assert report["error"] == "RunStopped"
    assert [results(report)[("web", n)] for n in range(3)] == ["Completed", "NotStarted", "NotStarted"]
    assert not took_out(report, 1)
    (alert,) = run_alerts(report)
    assert alert["subject"].startswith("Patching stopped")
    assert "during the soak after" in alert["message"]
    assert "alarm web-5xx is in ALARM" in alert["message"]


def test_without_a_soak_the_same_late_alarm_lets_the_next_instance_go():
    # Given the same group, its alarm going off ten minutes after the first patch
    alarmed = group(alarm="web-5xx", alarm_delay_seconds=600, faults={"0": "alarm_after_patch"})
    # When it is patched without a soak
    report = simulate({"groups": [alarmed], "input": {}})
    # Then the second instance is out of service before the alarm goes off
    assert took_out(report, 1)
    assert results(report)[("web", 1)] == "Completed"


@pytest.fixture(scope="module")
def plain():
    """A healthy group of three patched without a soak: the same run for each soak below."""
    return simulate({"groups": [group()], "input": {}})


@pytest.mark.parametrize("soak", [0, 60, 600])
def test_a_soak_adds_its_time_to_each_patched_instance(soak, plain):
    # Given a healthy group of three
    # When it is patched with SoakSeconds, and without
    soaked = simulate({"groups": [group()], "input": {"SoakSeconds": soak}})
    # Then every instance is patched, and the run takes about three soaks longer
    assert soaked["status"] == "SUCCEEDED"
    assert set(results(soaked).values()) == {"Completed"}
    assert abs(soaked["virtual_seconds"] - plain["virtual_seconds"] - 3 * soak) <= 30


@pytest.mark.parametrize("concurrency", [1, 2])
def test_the_canary_soak_follows_the_runs_first_patched_instance_only(concurrency):
    # Given two groups, the second's alarm going off ten minutes after its first instance is patched
    web = group("web", alarm="web-5xx", alarm_delay_seconds=600, faults={"0": "alarm_after_patch"})
    api = group("api", alarm="api-5xx", alarm_delay_seconds=600, faults={"0": "alarm_after_patch"})
    scenario = {
        "groups": [api, web],
        "input": {"AutoScalingGroupNames": ["api", "web"], "CanarySoakSeconds": 1800, "GroupConcurrency": concurrency},
    }
    # When the run patches them with a canary soak only
    report = simulate(scenario)
    # Then the run's first patched instance soaks and the alarm of its group stops the run before the next leaves
    # service; one alert
    assert report["error"] == "RunStopped"
    (alert,) = run_alerts(report)
    assert "during the soak after" in alert["message"]
    soaked = [name for name in ("api", "web") if f"of {name}:" in alert["message"]]
    assert len(soaked) == 1
    assert not took_out(report, 1, soaked[0])
