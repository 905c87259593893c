"""Hooks (issue 16) through the simulator: a group's BeforeStandby and AfterHealthy hook, an SSM document run on the
instance (faults hook_failed, hook_timeout) or a Lambda function the state machine calls. A failing BeforeStandby
leaves the instance in service, untouched; a failing AfterHealthy fails the patched instance; a hook past its
TimeoutSeconds is cancelled (a document) or abandoned (a function) and fails it; only what the stack's parameters
allow runs; the group's tags override the input; a stop during a hook cancels its document."""

import json

import pytest
from simulation_checks import cleanup_alerts, fleet_calls, run_alerts, simulate

pytestmark = pytest.mark.simulation

SMOKE = "arn:aws:lambda:us-east-1:123456789012:function:smoke-test"
ALLOWED = {"HookDocumentNames": "MyApp-GracefulStop,AWS-RunShellScript", "HookFunctionArns": SMOKE}
STOP = {"DocumentName": "MyApp-GracefulStop", "TimeoutSeconds": 120}
SHELL = {"DocumentName": "AWS-RunShellScript", "Parameters": {"commands": ["curl -fsS localhost/health"]}}
FUNCTION = {"FunctionArn": SMOKE, "TimeoutSeconds": 60}


def group(name="web", instances=3, **extra):
    return {"name": name, "instances": instances, "min_size": 1, "max_size": 8, "patch_seconds": 300, **extra}


def run(hooks, groups=None, parameters=ALLOWED, **more):
    """Simulate the groups (one of three by default) with these hooks in the input."""
    scenario = {"groups": groups or [group()], "input": {"Hooks": hooks, **more.pop("input", {})}, **more}
    return simulate({**scenario, "parameters": parameters})


def members(report, name="web"):
    """The group's instances, each with the Error and Step of its line in the run's summary."""
    lines = {i["InstanceId"]: i for i in report["summary"].get("Instances") or []}
    return [
        {
            **i,
            "error": lines.get(i["instance_id"], {}).get("Error"),
            "step": lines.get(i["instance_id"], {}).get("Step"),
        }
        for i in report["instances"]
        if i["group"] == name
    ]


def calls(report, operation, instance=None):
    return [
        c
        for c in report["api_calls"]
        if c["operation"] == operation and (instance is None or instance in str(c["params"]))
    ]


def patch_commands(report, instance):
    return [c for c in calls(report, "SendCommand", instance) if c["params"]["DocumentName"] == "AWS-RunPatchBaseline"]


def hook_runs(report, phase=None, instance=None):
    return [
        h
        for h in report["hook_invocations"]
        if (phase is None or h["phase"] == phase) and (instance is None or h["instance_id"] == instance)
    ]


@pytest.mark.parametrize(
    ("hooks", "kinds"),
    [
        ({"BeforeStandby": STOP}, {"BeforeStandby": "document"}),
        ({"AfterHealthy": FUNCTION}, {"AfterHealthy": "function"}),
        ({"BeforeStandby": FUNCTION, "AfterHealthy": SHELL}, {"BeforeStandby": "function", "AfterHealthy": "document"}),
    ],
    ids=["document-before", "function-after", "both"],
)
def test_every_instance_runs_its_groups_hooks_in_order_and_is_patched(hooks, kinds):
    # Given a group whose hooks all pass
    report = run(hooks)
    # Then every instance is patched, each ran each hook once
    assert report["status"] == "SUCCEEDED"
    assert {i["result"] for i in members(report)} == {"Completed"}
    for instance in members(report):
        iid = instance["instance_id"]
        for phase, kind in kinds.items():
            (ran,) = hook_runs(report, phase, iid)
            assert ran["kind"] == kind and ran["status"] in ("Success", "Succeeded")
        (standby,) = calls(report, "EnterStandby", iid)
        (patch,) = patch_commands(report, iid)
        # before standby: before the instance left service; after healthy: after its patch, before the next
        if "BeforeStandby" in kinds:
            assert hook_runs(report, "BeforeStandby", iid)[0]["at"] <= standby["t"]
        if "AfterHealthy" in kinds:
            assert hook_runs(report, "AfterHealthy", iid)[0]["at"] > patch["t"]
    # and a document hook went to its instance with its parameters and the run's mark, once per instance
    for phase, hook in hooks.items():
        if "DocumentName" in hook:
            sent = [
                c["params"] for c in calls(report, "SendCommand") if c["params"]["DocumentName"] == hook["DocumentName"]
            ]
            assert len(sent) == 3
            assert all(p["Comment"].startswith(f"autopatch {phase} run ") for p in sent)
            assert all(p.get("Parameters", {}) == hook.get("Parameters", {}) for p in sent)


