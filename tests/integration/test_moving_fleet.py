"""Every kind of fleet change, while an instance is out of service and between two instances, in the settings a
run is used with: two groups side by side (GroupConcurrency 2), a group at its MinSize (LowerMinSize, or
KeepCapacity), BakeAmi, and a stop by hand after the change. simulate() checks what must hold after any run (the
group's sizes and processes as the owner and the scaling left them, nothing stranded, no rebalancing, nothing in
the group left unpatched without a reason); each test adds what a user of that setting would look at."""

import pytest
from simulation_checks import simulate

pytestmark = pytest.mark.simulation

OUT = 100  # instance 0 is in Standby, being patched (it is out from 0 to about 344 s)
BETWEEN = 370  # instance 0 is back InService, warming up; instance 1 goes out at about 404 s
CHANGES = {
    "scale-out-to-max": {"do": "scale_out", "count": 2},  # 3 + 2 = MaxSize 5 while one is out
    "scale-in": {"do": "scale_in", "count": 1},
    "spot-interruption": {"do": "terminate", "index": 3},
    "unhealthy": {"do": "unhealthy", "index": 2},
    "owner-lowers-max": {"do": "set_size", "max_size": 4},
    "owner-raises-desired": {"do": "set_size", "desired": 5},
}
SETTINGS = ("one-group", "two-groups", "lower-min-size", "bake-ami", "stop-by-hand", "keep-capacity")
# each change in each setting, at one of the two moments (alternating, so both moments meet every change)
MOMENTS = {"out": OUT, "between": BETWEEN}
CASES = [
    pytest.param(change, setting, MOMENTS[when], id=f"{change}-{setting}-{when}")
    for c, change in enumerate(CHANGES)
    for s, setting in enumerate(SETTINGS)
    for when in [list(MOMENTS)[(c + s) % 2]]
]


def scenario_for(change: str, setting: str, moment: int) -> dict:
    web = {"name": "web", "instances": 4, "min_size": 1, "max_size": 5}
    run_input: dict = {}
    more: dict = {}
    if setting == "two-groups":
        more["groups"] = [web, {"name": "api", "instances": 3, "max_size": 4}]
        run_input["GroupConcurrency"] = 2
    if setting == "lower-min-size":
        web["min_size"] = 4
        run_input["LowerMinSize"] = True
    if setting == "bake-ami":
        run_input["BakeAmi"] = True
    if setting == "stop-by-hand":
        more["stop_at"] = moment + 200
    if setting == "keep-capacity":  # at its MinSize: the instance added keeps it there
        web["min_size"] = 4
        run_input["KeepCapacity"] = True
    return {
        "groups": [web],
        "input": run_input,
        "events": [{"at": moment, "group": "web", **CHANGES[change]}],
        **more,
    }


@pytest.mark.parametrize(("change", "setting", "moment"), CASES)
def test_the_run_patches_what_is_there_and_leaves_the_group_as_the_owner_and_the_scaling_made_it(
    change, setting, moment
):
    # Given a group of four (MaxSize 5) whose fleet changes at that moment, in that setting
    scenario = scenario_for(change, setting, moment)

    # When the run is simulated
    report = simulate(scenario)

    # Then (beyond the invariants) a run not stopped succeeds, and every instance in the group at the end is
    # patched, or joined it once the run had let go of it (AZRebalance resumed then: Auto Scaling rebalances the
    # zones the launches left two apart, launching first), which the summary says
    stopped = setting == "stop-by-hand"
    assert report["status"] == ("ABORTED" if stopped else "SUCCEEDED")
    lines = {line["InstanceId"]: line for line in report["summary"].get("Instances") or []}
    here = [i for i in report["instances"] if i["lifecycle_state"] != "Terminated"]
    if not stopped:
        late = "joined its group after the run's last look for newcomers"
        for instance in here:
            line = lines[instance["instance_id"]]
            assert line["Result"] == "Completed" or (instance["launched_during_run"] and line["Reason"] == late)
    # an instance that left is never a failure: Gone (alerted only if it went while the run had it out), or it left
    # after its patch (a scale-in, MaxSize given back), or it was never the run's
    left = [i for i in report["instances"] if i["lifecycle_state"] == "Terminated"]
    assert {i["result"] for i in left} <= {"Gone", "Completed", "NotStarted"}
    went_while_out = [i for i in left if "Step" in lines.get(i["instance_id"], {})]
    alerts = [n["subject"] for n in report["notifications"] if n["source"] == "run"]
    if not stopped:
        assert len(alerts) == len(went_while_out)
        assert all(a.startswith("Instance gone while out of service") for a in alerts)
    web = report["groups"][0]
    assert web["suspended_processes"] == []
    assert web["max_size"] == CHANGES[change].get("max_size", 5)
