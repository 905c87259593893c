"""Run a scenario through the simulator and check what must hold after any run, whatever its outcome."""

import contextlib
import json
from collections import defaultdict

from autopatch import FOOTER, VERSION, hooks, runs
from autopatch.errors import InvalidInput
from autopatch.run_input import RunSettings
from simulator.engine import DEAD_RUN, Simulation
from simulator.scenario import parse_scenario


def simulate(scenario: dict) -> dict:
    report = Simulation(parse_scenario(scenario)).run()
    histories = report["histories"] = report.pop("_histories")
    report["logs"] = report.pop("_logs")
    assert_invariants(scenario, report)
    settings = scenario.get("input") or {}
    per_instance = runs.events_per_instance(
        max(
            settings.get("StandbyTimeoutSeconds", RunSettings.StandbyTimeoutSeconds),
            settings.get("DrainTimeoutSeconds", RunSettings.DrainTimeoutSeconds),
        ),
        settings.get("HealthTimeoutSeconds", RunSettings.HealthTimeoutSeconds),
    ) + _hook_events(scenario)
    for name, events in histories.items():
        assert_bounded_iterations(name, events, per_instance)
    return report


def _hook_events(scenario: dict) -> int:
    """The most history events the hooks add to one instance (hooks.events), of the input's and of each group's,
    whose tags (group field tags) may override them."""
    given = hooks.parse_input((scenario.get("input") or {}).get("Hooks") or {})
    tagged = [
        {"AutoScalingGroupName": g["name"], "Tags": [{"Key": k, "Value": v} for k, v in (g.get("tags") or {}).items()]}
        for g in scenario.get("groups", [])
    ]
    found = [hooks.events(given)]
    for group in tagged:
        with contextlib.suppress(InvalidInput):  # a malformed tag: the preflight refuses the run
            found.append(hooks.events(hooks.for_group(group, given)))
    return max(found)


ITERATION_ENDS = ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted")


def iterations(events: list[dict]) -> dict[int, list[dict]]:
    """Each Map iteration's own events (by the id of its MapIterationStarted), following previousEventId: an
    event after an iteration's end belongs to the iteration (or top level) around it, and an iteration of a
    nested Map is an iteration of its own. Events outside any Map are left out. (moto chains an iteration's
    start to the last event of the iteration before it, not to the Map's start.)"""
    kind = {event["id"]: event["type"] for event in events}
    root, parent = {0: 0}, {0: 0}
    own = defaultdict(list)
    for event in events:
        before = event["previousEventId"]
        around = parent[root[before]] if kind.get(before) in ITERATION_ENDS else root[before]
        if event["type"] == "MapIterationStarted":
            # the first iteration follows its Map's start; a later one follows an event of the one before it
            sibling = kind.get(before) not in ("MapStateStarted", *ITERATION_ENDS)
            parent[event["id"]], around = parent[around] if sibling else around, event["id"]
        root[event["id"]] = around
        if around:
            own[around].append(event)
    return own


def assert_bounded_iterations(execution: str, events: list[dict], per_instance: int) -> None:
    """No wait loop comes round without time passing, and no iteration (one instance, or one recovered instance)
    writes more history events than the slicing assumes (per_instance: runs.events_per_instance, plus a bake's
    own)."""
    for iteration in iterations(events).values():
        entered: dict[str, list] = defaultdict(list)
        for event in iteration:
            details = event.get("stateEnteredEventDetails")
            if details:
                entered[details["name"]].append(event["timestamp"])
        for state, times in entered.items():
            again = next((t for t, before in zip(times[1:], times, strict=False) if t <= before), None)
            assert again is None, f"{execution}: {state!r} entered again at {again} without time passing"
        bound = per_instance + (runs.BAKE_EVENTS if "Create an image" in entered else 0)
        assert len(iteration) <= bound, f"{execution}: {len(iteration)} history events in one iteration > {bound}"


BOOKKEEPING = ("dynamodb", "s3")  # the run's ledger and report, not the fleet


def fleet_calls(report: dict) -> list[dict]:
    """Mutating calls on instances, groups and topics: not the run's own bookkeeping."""
    return [c for c in report["api_calls"] if c["service"] not in BOOKKEEPING]


def run_alerts(report: dict) -> list[dict]:
    """What the run itself published (EventBridge's alert for an execution that ended badly comes on top)."""
    return [n for n in report["notifications"] if n["source"] == "run"]


