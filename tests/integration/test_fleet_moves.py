"""The fleet moving under a run, as AWS moves it: the scenario's fleet events applied at their moments, what Auto
Scaling does after each, and how the report shows it (the run is a DryRun: the product's handling of a moving
fleet is not what these show)."""

import pytest
from simulation_checks import simulate

pytestmark = pytest.mark.simulation


def entries(report, text):
    return [(e["t"], e["group"], e["text"]) for e in report["timeline"] if text in e["text"]]


@pytest.mark.parametrize(("early", "late"), [(20, 700), (300, 1500)])
def test_fleet_events_are_applied_at_their_moments_and_the_report_lists_every_instance(early, late):
    # Given two groups, web over two zones with a launch hook, api over three zones with AZRebalance suspended,
    # and fleet events at `early` and `late` virtual seconds (after the DryRun itself has ended)
    scenario = {
        "groups": [
            {"name": "web", "instances": 4, "min_size": 2, "max_size": 6, "launch_hook_seconds": 40},
            {"name": "api", "instances": 3, "max_size": 5, "azs": 3, "suspended_processes": ["AZRebalance"]},
        ],
        "input": {"DryRun": True},
        "events": [
            {"at": early, "group": "web", "do": "scale_out", "count": 1},
            {"at": early, "group": "api", "do": "terminate", "index": 1},
            {"at": late, "group": "web", "do": "scale_in", "count": 1, "indexes": [0]},
            {"at": late, "group": "api", "do": "set_size", "max_size": 2},
            {"at": late + 1, "group": "web", "do": "set_size", "min_size": 9},
        ],
    }

    # When the run is simulated
    report = simulate(scenario)

    # Then each event is logged at its moment, and what Auto Scaling did after it follows
    assert report["status"] == "SUCCEEDED"
    assert entries(report, "scale_out 1") == [(early, "web", "scale_out 1: desired 4 -> 5")]
    web, api = report["groups"]
    launched = [i for i in report["instances"] if i["launched_during_run"]]
    assert [(i["group"], i["index"]) for i in launched] == [("web", 4), ("api", 3)]
    web_new = launched[0]["instance_id"]
    new_states = [(e["t"], e["text"].split(" (")[0]) for e in report["timeline"] if e["instance"] == web_new]
    assert new_states == [
        (early, "Pending"),
        (early + 10, "Pending:Wait"),
        (early + 50, "Pending:Proceed"),
        (early + 51, "InService"),
        (early + 111, "healthy in its target groups"),
    ]
    # api's instance 1 went when EC2 terminated it (its target draining for 30 s), and was replaced at once
    api_gone = report["instances"][6]
    assert (api_gone["index"], api_gone["lifecycle_state"], api_gone["health"]) == (1, "Terminated", "unused")
    assert [(e["t"], e["text"]) for e in report["timeline"] if e["instance"] == api_gone["instance_id"]] == [
        (early, "Terminating (EC2 terminated it)"),
        (early + 30, "Terminated (no longer in the group)"),
    ]
    # web's chosen instance 0 went, its capacity with it; MaxSize 2 below api's desired capacity lowered it, and
    # Auto Scaling terminated one more; MinSize 9 above web's MaxSize was refused
    assert report["instances"][0]["lifecycle_state"] == "Terminated"
    assert (web["desired"], web["min_size"], web["max_size"], web["desired_moved_by_events"]) == (4, 2, 6, 0)
    assert (api["desired"], api["max_size"], api["desired_moved_by_events"]) == (2, 2, -1)
    assert [i["lifecycle_state"] for i in report["instances"]] == [
        *("Terminated", "InService", "InService", "InService", "InService"),  # web: 0 went, 4 launched
        *("Terminated", "Terminated", "InService", "InService"),  # api: 0 by the lower MaxSize, 1 by EC2
    ]
    assert entries(report, "set_size refused") == [
        (
            late + 1,
            "web",
            "set_size refused: ValidationError: Desired capacity:9 must be between the specified min size:9 and "
            "max size:6",
        )
    ]
    # every instance that was in a group is listed, by group then launch order
    assert [(i["group"], i["index"]) for i in report["instances"]] == [("web", n) for n in range(5)] + [
        ("api", n) for n in range(4)
    ]
    # the fewest serving at once: web 4 (the new one was healthy before 0 went), api 2
    assert (web["min_healthy"], api["min_healthy"]) == (4, 2)
    assert (web["suspended_processes"], api["suspended_processes"]) == ([], ["AZRebalance"])