@pytest.mark.parametrize("kind", ["document", "function"])
@pytest.mark.parametrize(("index", "max_errors"), [(0, 0), (1, 1), (2, 0)])
def test_a_failing_before_standby_leaves_the_instance_in_service_untouched(kind, index, max_errors):
    # Given an instance whose BeforeStandby hook fails
    hook = STOP if kind == "document" else FUNCTION
    report = run({"BeforeStandby": hook}, [group(faults={str(index): "hook_failed"})], input={"MaxErrors": max_errors})
    failed = members(report)[index]
    iid = failed["instance_id"]
    # Then it failed with HookFailed, in the step before standby, and was never taken out of service nor patched
    assert failed["result"] == "Failed" and failed["tag"] == "Failed"
    assert failed["error"] == "HookFailed" and failed["step"] == "Before standby hook"
    assert failed["lifecycle_state"] == "InService"
    assert calls(report, "EnterStandby", iid) == [] and patch_commands(report, iid) == []
    # and one alert says so, with the hook's own error
    (alert,) = [a for a in run_alerts(report) if iid in (a["subject"] or "")]
    assert "HookFailed" in alert["message"] and "BeforeStandby" in alert["message"]
    cause = next(line for line in alert["message"].splitlines() if line.startswith("Cause:"))
    if kind == "document":  # its status, exit code and output
        assert "ended Failed (Failed, exit code 1)" in cause and "Output: MyApp-GracefulStop failed on" in cause
    else:  # the function's own message, not its error document
        assert cause.endswith(f"smoke-test failed on {iid}") and "errorType" not in cause
    # and the others before it are patched; after it, only if MaxErrors allows
    before = [i["result"] for i in members(report)[:index]]
    after = [i["result"] for i in members(report)[index + 1 :]]
    assert set(before) <= {"Completed"}
    assert set(after) <= ({"Completed"} if max_errors else {"NotStarted"})


@pytest.mark.parametrize("kind", ["document", "function"])
@pytest.mark.parametrize("index", [0, 1])
def test_a_failing_after_healthy_fails_the_instance_after_its_patch(kind, index):
    # Given an instance whose AfterHealthy hook fails (a smoke test that finds the application broken)
    hook = SHELL if kind == "document" else FUNCTION
    report = run({"AfterHealthy": hook}, [group(faults={str(index): "hook_failed"})])
    failed = members(report)[index]
    iid = failed["instance_id"]
    # Then it was patched, is back in service, and failed with HookFailed after healthy
    (patch,) = patch_commands(report, iid)
    assert failed["result"] == "Failed" and failed["tag"] == "Failed"
    assert failed["error"] == "HookFailed" and failed["step"] == "After healthy hook"
    assert failed["lifecycle_state"] == "InService"
    assert hook_runs(report, "AfterHealthy", iid)[0]["at"] > patch["t"]
    # and the run stopped before the next instance (MaxErrors 0), with one alert for it
    assert [i["result"] for i in members(report)[index + 1 :]] == ["NotStarted"] * (2 - index)
    assert report["status"] == "FAILED"
    assert len([a for a in run_alerts(report) if iid in (a["subject"] or "")]) == 1


@pytest.mark.parametrize(("phase", "timeout"), [("BeforeStandby", 60), ("AfterHealthy", 300)])
def test_a_document_past_its_timeout_is_cancelled_and_fails_the_instance(phase, timeout):
    # Given an instance whose hook document never ends
    report = run({phase: {**STOP, "TimeoutSeconds": timeout}}, [group(faults={"0": "hook_timeout"})])
    stuck = members(report)[0]
    iid = stuck["instance_id"]
    # Then it is cancelled once its TimeoutSeconds passed, and the instance failed with HookFailed
    (ran,) = hook_runs(report, phase, iid)
    assert ran["status"] == "Cancelled" and ran["seconds"] >= timeout
    hook_commands = [c for c in calls(report, "CancelCommand", iid)]
    assert len(hook_commands) == 1
    assert stuck["result"] == "Failed" and stuck["error"] == "HookFailed"
    assert stuck["lifecycle_state"] == "InService"
    (alert,) = [a for a in run_alerts(report) if iid in (a["subject"] or "")]
    assert f"within TimeoutSeconds={timeout}" in alert["message"]