def cleanup_alerts(report: dict) -> list[dict]:
    """The clean-up's alerts (clean_up_run, after an execution ended FAILED, TIMED_OUT or ABORTED)."""
    return [n for n in report["notifications"] if " cleaned up after it ended " in (n["subject"] or "")]


def _group_calls(report: dict, group_name: str, operation: str) -> list[dict]:
    return [
        c
        for c in report["api_calls"]
        if c["operation"] == operation and c["params"].get("AutoScalingGroupName") == group_name
    ]


def _group_removals(report: dict, group_name: str) -> list[dict]:
    """The run's TerminateInstanceInAutoScalingGroup calls on this group's instances."""
    members = {i["instance_id"] for i in report["instances"] if i["group"] == group_name}
    return [
        c
        for c in report["api_calls"]
        if c["operation"] == "TerminateInstanceInAutoScalingGroup" and c["params"]["InstanceId"] in members
    ]


def calls_on(report: dict, instance_id: str) -> list[dict]:
    """Mutating calls the project made that name this instance."""
    return [c for c in report["api_calls"] if instance_id in _instances_named(c["params"])]


def assert_invariants(scenario: dict, report: dict) -> None:
    specs = {g["name"]: g for g in scenario["groups"]}
    # what a dead run left (a stale_standby instance, a lowered MinSize) stays exactly as it was, or is put right
    untouched = untouched_leftovers(scenario, report)
    for group in report["groups"]:
        spec = specs[group["name"]]
        left = [i for i in report["instances"] if i["group"] == group["name"] and i["instance_id"] in untouched]
        # what the scenario's fleet events did to the desired capacity, MinSize and MaxSize is the fleet's own
        # doing: at the end they are what the scaling and the owner made them (the owner's MaxSize caps the desired
        # capacity once the run gives it back), what a dead run left being put right by any run that touched it
        owner = _sizes_set(scenario, report, group["name"])
        moved = group["desired_moved_by_events"]
        expected = spec.get("instances", 4) + spec.get("scale_out_after", 0) - len(left) + moved
        assert group["desired"] == min(expected, owner["max_size"]), f"{group['name']}: desired capacity not restored"
        lowered = spec.get("dead_run_lowered_min_size", False) and not _resized(report, group["name"], "MinSize")
        assert group["min_size"] == owner["min_size"] - lowered, f"{group['name']}: MinSize changed"
        raised = spec.get("dead_run_raised_max_size", False) and not _resized(report, group["name"], "MaxSize")
        assert group["max_size"] == owner["max_size"] + raised, f"{group['name']}: MaxSize not the owner's"
        suspended = set(spec.get("suspended_processes", []))
        if spec.get("dead_run_suspended_az_rebalance") and not _called(report, group["name"], "ResumeProcesses"):
            suspended.add("AZRebalance")
        assert group["suspended_processes"] == sorted(suspended), f"{group['name']}: processes not the owner's"
        assert group["max_out_of_service"] <= 1, f"{group['name']}: two instances out of service at once"
        # KeepCapacity removes at most one instance for each one it added (one per group and pass)
        added = [c for c in _group_calls(report, group["name"], "SetDesiredCapacity") if c["params"]["DesiredCapacity"]]
        removed = _group_removals(report, group["name"])
        added_by_dead_run = spec.get("dead_run_added_instance", False)
        assert len(removed) <= len(added) + added_by_dead_run, (
            f"{group['name']}: {len(removed)} removed, {len(added)} added"
        )
    # the run suspends AZRebalance from its first standby until it lets go of the group: no launch, no termination,
    # for rebalancing while it holds the group (once it has let go, Auto Scaling may rebalance what it finds)
    rebalanced = [
        e
        for e in report["timeline"]
        if e["text"].startswith(("AZRebalance", "Terminating (AZRebalance")) and e["t"] < _let_go_at(report, e["group"])
    ]
    assert rebalanced == [], f"Availability Zones rebalanced during the run: {rebalanced[0]}"
    failed = 0
    # a run stopped by hand or crashed has no summary: its instances' results are unknown, their tags tell
    summarized = isinstance(report["summary"].get("Instances"), list)
    # only a fleet event (or what Auto Scaling did after one) takes an instance out of its group
    may_end_in = ("InService", "Terminated") if scenario.get("events") else ("InService",)
    # gone while the run had it out of service: touched, then terminated with whatever tag it had
    went_while_out = {
        i["InstanceId"] for i in report["summary"].get("Instances") or [] if i["Result"] == "Gone" and "Step" in i
    }
    others = left_in_standby_by_others(report)
    for instance in report["instances"]:
        where = f"{instance['group']}[{instance['index']}] {instance['instance_id']}"
        if instance["instance_id"] in untouched:
            assert (instance["lifecycle_state"], instance["tag"]) == ("Standby", "InProgress"), f"{where} changed"
            continue
        if instance["instance_id"] in others:
            continue
        touched = calls_on(report, instance["instance_id"])
        # or the run removed it: KeepCapacity gives its added instance back by removing one
        removed = [c for c in touched if c["operation"] == "TerminateInstanceInAutoScalingGroup"]
        if removed:
            assert len(removed) == 1 and removed[0]["params"]["ShouldDecrementDesiredCapacity"], (
                f"{where}: removed {removed}"
            )
            assert instance["lifecycle_state"] in ("Terminating", "Terminated"), f"{where} removed, yet still a member"
            continue
        # Auto Scaling replaces an instance launched unhealthy (launches_unhealthy) itself
        replaced = instance["launched_during_run"] and specs[instance["group"]].get("launches_unhealthy", False)
        assert instance["lifecycle_state"] in may_end_in + ("Terminated",) * replaced, (
            f"{where} left {instance['lifecycle_state']}"
        )
        if instance["instance_id"] in went_while_out:
            assert instance["lifecycle_state"] == "Terminated", f"{where}: Gone, yet {instance['lifecycle_state']}"
            continue
        if instance["result"] in ("NotStarted", "Gone") and summarized:
            assert touched == [], f"{where}: not reached by the run, yet {touched[0]['operation']} was called on it"
        # a terminated instance keeps the tag it had (one gone during a run stopped by hand: InProgress)
        terminated = instance["lifecycle_state"] == "Terminated"
        if not terminated and any(c["operation"] in ("CreateTags", "EnterStandby", "ExitStandby") for c in touched):
            assert instance["tag"] in ("Completed", "Failed"), f"{where}: tag {instance['tag']} after the run"
        failed += instance["result"] == "Failed"
    if summarized:
        assert_every_member_reported(report)
    recovered = len((report["output"] or _cause(report)).get("Recovered", []))
    alerts = [n for n in report["notifications"] if (n["subject"] or "").startswith("Patching failed")]
    if summarized:
        assert len(alerts) == failed + recovered, "exactly one alert per failed (or recovered) instance"
    else:
        tagged_failed = sum(i["tag"] == "Failed" for i in report["instances"])
        assert len(alerts) <= tagged_failed + recovered, "an alert for an instance that did not fail"
    assert report["dead_letters"] == [], "an event went to a dead-letter queue: its function never handled it"
    # no hook document is left to run on an instance once the run has ended: the run cancels one it gives up on
    # (the agent of an instance EC2 terminated went with it: nothing can be cancelled there)
    gone = {i["instance_id"] for i in report["instances"] if i["lifecycle_state"] == "Terminated"}
    running = [
        h
        for h in report["hook_invocations"]
        if h["kind"] == "document" and h["status"] in ("Pending", "InProgress") and h["instance_id"] not in gone
    ]
    assert running == [], f"a hook left running at the end: {running[0]}"
    # the clean-up after an execution that ended badly alerts at most once, and always after a stop or a crash
    cleaned = [n["message"].split(" of patch run ", 1)[0] for n in cleanup_alerts(report)]
    assert len(set(cleaned)) == len(cleaned), f"a clean-up alerted twice: {cleaned}"
    if report["status"] == "ABORTED" or report["error"] == "States.Runtime":
        last = report["run_executions"][-1]
        assert cleaned.count(f"The execution {last}") == 1, "no clean-up alert after a stop or a crash"
    bakes = (report["output"] or _cause(report)).get("Bakes", [])
    bake_alerts = [n for n in report["notifications"] if (n["subject"] or "").startswith("Image bake failed")]
    assert len(bake_alerts) == sum(b["Status"] == "Failed" for b in bakes), "exactly one alert per failed bake"
    # whatever ended the run, its clean-up included, no group is left held, but for a dead run's hold on a group
    # whose leftover no run touched (a dry run, a refused run)
    left_alone = {i["group"] for i in report["instances"] if i["instance_id"] in untouched}
    held = [h for h in report["holds"] if not (h["held_by"] == DEAD_RUN and h["group"] in left_alone)]
    assert held == [], f"groups still held at the end: {held}"
    subjects = [n["subject"] for n in report["notifications"] if n["source"] == "run"]
    assert len(set(subjects)) == len(subjects), f"an alert was sent twice: {subjects}"
    # every alert, the run's and EventBridge's alike, ends naming the version that sent it; the summary the one
    # that ran the run
    unsigned = [n for n in report["notifications"] if n["message"].splitlines()[-1].strip('"') != FOOTER]
    assert unsigned == [], f"an alert without the version footer: {unsigned[0]}"
    if summarized:
        assert report["summary"]["Version"] == VERSION, "the summary does not name the version"


