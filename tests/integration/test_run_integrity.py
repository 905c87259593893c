"""What a run trusts, through the simulator: its error budget (Scan failures count too), the alarms it is given
(each must exist, any number of them), a gate that fails, a continuation started by hand, and alerts whose
subjects say which run and which group. Every scenario also passes the invariants of simulation_checks."""

import contextlib
import json
import time

import botocore.handlers
import pytest
from botocore.awsrequest import AWSResponse
from simulation_checks import calls_on, fleet_calls, run_alerts, simulate

from autopatch.run_input import RunSettings
from simulator import engine
from tests.support import CPU_ALARM

pytestmark = pytest.mark.simulation

RUN = "run-20260104T0300"  # the simulator's first execution
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:rolling-patch"
WRONG_NAME = f"part 2 of run {RUN!r} is named {RUN + '-part2'!r}, not {RUN + '-2'!r}"


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


# alarms ---------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def describe_alarms_seen(fail_when=None):
    """Every DescribeAlarms call's AlarmNames, as the project's code sends them; fail_when(names) -> True answers
    the call with an AWS error (AccessDenied) instead. A botocore handler, registered before the simulator's."""
    seen = []

    def remember(params, context, **_):
        context["alarm_names"] = list(params.get("AlarmNames", []))
        seen.append(context["alarm_names"])

    def answer(context, **_):
        if fail_when and fail_when(context.get("alarm_names", [])):
            error = {"Code": "AccessDenied", "Message": "not authorized to perform: cloudwatch:DescribeAlarms"}
            return AWSResponse("https://simulated", 403, {}, None), {
                "Error": error,
                "ResponseMetadata": {"HTTPStatusCode": 403},
            }
        return None

    hooks = [
        ("before-parameter-build.cloudwatch.DescribeAlarms", remember),
        ("before-call.cloudwatch.DescribeAlarms", answer),
    ]
    botocore.handlers.BUILTIN_HANDLERS.extend(hooks)
    try:
        yield seen
    finally:
        for hook in hooks:
            botocore.handlers.BUILTIN_HANDLERS.remove(hook)


@contextlib.contextmanager
def more_alarms(monkeypatch, names):
    """Metric alarms (in OK) that the simulated account holds besides the groups' own."""
    build = engine.Simulation._build_fleet

    def build_with_alarms(self):
        built = build(self)
        cloudwatch = engine.boto3.client("cloudwatch", region_name=engine.REGION)
        for name in names:
            cloudwatch.put_metric_alarm(AlarmName=name, **CPU_ALARM)
        return built

    monkeypatch.setattr(engine.Simulation, "_build_fleet", build_with_alarms)
    yield


@pytest.mark.parametrize(
    ("alarm_names", "unknown"),
    [(["web-5xx", "web-5xxx"], "web-5xxx"), (["cpu-high"], "cpu-high"), (["web-5xx", "Web-5xx"], "Web-5xx")],
    ids=["typo-among-known", "only-unknown", "case-differs"],
)
def test_an_alarm_name_that_does_not_exist_is_refused_before_any_change(alarm_names, unknown):
    # Given a run input naming an alarm that does not exist (names are case-sensitive), beside the group's own
    scenario = {"groups": [group("web", alarm="web-5xx")], "input": {"AlarmNames": alarm_names}}

    report = simulate(scenario)

    # Then the run ends InvalidInput naming that alarm, having changed nothing (not even the ledger)
    assert (report["status"], report["error"]) == ("FAILED", "InvalidInput")
    message = json.loads(report["cause"])["errorMessage"]
    assert f"{unknown!r} (in AlarmNames)" in message
    assert "'web-5xx'" not in message
    assert report["api_calls"] == []


def test_more_alarms_than_one_call_takes_are_all_watched(monkeypatch):
    # Given 100 alarms named by the input and the group's own one in its tag: 101 names, more than DescribeAlarms
    # takes in one call; the group's alarm (the 101st, in name order the last) goes to ALARM after its first patch
    extra = [f"app-{n:03d}" for n in range(100)]
    scenario = {
        "groups": [group("web", alarm="zz-web-5xx", faults={"0": "alarm_after_patch"})],
        "input": {"AlarmNames": extra},
    }

    with more_alarms(monkeypatch, extra), describe_alarms_seen() as seen:
        report = simulate(scenario)

    # Then all were found at validation, and the gate saw the 101st go to ALARM and stopped the run
    assert report["error"] == "RunStopped"
    assert results(report) == ["Completed", "NotStarted", "NotStarted"]
    assert "alarm zz-web-5xx is in ALARM" in run_alerts(report)[0]["message"]
    # reading at most 100 names a call
    assert seen and max(len(names) for names in seen) == 100
    assert {name for names in seen for name in names} == {*extra, "zz-web-5xx"}