@pytest.mark.parametrize("timeout", [30, 120])
def test_a_function_past_its_timeout_fails_the_instance(timeout):
    # Given an instance whose hook function runs past the hook's TimeoutSeconds
    report = run({"AfterHealthy": {**FUNCTION, "TimeoutSeconds": timeout}}, [group(faults={"1": "hook_timeout"})])
    stuck = members(report)[1]
    # Then the run did not wait for it: the instance failed with HookFailed, naming the timeout
    assert stuck["result"] == "Failed" and stuck["error"] == "HookFailed"
    (alert,) = [a for a in run_alerts(report) if stuck["instance_id"] in (a["subject"] or "")]
    assert f"did not end on {stuck['instance_id']} within TimeoutSeconds={timeout}" in alert["message"]
    assert members(report)[0]["result"] == "Completed"


@pytest.mark.parametrize(
    ("hooks", "parameters"),
    [
        ({"BeforeStandby": {"DocumentName": "AWS-RunShellScript"}}, {"HookDocumentNames": "MyApp-GracefulStop"}),
        ({"AfterHealthy": FUNCTION}, {}),
        ({"AfterHealthy": {"FunctionArn": SMOKE + "-v2"}}, ALLOWED),
    ],
    ids=["document-not-listed", "stack-allows-none", "other-function"],
)
def test_a_hook_the_stack_does_not_allow_ends_the_run_before_anything_is_touched(hooks, parameters):
    report = run(hooks, parameters=parameters)
    assert report["status"] == "FAILED"
    assert "InvalidInput" in report["error"] and "is not in the stack's" in report["cause"]
    assert fleet_calls(report) == []
    assert report["hook_invocations"] == []


def test_a_group_tag_overrides_the_input_hook_and_none_turns_it_off():
    # Given two groups: web with the input's smoke test, api tagged to run a document instead, and ops with none
    groups = [
        group("web", 2),
        group("api", 2, tags={"AutoPatchAfterHealthy": json.dumps(SHELL)}),
        group("ops", 2, tags={"AutoPatchAfterHealthy": "none"}),
    ]
    report = run({"AfterHealthy": FUNCTION}, groups, input={"GroupConcurrency": 3})
    assert report["status"] == "SUCCEEDED"
    kinds = {g: {h["kind"] for h in report["hook_invocations"] if h["group"] == g} for g in ("web", "api", "ops")}
    assert kinds == {"web": {"function"}, "api": {"document"}, "ops": set()}


def test_a_malformed_hook_tag_refuses_its_group_before_anything_is_touched():
    groups = [group("web", 2), group("api", 2, tags={"AutoPatchBeforeStandby": '{"DocumentName": "x"}'})]
    report = run({}, groups)
    assert report["status"] == "FAILED"
    assert "PreflightFailed" in report["error"] and "AutoPatchBeforeStandby tag of group 'api'" in report["cause"]
    assert fleet_calls(report) == []


def test_a_failing_before_standby_with_keep_capacity_gives_the_added_instance_back():
    # Given KeepCapacity, and the group's first instance failing its BeforeStandby hook
    report = run({"BeforeStandby": STOP}, [group(faults={"0": "hook_failed"})], input={"KeepCapacity": True})
    # Then it stays in service, failed, the rest are left, and the instance added for the group was given back
    assert members(report)[0]["result"] == "Failed" and members(report)[0]["lifecycle_state"] == "InService"
    assert len(calls(report, "TerminateInstanceInAutoScalingGroup")) == 1
    (web,) = [g for g in report["groups"] if g["name"] == "web"]
    assert web["desired"] == 3


