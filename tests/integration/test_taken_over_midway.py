"""A group taken from the run midway: an instance refresh started on it, its hold in the run ledger lost to a
person or another run, or one of its instances put in Standby by another tool or a person. The check before its
next instance stops that group only, with one alert that says why; the instance out of service finishes first and
the other groups go on. And a group with a warm pool: the plan says so, the run patches the group's own instances
and leaves the pool's alone. Every scenario also passes the invariants of simulation_checks."""

import json

import pytest
from simulation_checks import calls_on, run_alerts, simulate

pytestmark = pytest.mark.simulation

RUN = "run-20260104T0300"
OTHER_RUN = f"{RUN}-2"


def group(name, instances=3, **extra):
    # AZRebalance suspended by the owner: standby leaving a zone short would otherwise set off rebalancing, which
    # test_fleet_moves.py shows; here only the refresh or the hold moves
    return {
        "name": name,
        "instances": instances,
        "min_size": 1,
        "max_size": 6,
        "patch_seconds": 300,
        "suspended_processes": ["AZRebalance"],
        **extra,
    }


def results(report, name):
    return [i["result"] for i in report["instances"] if i["group"] == name and not i["launched_during_run"]]


def summary_results(report, name):
    """The group's results in the main run's own summary (report["instances"] merges every run's)."""
    return [i["Result"] for i in report["output"]["Instances"] if i["GroupName"] == name]


def timeline(report, text):
    return [e for e in report["timeline"] if text in e["text"]]


def refreshes_started(report):
    """The ids of the instance refreshes started, from the timeline's "instance refresh <id> Pending"."""
    return [
        e["text"].split()[2]
        for e in report["timeline"]
        if e["text"].startswith("instance refresh") and e["text"].endswith(" Pending")
    ]


def stopped_at(report, name):
    """When the group's stop was alerted, and the moment each of its instances was tagged Completed."""
    (alert,) = [n for n in run_alerts(report) if n["subject"] == f"Patching paused: group {name}, run {RUN}"]
    ids = [i["instance_id"] for i in report["instances"] if i["group"] == name]
    completed = [e["t"] for e in timeline(report, "tagged AutoPatchInstanceInASG=Completed") if e["instance"] in ids]
    return alert, completed


# an instance refresh started midway ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("concurrency", "order", "at", "web_results", "status"),
    [
        (2, ["web", "api"], 100, ["Completed", "NotStarted", "NotStarted"], "InProgress"),  # web's 0 out
        (2, ["web", "api"], 395, ["Completed", "NotStarted", "NotStarted"], "Pending"),  # just before its 1
        (2, ["web", "api"], 500, ["Completed", "Completed", "NotStarted"], "InProgress"),  # web's 1 out
        (1, ["api", "web"], 100, ["NotStarted"] * 3, "InProgress"),  # web not started: api's 0 out
        (1, ["web", "api"], 500, ["Completed", "Completed", "NotStarted"], "InProgress"),  # web's 1 out, api waits
    ],
    ids=[
        "side-by-side-first-out",
        "side-by-side-pending",
        "side-by-side-second-out",
        "one-at-a-time-before",
        "one-at-a-time-midway",
    ],
)
def test_an_instance_refresh_started_midway_stops_that_group_before_its_next_instance(
    concurrency, order, at, web_results, status
):
    # Given web and api patched GroupConcurrency at a time (each instance out about 410 s), and someone starting an
    # instance refresh on web at `at` virtual seconds (Pending for 30 s, then InProgress)
    scenario = {
        "groups": [group("web"), group("api")],
        "input": {"AutoScalingGroupNames": order, "GroupConcurrency": concurrency},
        "events": [{"at": at, "group": "web", "do": "start_instance_refresh"}],
    }

    # When the run is simulated
    report = simulate(scenario)

    # Then web stops before its next instance, as a paused group does: the run succeeds with web in PausedGroups,
    # the instance out of service when the refresh started finished (Completed, back InService), the rest untouched
    assert report["status"] == "SUCCEEDED"
    assert report["output"]["PausedGroups"] == ["web"]
    assert results(report, "web") == web_results
    assert results(report, "api") == ["Completed"] * 3  # the other group goes on
    web = [i for i in report["instances"] if i["group"] == "web"]
    assert [(i["lifecycle_state"], i["tag"]) for i in web] == [
        ("InService", "Completed" if r == "Completed" else None) for r in web_results
    ]
    # and one alert says why: the refresh's id and its status when the check found it
    (refresh_id,) = refreshes_started(report)
    alert, completed = stopped_at(report, "web")
    assert f"Why:        group web: instance refresh {refresh_id} is {status}:" in alert["message"]
    assert [n["subject"] for n in run_alerts(report)] == [alert["subject"]]
    # sent when web's last instance came back (or at once, before its first), never while one was out
    assert alert["t"] >= max(completed, default=0) and alert["t"] >= at
    assert report["groups"][0]["max_out_of_service"] == (1 if web_results[0] == "Completed" else 0)


