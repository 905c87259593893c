"""One group's error must never fail the Map that patches every group: a failed Map abandons the instance another
group has out of service at that moment. So inside a group's iteration every task catches every error, and the
gate's error ends that instance's iteration through a path that takes nothing out of service."""

import json

from statemachine import build


def instance_states() -> dict:
    run = json.loads(build.render())["States"]
    group = run["Patch groups"]["ItemProcessor"]["States"]
    return group["Patch instances one at a time"]["ItemProcessor"]["States"]


def test_every_task_of_an_instance_catches_every_error():
    uncaught = [
        name
        for name, state in instance_states().items()
        if state["Type"] == "Task" and not any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", []))
    ]
    assert uncaught == []


def test_a_failed_gate_alerts_then_leaves_the_instance_untouched():
    states = instance_states()
    (catch,) = states["Check it is safe to go on"]["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    alert = states[catch["Next"]]
    assert alert["Parameters"]["Payload"]["Kind"] == "gate-failed"
    # whether or not the alert could be sent, the instance ends NotStarted without a further call
    assert alert["Next"] == "Leave instance untouched"
    assert [c["Next"] for c in alert["Catch"]] == ["Leave instance untouched"]
    untouched = states["Leave instance untouched"]
    assert untouched["Type"] == "Pass" and untouched["End"] is True
    assert untouched["Parameters"]["Result"] == "NotStarted"