def assert_every_member_reported(report: dict) -> None:
    """Every instance in one of the run's groups at the end is in its summary, and one that joined during the run
    and was not patched says why (the run's groups: those its summary names; an instance launched once the run had
    ended, a replacement Auto Scaling launches after it, is not the run's)."""
    lines = {line["InstanceId"]: line for line in report["summary"]["Instances"]}
    run_groups = {line["GroupName"] for line in lines.values()}
    launched = {}
    for entry in report["timeline"]:
        launched.setdefault(entry["instance"], entry["t"])
    for instance in report["instances"]:
        joined_at = launched.get(instance["instance_id"], 0.0)  # one the timeline never names: during the run
        after_the_run = instance["launched_during_run"] and joined_at > report["virtual_seconds"]
        if instance["group"] not in run_groups or instance["lifecycle_state"] == "Terminated" or after_the_run:
            continue
        where = f"{instance['group']}[{instance['index']}] {instance['instance_id']}"
        line = lines.get(instance["instance_id"])
        assert line is not None, f"{where}: in its group at the end, not in the summary"
        if line.get("JoinedDuringRun") and line["Result"] == "NotStarted":
            assert line.get("Reason"), f"{where}: joined during the run, not patched, and no reason given"


def untouched_leftovers(scenario: dict, report: dict) -> set[str]:
    """The instances a dead run left in Standby (stale_standby) on which the runs made no call."""
    faults = {g["name"]: g.get("faults", {}) for g in scenario["groups"]}
    return {
        i["instance_id"]
        for i in report["instances"]
        if faults[i["group"]].get(str(i["index"])) == "stale_standby" and not calls_on(report, i["instance_id"])
    }