@pytest.mark.parametrize("azs", [2, 3])
@pytest.mark.parametrize("suspended", [[], ["AZRebalance"], ["AZRebalance", "ScheduledActions"]])
def test_standby_no_longer_sets_off_az_rebalancing_the_run_suspends_it_while_an_instance_is_out(azs, suspended):
    # Given instances over 2 or 3 zones (one more than zones: taking out a zone's only instance leaves the zones two
    # apart, which Auto Scaling rebalances), patched one at a time, a person touching the group (so the fleet moves
    # as AWS moves it), its owner having suspended AZRebalance or not
    scenario = {
        "groups": [{"name": "web", "instances": azs + 1, "max_size": 6, "azs": azs, "suspended_processes": suspended}],
        "input": {"AutoScalingGroupNames": ["web"]},
        "events": [{"at": 5, "group": "web", "do": "set_size", "max_size": 6}],
    }

    # When the run is simulated
    report = simulate(scenario)

    # Then nothing is launched or terminated, and one instance at most is ever out of service
    assert report["status"] == "SUCCEEDED"
    assert [e for e in report["timeline"] if e["text"].startswith(("AZRebalance", "Terminating"))] == []
    assert [i for i in report["instances"] if i["launched_during_run"]] == []
    (web,) = report["groups"]
    assert (web["min_healthy"], web["desired"]) == (azs, azs + 1)
    # and the run suspended AZRebalance before the first instance entered standby and resumed it once, when it let
    # go of the group, unless the owner had: theirs stays
    calls = [c["operation"] for c in report["api_calls"] if c["operation"].endswith(("Standby", "Processes"))]
    cycle = ["EnterStandby", "ExitStandby"] * (azs + 1)
    assert calls == (cycle if suspended else ["SuspendProcesses", *cycle, "ResumeProcesses"])
    assert web["suspended_processes"] == suspended


@pytest.mark.parametrize(
    ("moment", "event"),
    [
        (100, {"do": "scale_in", "count": 1, "indexes": [3]}),  # while instance 0 is out
        (450, {"do": "scale_in", "count": 1, "indexes": [3]}),  # while instance 1 is out
        (100, {"do": "terminate", "index": 2}),  # a Spot interruption; a replacement joins
        (420, {"do": "terminate", "index": 3}),  # between instances
    ],
    ids=["scale-in-early", "scale-in-later", "spot-early", "spot-between"],
)
def test_an_instance_that_left_its_group_before_its_turn_is_gone_not_failed(moment, event):
    # Given a run over four instances (each out for about 400 s), one of which a scale-in or EC2 takes from the
    # group before the run reaches it, with no error allowed
    index = event.get("index", 3 if "indexes" in event else None)
    scenario = {
        "groups": [{"name": "web", "instances": 4, "min_size": 1, "max_size": 8, "patch_seconds": 300}],
        "input": {"MaxErrors": 0},
        "events": [{"at": moment, "group": "web", **event}],
    }

    report = simulate(scenario)

    # Then the run succeeds: the instance that left ends Gone, untouched and without an alert, the others patched
    assert report["status"] == "SUCCEEDED"
    planned = [i for i in report["instances"] if not i["launched_during_run"]]
    assert [i["result"] for i in planned] == ["Gone" if i["index"] == index else "Completed" for i in planned]
    gone = planned[index]
    assert (gone["lifecycle_state"], gone["tag"]) == ("Terminated", None)
    assert [c["operation"] for c in report["api_calls"] if gone["instance_id"] in str(c["params"])] == []
    assert report["notifications"] == []
    assert report["output"]["Counts"]["Gone"] == 1
    assert "1 left their group before their turn (Gone)." in report["output"]["Message"]


@pytest.mark.parametrize(
    ("change", "min_size_at_end"),
    [(None, 2), ({"min_size": 0}, 0), ({"max_size": 5}, 2)],
    ids=["owner-changes-nothing", "owner-lowers-min-size", "owner-changes-max-size"],
)
def test_lower_min_size_puts_back_only_what_the_run_changed(change, min_size_at_end):
    # Given a group at its MinSize, patched with LowerMinSize, whose owner may change its sizes while the first
    # instance is out (at 100 s)
    events = [{"at": 100, "group": "web", "do": "set_size", **change}] if change else []
    scenario = {
        "groups": [{"name": "web", "instances": 2, "min_size": 2, "max_size": 6, "patch_seconds": 300}],
        "input": {"LowerMinSize": True},
        "events": events,
    }

    report = simulate(scenario)

    # Then every instance is patched, and at the end MinSize is the owner's if they set it, else the original;
    # MaxSize what the owner made it
    assert report["status"] == "SUCCEEDED"
    assert [i["result"] for i in report["instances"]] == ["Completed", "Completed"]
    (web,) = report["groups"]
    assert web["min_size"] == min_size_at_end
    assert web["max_size"] == (change or {}).get("max_size", 6)