def test_an_instance_refresh_started_while_another_is_active_is_refused():
    # Given web with a refresh started midway, and a second one started while the first is InProgress
    scenario = {
        "groups": [group("web"), group("api")],
        "input": {"GroupConcurrency": 2},
        "events": [
            {"at": 100, "group": "web", "do": "start_instance_refresh"},
            {"at": 200, "group": "web", "do": "start_instance_refresh"},
        ],
    }

    report = simulate(scenario)

    # Then Auto Scaling refuses the second (InstanceRefreshInProgress), and the run stops web once, naming the first
    (refused,) = timeline(report, "start_instance_refresh refused")
    assert refused["t"] == 200 and "InstanceRefreshInProgress" in refused["text"]
    (refresh_id,) = refreshes_started(report)
    alert, _ = stopped_at(report, "web")
    assert refresh_id in alert["message"]
    assert results(report, "web") == ["Completed", "NotStarted", "NotStarted"]


@pytest.mark.parametrize(
    ("settings", "web"),
    [({"BakeAmi": True}, {}), ({"LowerMinSize": True}, {"instances": 2, "min_size": 2})],
    ids=["bake-ami", "lower-min-size"],
)
def test_a_group_left_to_an_instance_refresh_is_neither_baked_nor_left_resized(settings, web):
    # Given web and api side by side with BakeAmi (or web at its MinSize with LowerMinSize), and an instance refresh
    # started on web while its first instance is out
    scenario = {
        "groups": [group("web", **web), group("api")],
        "input": {"GroupConcurrency": 2, **settings},
        "events": [{"at": 100, "group": "web", "do": "start_instance_refresh"}],
    }

    report = simulate(scenario)

    # Then web stops after that instance: with BakeAmi it is not baked (its last instance was not reached) and its
    # launch template is left for the refresh, while api is baked; with LowerMinSize its MinSize is back as it was
    assert report["status"] == "SUCCEEDED"
    assert report["output"]["PausedGroups"] == ["web"]
    assert results(report, "web")[0] == "Completed" and set(results(report, "web")[1:]) == {"NotStarted"}
    web_group = report["groups"][0]
    if "BakeAmi" in settings:
        bakes = {b["GroupName"]: b for b in report["output"]["Bakes"]}
        assert (bakes["web"]["Status"], bakes["api"]["Status"]) == ("NotBaked", "Baked")
        assert "ended NotStarted" in bakes["web"]["Reason"]
        assert {i["group"] for i in report["images"]} == {"api"}
        assert web_group["image_id"] != report["groups"][1]["image_id"]
    else:
        assert (web_group["min_size"], web_group["desired"]) == (2, 2)
    assert len(run_alerts(report)) == 1


# the run's hold lost ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("at", [100, 500])
def test_a_hold_deleted_by_hand_stops_that_group_before_its_next_instance(at):
    # Given web and api side by side, and a person deleting web's hold from the run ledger at `at` (while web's
    # first or second instance is out)
    scenario = {
        "groups": [group("web"), group("api")],
        "input": {"GroupConcurrency": 2},
        "events": [{"at": at, "group": "web", "do": "delete_hold"}],
    }

    report = simulate(scenario)

    # Then the instance out finishes, web stops before its next one with one alert saying the hold is gone, and
    # api goes on; the run succeeds with web paused
    assert report["status"] == "SUCCEEDED"
    done = 1 if at == 100 else 2
    assert results(report, "web") == ["Completed"] * done + ["NotStarted"] * (3 - done)
    assert results(report, "api") == ["Completed"] * 3
    assert report["output"]["PausedGroups"] == ["web"]
    alert, completed = stopped_at(report, "web")
    assert "this run no longer holds group web: its hold was removed from the run ledger" in alert["message"]
    assert alert["t"] >= max(completed)
    assert len(run_alerts(report)) == 1