def test_a_gate_that_fails_stops_the_run_cleanly_without_cutting_another_group_short():
    # Given web and api patched side by side; from api's second instance on, its gate cannot read api's alarm
    scenario = {
        "groups": [group("web", patch_seconds=200), group("api", alarm="api-5xx")],
        "input": {"GroupConcurrency": 2, "AutoScalingGroupNames": ["web", "api"]},
    }

    def api_gate_after_its_first_instance(names):
        return "api-5xx" in names and time.time() - engine.START.timestamp() > 100

    with describe_alarms_seen(fail_when=api_gate_after_its_first_instance):
        report = simulate(scenario)

    # Then the run stops as a gate stops it: api's next instances are left untouched, web's instance that was
    # out of service then finishes and comes back, and web takes no further instance out
    assert (report["status"], report["error"]) == ("FAILED", "RunStopped")
    assert results(report, "api") == ["Completed", "NotStarted", "NotStarted"]
    assert results(report, "web") == ["Completed", "Completed", "NotStarted"]
    # and one alert says why, naming the group and the error
    (alert,) = run_alerts(report)
    assert alert["subject"] == f"Patching stopped: run {RUN}, at group api"
    assert "failed with ClientError" in alert["message"] and "(AccessDenied)" in alert["message"]
    assert "the check before" in json.loads(report["cause"])["Message"]


# continuations: only the run starts its own -------------------------------------------------------------
def continuation(**overrides):
    """A Continuation input as a person could write it by hand, from what a run's looks like."""
    return {
        "Continuation": {
            "RunId": RUN,
            "Part": 2,
            "Offset": 1,
            "PreviousExecutionArn": f"{MACHINE.replace(':stateMachine:', ':execution:')}:{RUN}",
            "SnapshotId": "0b4e7c2a-1d9f-5a3e-8c71-2f6d9e0a4b13",
            "Settings": {**RunSettings().to_dict(), "MaxErrors": 100, "AlarmNames": []},
            "GroupNames": ["web"],
            "Recovered": [],
            **overrides,
        }
    }


@pytest.fixture
def second_start_named(monkeypatch):
    """Give the scenario's second execution (also_start) the name of the run's part 2, as a person could."""
    start = engine.Simulation._start

    def named(self, machine_arn, name, run_input):
        return start(self, machine_arn, f"{RUN}-part2" if name == f"{RUN}-2" else name, run_input)

    monkeypatch.setattr(engine.Simulation, "_start", named)


def refused(report, name):
    (execution,) = [e for e in report["executions"] if e["name"] == name]
    assert (execution["status"], execution["error"]) == ("FAILED", "InvalidInput")
    # with no call that changes anything: not a hold, not a tag, not the ledger
    assert [c for c in report["api_calls"] if c["execution"] == name] == []
    return json.loads(execution["cause"])["errorMessage"]


def the_live_run_was_not_disturbed(report):
    (run,) = [e for e in report["executions"] if e["name"] == RUN]
    assert run["status"] == "SUCCEEDED"
    assert set(results(report, "web")) == {"Completed"}
    assert {c["execution"] for c in fleet_calls(report)} == {RUN}


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({}, WRONG_NAME),
        (
            {"RunId": "run-x", "PreviousExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:other:run-x"},
            "is not an execution of this state machine",
        ),
        ({"GroupNames": ["legacy"]}, WRONG_NAME),
        ({"RunId": "run-x", "Part": 3}, "part 3 of run 'run-x' is named 'run-x-part3'"),
    ],
    ids=["live-run", "another-state-machine", "foreign-group", "made-up-run"],
)
def test_a_continuation_started_by_hand_is_refused_with_no_call(overrides, why):
    # Given a run patching web, and beside it a Continuation started by hand: naming the live run (to take its
    # hold), an execution of another state machine, a group that is not opted in, or a run that never was
    scenario = {
        "groups": [group("web"), group("legacy", opted_in=False)],
        "input": {"AutoScalingGroupNames": ["web"]},
        "also_start": [continuation(**overrides)],
    }

    report = simulate(scenario)

    # Then the hand-started one ends InvalidInput, having changed nothing, and the run goes on undisturbed
    assert why in refused(report, f"{RUN}-2")
    the_live_run_was_not_disturbed(report)
    assert set(results(report, "legacy")) == {"NotStarted"}  # never planned, never touched


def test_a_continuation_named_as_the_runs_next_part_is_refused_while_the_run_is_live(second_start_named):
    # Given a Continuation started by hand under the very name of the run's part 2, while part 1 patches
    scenario = {"groups": [group("web")], "input": {}, "also_start": [continuation()]}

    report = simulate(scenario)

    # Then it waits for part 1 to hand over, which it never does, and is refused without a call
    assert f"execution {RUN!r} is still running: it has not handed run {RUN!r} over" in refused(report, f"{RUN}-part2")
    the_live_run_was_not_disturbed(report)


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