def left_in_standby_by_others(report: dict) -> set[str]:
    """The instances a fleet event put in Standby (another tool, a person: the timeline's "enter_standby: ...")
    that end there, no run having made a call on them: theirs, not the run's."""
    put = {e["instance"] for e in report["timeline"] if e["text"].startswith("enter_standby: ")}
    return {
        i["instance_id"]
        for i in report["instances"]
        if i["instance_id"] in put and i["lifecycle_state"] == "Standby" and not calls_on(report, i["instance_id"])
    }


def _sizes_set(scenario: dict, report: dict, group: str) -> dict:
    """The group's MinSize and MaxSize as its owner set them: the scenario's, or the last of each a set_size event
    gave that Auto Scaling applied (the timeline's "set_size: ..." at that moment; a refused one says "set_size
    refused")."""
    spec = next(g for g in scenario["groups"] if g["name"] == group)
    instances = spec.get("instances", 4)
    sizes = {"min_size": spec.get("min_size", 1), "max_size": spec.get("max_size", max(instances * 2, 1))}
    applied = {e["t"] for e in report["timeline"] if e["group"] == group and e["text"].startswith("set_size: ")}
    for event in scenario.get("events", []):
        if event["group"] == group and event["do"] == "set_size" and event["at"] in applied:
            sizes.update({key: event[key] for key in sizes if key in event})
    return sizes


def _called(report: dict, group: str, operation: str, param: str | None = None) -> bool:
    return any(
        c["operation"] == operation
        and c["params"].get("AutoScalingGroupName") == group
        and (param is None or param in c["params"])
        for c in report["api_calls"]
    )


def _resized(report: dict, group: str, size: str) -> bool:
    """Whether any run updated this size of the group (UpdateAutoScalingGroup naming it)."""
    return _called(report, group, "UpdateAutoScalingGroup", size)


def _let_go_at(report: dict, group: str) -> float:
    """When the runs last let go of the group (its hold deleted from the run ledger); never, if they did not."""
    key = {"Id": {"S": f"lock#{group}"}}
    released = [c["t"] for c in report["api_calls"] if c["operation"] == "DeleteItem" and c["params"].get("Key") == key]
    return max(released, default=float("inf"))


def _cause(report: dict) -> dict:
    try:
        cause = json.loads(report["cause"] or "{}")
    except ValueError:
        return {}
    return cause if isinstance(cause, dict) else {}


def _instances_named(params: dict) -> list[str]:
    return (
        params.get("InstanceIds")
        or params.get("Resources")
        or ([params["InstanceId"]] if "InstanceId" in params else [])
    )