@pytest.mark.parametrize("taken_at", [150, 600])
def test_a_group_another_run_took_is_left_to_it(taken_at):
    # Given api patched before web, one group at a time; while api's instances are out a person deletes web's hold
    # (at 100) and, at `taken_at`, another run starts on web alone and takes it
    scenario = {
        "groups": [group("web"), group("api")],
        "input": {"AutoScalingGroupNames": ["api", "web"], "GroupConcurrency": 1},
        "events": [{"at": 100, "group": "web", "do": "delete_hold"}],
        "also_start": [{"AutoScalingGroupNames": ["web"]}],
        "also_start_at": taken_at,
    }

    report = simulate(scenario)

    # Then this run patches api, then stops web before its first instance, with one alert naming the run that
    # holds it now; that run patches web; both succeed, and no instance was out of service twice at once
    assert [e["status"] for e in report["executions"]] == ["SUCCEEDED", "SUCCEEDED"]
    assert summary_results(report, "api") == ["Completed"] * 3
    assert summary_results(report, "web") == ["NotStarted"] * 3
    assert report["output"]["PausedGroups"] == ["web"]
    assert results(report, "web") == ["Completed"] * 3  # by the other run
    web_ids = [i["instance_id"] for i in report["instances"] if i["group"] == "web"]
    assert {c["execution"] for i in web_ids for c in calls_on(report, i)} == {OTHER_RUN}
    (alert,) = run_alerts(report)
    assert alert["subject"] == f"Patching paused: group web, run {RUN}"
    assert f"this run no longer holds group web: {OTHER_RUN} (run {OTHER_RUN}) holds it now" in alert["message"]


# an instance put in Standby by another tool or a person ----------------------------------------------------------
@pytest.mark.parametrize("concurrency", [1, 2])
@pytest.mark.parametrize(("at", "index"), [(100, 2), (370, 1), (370, 2)], ids=["first-out", "between", "between-last"])
def test_an_instance_another_tool_puts_in_standby_midway_leaves_that_group_to_it(concurrency, at, index):
    # Given web then api, GroupConcurrency at a time (each instance out about 0-344 s, healthy again at about 404 s),
    # and another tool (AWS-PatchAsgInstance, an SSM Automation) or a person putting web's instance `index` in
    # Standby at `at`: while web's first instance is out, or after it came back and before the check for the next
    scenario = {
        "groups": [group("web"), group("api")],
        "input": {"AutoScalingGroupNames": ["web", "api"], "GroupConcurrency": concurrency},
        "events": [{"at": at, "group": "web", "do": "enter_standby", "index": index}],
    }

    # When the run is simulated
    report = simulate(scenario)

    # Then web stops before its next instance: the instance that was out finishes, the rest are left; api goes on;
    # the run succeeds with web paused
    assert report["status"] == "SUCCEEDED"
    assert report["output"]["PausedGroups"] == ["web"]
    assert results(report, "web") == ["Completed", "NotStarted", "NotStarted"]
    assert results(report, "api") == ["Completed"] * 3
    # and the other tool's instance is theirs: still in Standby, no call by the run on it, its capacity still taken
    web = [i for i in report["instances"] if i["group"] == "web"]
    away = web[index]
    assert (away["lifecycle_state"], away["tag"]) == ("Standby", None)
    assert calls_on(report, away["instance_id"]) == []
    (entering,) = [e for e in timeline(report, "EnteringStandby") if e["instance"] == away["instance_id"]]
    out = 1 if at == 100 else 0  # web's first instance, in the run's Standby then
    assert entering["t"] == at and f"(desired {3 - out} -> {2 - out})" in entering["text"]
    assert (report["groups"][0]["desired"], report["groups"][0]["desired_moved_by_events"]) == (2, -1)
    assert report["groups"][0]["max_out_of_service"] == 1  # the run's own: the other tool's is not counted
    # and one alert says why, naming the instance, sent once web's first instance was back
    alert, completed = stopped_at(report, "web")
    assert (
        f"Why:        group web: {away['instance_id']} is Standby, put there by another tool or a person: the run "
        "leaves the group to them"
    ) in alert["message"]
    assert [n["subject"] for n in run_alerts(report)] == [alert["subject"]]
    assert alert["t"] >= max(completed)