def test_a_stop_while_a_hook_document_runs_cancels_it_and_leaves_the_instance_in_service():
    # Given a BeforeStandby document that runs for ten minutes, and a stop by hand two minutes into it
    report = run({"BeforeStandby": {**STOP, "TimeoutSeconds": 900}}, [group(hook_seconds=600)], stop_at=120)
    first = members(report)[0]
    # Then the clean-up cancelled the document and said so, and the instance never left service
    (ran,) = hook_runs(report, "BeforeStandby", first["instance_id"])
    assert ran["status"] == "Cancelled"
    (alert,) = cleanup_alerts(report)
    assert "hook document MyApp-GracefulStop" in alert["message"] and "cancelled" in alert["message"]
    assert first["lifecycle_state"] == "InService"
    assert calls(report, "EnterStandby") == []


def test_an_instance_terminated_during_its_before_standby_hook_is_gone_not_failed():
    # Given a BeforeStandby document of five minutes, and a scale-in that takes the first instance a minute into it
    events = [{"at": 60, "group": "web", "do": "terminate", "index": 0}]
    report = run({"BeforeStandby": {**STOP, "TimeoutSeconds": 600}}, [group(hook_seconds=300)], events=events)
    first = members(report)[0]
    # Then the run noticed at once (its agent died with it: the hook would never end): the instance is Gone, not a
    # failure, and one alert says it went before it left service; the run went on
    assert first["result"] == "Gone" and first["tag"] != "Failed"
    (gone,) = [n for n in run_alerts(report) if first["instance_id"] in (n["subject"] or "")]
    assert gone["subject"].startswith("Instance gone before leaving service")
    assert "ran its BeforeStandby hook, before taking it out of service" in gone["message"]
    assert "1 went while the run was patching them" in report["output"]["Message"]
    second = members(report)[1]
    # (long before the hook's TimeoutSeconds: the next instance's hook started once the replacement settled)
    assert hook_runs(report, "BeforeStandby", second["instance_id"])[0]["at"] < 600
    assert [i["result"] for i in members(report) if i["instance_id"] != first["instance_id"]].count("Completed") >= 2
    assert report["status"] == "SUCCEEDED"
    assert calls(report, "EnterStandby", first["instance_id"]) == []


def test_instances_launched_during_the_run_run_their_groups_hooks_too():
    # Given a scale-out while the first instance is patched, and hooks on both sides
    events = [{"at": 200, "group": "web", "do": "scale_out", "count": 1}]
    report = run({"BeforeStandby": STOP, "AfterHealthy": FUNCTION}, [group(instances=2)], events=events)
    newcomer = next(i for i in members(report) if i["launched_during_run"])
    # Then the newcomer is patched, after running both hooks
    assert newcomer["result"] == "Completed"
    assert {h["phase"] for h in hook_runs(report, instance=newcomer["instance_id"])} == {
        "BeforeStandby",
        "AfterHealthy",
    }


@pytest.mark.parametrize("soak", [0, 120])
def test_hooks_draining_and_soak_together_keep_their_order_on_every_instance(soak):
    # Given an ECS group whose instances run a graceful stop before standby and a smoke test once healthy, and a soak
    spec = group(instances=3, ecs={"tasks_per_instance": 2, "drain_seconds": 60})
    report = run({"BeforeStandby": STOP, "AfterHealthy": FUNCTION}, [spec], input={"SoakSeconds": soak})
    # Then every instance is patched, no task lost, every container instance ACTIVE
    assert {i["result"] for i in members(report)} == {"Completed"}
    (web,) = report["groups"]
    assert web["tasks_lost"] == 0 and set(web["container_instances"].values()) == {"ACTIVE"}
    # and on each: its graceful stop, then its drain, then its patch, then its smoke test; the next instance's
    # graceful stop only after the soak that followed this smoke test
    drains = [c["t"] for c in report["api_calls"] if c["operation"] == "UpdateContainerInstancesState"][::2]
    previous_end = None
    for instance, drained in zip(members(report), drains, strict=True):
        iid = instance["instance_id"]
        (before,) = hook_runs(report, "BeforeStandby", iid)
        (after,) = hook_runs(report, "AfterHealthy", iid)
        (patch,) = patch_commands(report, iid)
        assert before["at"] + before["seconds"] <= drained <= patch["t"] < after["at"]
        if previous_end is not None:
            assert before["at"] >= previous_end + soak
        previous_end = after["at"] + after["seconds"]
