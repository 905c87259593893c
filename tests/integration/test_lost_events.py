"""The end of a patch command is learnt within a minute whether its status-change event comes on time, late,
twice or never (Systems Manager sends its events to EventBridge on a best-effort basis): the instance returns to
service about a minute after its command ended at the latest, its tag tells the truth, no alert is extra, and
no event reaches a task that waits for another command."""

import json
import time

import pytest
from simulation_checks import simulate

from simulator.engine import START, Simulation

pytestmark = pytest.mark.simulation

FOLLOW_SECONDS = 60  # the follower's rate(1 minute) schedule
EVENT_DELAY = 20 * 60  # fault event_delayed
ENDS = ("AWS-RunPatchBaseline Success", "AWS-RunPatchBaseline Failed")


def group(instances: int, faults: dict) -> dict:
    return {"name": "web", "instances": instances, "min_size": 1, "max_size": instances * 2, "faults": faults}


def command_ends(report: dict) -> dict[str, float]:
    """When each instance's patch command ended (its last one: a Scan before an Install would come first)."""
    return {e["instance"]: e["t"] for e in report["timeline"] if e["text"] in ENDS}


def next_step_after_end(report: dict) -> dict[str, tuple[float, str]]:
    """For each instance, how many seconds after its command's end the run took its next step, and which: on the
    instance (ExitStandby, or the Failed tag first) or, after a Scan, on the next instance (or the run's end)."""
    ends, after = command_ends(report), {}
    for instance, end in ends.items():
        steps = [
            (e["t"] - end, e["text"])
            for e in report["timeline"]
            if e["t"] > end and not e["text"].startswith("its status-change event")
        ]
        after[instance] = steps[0] if steps else (report["virtual_seconds"] - end, "the run ended")
    return after


def messages(report: dict, prefix: str) -> list[dict]:
    found = []
    for line in report["logs"]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and str(record.get("message", "")).startswith(prefix):
            found.append(record)
    return found


def handed_over(report: dict) -> list[str]:
    """The command of every end handed to a task, by its event or by the follower."""
    return sorted(r["command_id"] for r in messages(report, "Patch command ended"))


def patch_durations(report: dict) -> int:
    return sum(line.count('"PatchDuration":[') for line in report["logs"])


@pytest.mark.parametrize("lost", [0, 2])
@pytest.mark.parametrize("operation", ["Install", "Scan"])
def test_a_lost_event_costs_at_most_a_minute(lost, operation):
    # Given three instances, the status-change event of one's patch command never delivered
    scenario = {"groups": [group(3, {str(lost): "event_lost"})], "input": {"Operation": operation}}
    # When the run patches them
    report = simulate(scenario)
    # Then every instance is done, the run moving on within a minute of each command's end (an Install's
    # instance back in service then, tagged Completed; a Scan takes none out of service)
    assert report["status"] == "SUCCEEDED"
    tag = "Completed" if operation == "Install" else None
    assert [(i["result"], i["tag"]) for i in report["instances"]] == [("Completed", tag)] * 3
    after = next_step_after_end(report)
    assert len(after) == 3 and max(seconds for seconds, _ in after.values()) <= FOLLOW_SECONDS + 1, after
    if operation == "Install":
        assert all(text.startswith("Pending (desired") for _, text in after.values()), after
    assert report["notifications"] == []
    # and each command's end was handed over once, its PatchDuration counted once
    assert handed_over(report) == sorted(i["command_id"] for i in report["instances"])
    assert patch_durations(report) == 3


def test_lost_delayed_and_duplicated_events_in_one_run_change_nothing_but_the_timing():
    # Given five instances: the first's event comes 20 minutes late, the second's never, the third's twice
    faults = {"0": "event_delayed", "1": "event_lost", "2": "event_duplicated"}
    report = simulate({"groups": [group(5, faults)], "input": {}})
    # Then every instance is patched, tagged Completed, and back within a minute of its command's end
    assert report["status"] == "SUCCEEDED"
    assert [(i["result"], i["tag"]) for i in report["instances"]] == [("Completed", "Completed")] * 5
    after = next_step_after_end(report)
    assert len(after) == 5 and max(seconds for seconds, _ in after.values()) <= FOLLOW_SECONDS + 1, after
    assert all(text.startswith("Pending (desired") for _, text in after.values()), after
    assert report["notifications"] == []
    # and the late event came after its instance was back, while a later instance's command was running
    first, *later = report["instances"]
    ends = command_ends(report)
    late = ends[first["instance_id"]] + EVENT_DELAY
    sent = {e["instance"]: e["t"] for e in report["timeline"] if e["text"].startswith("AWS-RunPatchBaseline Install")}
    assert any(sent[i["instance_id"]] < late < ends[i["instance_id"]] for i in later)
    # and each command's end reached its own task once: the late and the repeated events were ignored
    assert handed_over(report) == sorted(i["command_id"] for i in report["instances"])
    assert patch_durations(report) == 5
    ignored = messages(report, "No run waits for this command")
    assert {r["command_id"] for r in ignored} <= {first["command_id"], later[1]["command_id"]}
    assert len(ignored) >= 2


def test_a_failed_command_whose_event_is_lost_fails_within_a_minute():
    # Given two instances, the first's patch command ending Failed and its event lost
    scenario = {"groups": [group(2, {"0": ["patch_failed", "event_lost"]})], "input": {"MaxErrors": 1}}
    report = simulate(scenario)
    # Then it is a failed patch, learnt within a minute (not a PatchTimedOut an hour later), and alerted once
    failed, other = report["instances"]
    assert (failed["result"], failed["tag"]) == ("Failed", "Failed")
    assert (other["result"], other["tag"]) == ("Completed", "Completed")
    seconds, step = next_step_after_end(report)[failed["instance_id"]]
    assert seconds <= FOLLOW_SECONDS + 1 and step == "tagged AutoPatchInstanceInASG=Failed"
    (alert,) = report["notifications"]
    assert "Error:        PatchCommandFailed" in alert["message"]
    assert "PatchTimedOut" not in alert["message"]


def test_the_follower_is_invoked_every_virtual_minute_while_the_run_goes_on(monkeypatch):
    # Given the simulator's record of when each function is invoked
    invoked = []
    run_handler = Simulation._run_handler

    def recorded(self, name, event, execution):
        invoked.append((time.time() - START.timestamp(), name, event))
        return run_handler(self, name, event, execution)

    monkeypatch.setattr(Simulation, "_run_handler", recorded)
    # When a run patches two instances
    report = simulate({"groups": [group(2, {})], "input": {}})
    # Then its rate(1 minute) rule invoked the follower with a Scheduled Event at every whole minute of the run
    ticks = [(t, event) for t, name, event in invoked if name == "FollowCommandsFunction"]
    assert [round(t) for t, _ in ticks] == list(range(60, int(report["virtual_seconds"]) + 1, 60))
    assert {(e["source"], e["detail-type"], json.dumps(e["detail"])) for _, e in ticks} == {
        ("aws.events", "Scheduled Event", "{}")
    }