@pytest.mark.parametrize(("enter_at", "exit_at"), [(100, 200), (150, 340), (330, 402)])
def test_an_instance_another_tool_returns_before_the_next_check_lets_the_run_go_on(enter_at, exit_at):
    # Given web's instance 2 put in Standby by another tool at `enter_at` and returned by it (ExitStandby) at
    # `exit_at`, before the check before web's next instance (about 404 s; at 402 it is still Pending then)
    scenario = {
        "groups": [group("web"), group("api")],
        "input": {"GroupConcurrency": 2},
        "events": [
            {"at": enter_at, "group": "web", "do": "enter_standby", "index": 2},
            {"at": exit_at, "group": "web", "do": "exit_standby", "index": 2},
        ],
    }

    report = simulate(scenario)

    # Then the run goes on and patches everything, with no alert; the capacity the tool took is back
    assert report["status"] == "SUCCEEDED"
    assert "PausedGroups" not in report["output"]
    assert {i["result"] for i in report["instances"]} == {"Completed"}
    assert run_alerts(report) == []
    assert [e["t"] for e in timeline(report, "exit_standby: by another tool")] == [exit_at]
    assert (report["groups"][0]["desired"], report["groups"][0]["desired_moved_by_events"]) == (3, 0)


@pytest.mark.parametrize(
    ("do", "at", "index"),
    [("enter_standby", 100, 0), ("enter_standby", 340, 0), ("exit_standby", 100, 2)],
    ids=["enter-while-the-run-has-it-in-standby", "enter-while-it-returns", "exit-in-service"],
)
def test_a_standby_call_by_another_tool_that_auto_scaling_refuses_changes_nothing(do, at, index):
    # Given another tool calling EnterStandby on web's instance 0 while the run has it in Standby (at 100) or while
    # it is Pending on its way back (at 340), or ExitStandby on an InService instance: calls AWS refuses
    scenario = {
        "groups": [group("web"), group("api")],
        "input": {"GroupConcurrency": 2},
        "events": [{"at": at, "group": "web", "do": do, "index": index}],
    }

    report = simulate(scenario)

    # Then Auto Scaling refuses it (ValidationError), and the run patches everything
    (refused,) = timeline(report, f"{do} refused")
    assert refused["t"] == at and "ValidationError" in refused["text"]
    assert report["status"] == "SUCCEEDED" and run_alerts(report) == []
    assert {i["result"] for i in report["instances"]} == {"Completed"}


# warm pools ----------------------------------------------------------------------------------------------------
def check_the_fleet_output(report, execution=RUN):
    """What the preflight returned to the run (the state "Check the fleet"), from the execution's history."""
    for event in report["histories"][execution]:
        details = event.get("stateExitedEventDetails")
        if details and details["name"] == "Check the fleet":
            return json.loads(details["output"])["Plan"]
    raise AssertionError("the run never checked the fleet")


@pytest.mark.parametrize(("size", "state"), [(2, "Stopped"), (5, "Hibernated"), (1, "Running")])
def test_a_warm_pool_is_in_the_plan_and_its_instances_are_left_alone(size, state):
    # Given web with a warm pool of `size` instances kept `state`, and api without one
    groups = [group("web", 2, warm_pool={"size": size, "state": state}), group("api", 2)]

    # When a dry run, then a run, is simulated
    dry = simulate({"groups": groups, "input": {"DryRun": True}})
    report = simulate({"groups": groups, "input": {}})

    # Then the dry run's plan and the run's preflight say what is in web's pool and that the run does not patch
    # it, and neither refuses web for it
    pool = {"PoolState": state, "Instances": size, "States": {f"Warmed:{state}": size}, "Patched": False}
    for plan in (dry["output"]["Plan"], check_the_fleet_output(report)):
        found = {g["GroupName"]: g.get("WarmPool") for g in plan["Groups"]}
        assert found["api"] is None
        assert {k: found["web"][k] for k in pool} == pool
        assert "not those in its warm pool" in found["web"]["Note"]
    # and the run patched web's and api's own instances, made no call on a warm instance, and sent no alert
    assert report["status"] == "SUCCEEDED"
    assert {i["result"] for i in report["instances"]} == {"Completed"}
    assert len(report["instances"]) == 4
    web, api = report["groups"]
    warm = [w["instance_id"] for w in web["warm_instances"]]
    assert len(warm) == size and api["warm_instances"] == []
    assert [w["lifecycle_state"] for w in web["warm_instances"]] == [f"Warmed:{state}"] * size
    assert [c for w in warm for c in calls_on(report, w)] == []
    assert report["notifications"] == []
