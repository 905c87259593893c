"""The simulator's hooks, driven by tiny state machines rather than the product's: a hook function the stack allows
(HookFunctionArns) invoked by a lambda:invoke Task, on virtual time, as Step Functions reports each outcome (its
TimeoutSecondsPath firing first, the function's error, Lambda's timeout, a function that does not exist); a hook
document sent and read by aws-sdk tasks; what the report's hook_invocations and timeline say of each."""

import dataclasses
import json

import pytest

from simulator.engine import HOOK_FUNCTION_TIMEOUT, Simulation
from simulator.scenario import parse_scenario

pytestmark = pytest.mark.simulation

SMOKE_TEST = "arn:aws:lambda:us-east-1:123456789012:function:smoke-test"
OTHER = "arn:aws:lambda:us-east-1:123456789012:function:other"

# Invoke the function the input names, with a hook's payload for the instance the input names, within the input's
# TimeoutSeconds; an error of any kind is caught into $.Error
FUNCTION_HOOK = {
    "StartAt": "Run the hook",
    "States": {
        "Run the hook": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {
                "FunctionName.$": "$.FunctionArn",
                "Payload": {
                    "Hook.$": "$.Hook",
                    "RunId": "run-20260104T0300",
                    "ExecutionArn.$": "$$.Execution.Id",
                    "GroupName": "web",
                    "InstanceId.$": "$.InstanceId",
                },
            },
            "TimeoutSecondsPath": "$.TimeoutSeconds",
            "ResultSelector": {"Payload.$": "$.Payload"},
            "ResultPath": "$.Result",
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.Error", "Next": "Hook failed"}],
            "End": True,
        },
        "Hook failed": {"Type": "Pass", "End": True},
    },
}

# Send the input's document to the instance with a hook's Comment, wait, and read its invocation
DOCUMENT_HOOK = {
    "StartAt": "Send the hook",
    "States": {
        "Send the hook": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:ssm:sendCommand",
            "Parameters": {
                "DocumentName.$": "$.Document",
                "InstanceIds.$": "States.Array($.InstanceId)",
                "Parameters.$": "$.Parameters",
                "Comment.$": "States.Format('autopatch {} run run-20260104T0300', $.Hook)",
                "TimeoutSeconds": 120,
            },
            "ResultSelector": {"CommandId.$": "$.Command.CommandId"},
            "ResultPath": "$.Sent",
            "Next": "Wait for the hook",
        },
        "Wait for the hook": {"Type": "Wait", "SecondsPath": "$.WaitSeconds", "Next": "Read the hook"},
        "Read the hook": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:ssm:getCommandInvocation",
            "Parameters": {"CommandId.$": "$.Sent.CommandId", "InstanceId.$": "$.InstanceId"},
            "ResultSelector": {
                "Status.$": "$.Status",
                "ResponseCode.$": "$.ResponseCode",
                "Output.$": "$.StandardOutputContent",
                "Errors.$": "$.StandardErrorContent",
            },
            "ResultPath": "$.Read",
            "End": True,
        },
    },
}


def run_machine(
    tmp_path, definition: dict, run_input: dict, faults=None, hook_seconds=None, tags=None, **parameters
) -> dict:
    """A simulated run of `definition` over group "web" (two instances; `faults` of the first; `tags` its own), its
    input naming the first instance as InstanceId; `parameters` the stack's."""
    group: dict = {"name": "web", "instances": 2, "faults": faults or {}, "tags": tags or {}}
    if hook_seconds is not None:
        group["hook_seconds"] = hook_seconds
    sim = Simulation(parse_scenario({"groups": [group], "input": run_input, "parameters": parameters}))
    path = tmp_path / "machine.asl.json"
    path.write_text(json.dumps(definition))
    sim.stack.state_machine = dataclasses.replace(sim.stack.state_machine, definition_path=path, substitutions={})
    start = sim._start

    def with_the_instance(machine_arn, name, given):
        return start(machine_arn, name, {**given, "InstanceId": sim.instance_order[0].instance_id})

    sim._start = with_the_instance  # type: ignore[method-assign]
    report = sim.run()
    report["instance_id"] = sim.instance_order[0].instance_id
    return report


def function_hook(tmp_path, arn=SMOKE_TEST, timeout=60, hook="BeforeStandby", **kwargs) -> dict:
    run_input = {"FunctionArn": arn, "TimeoutSeconds": timeout, "Hook": hook}
    return run_machine(tmp_path, FUNCTION_HOOK, run_input, HookFunctionArns=f"{OTHER}, {SMOKE_TEST}", **kwargs)


def hook_run(report, kind, hook, status, seconds, phase="BeforeStandby") -> dict:
    return {
        "at": 0.0,
        "group": "web",
        "instance_id": report["instance_id"],
        "phase": phase,
        "kind": kind,
        "hook": hook,
        "status": status,
        "seconds": seconds,
    }


# --- hook functions --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hook_seconds, hook, function",
    [
        (None, "BeforeStandby", SMOKE_TEST),
        (0, "AfterHealthy", f"{SMOKE_TEST}:$LATEST"),
        (45, "AfterHealthy", "smoke-test"),
    ],
)
def test_a_hook_function_the_stack_allows_takes_hook_seconds_and_returns(tmp_path, hook_seconds, hook, function):
    # Given a hook function the stack allows, a group whose hooks take hook_seconds (10 unless told)
    # When the state machine invokes it (by its ARN, a qualified ARN, its name) for an instance without faults (the
    # other instance fails its hooks)
    report = function_hook(tmp_path, function, hook=hook, hook_seconds=hook_seconds, faults={"1": "hook_failed"})

    # Then it returned after hook_seconds of virtual time, and the report and the timeline say so
    took = 10 if hook_seconds is None else hook_seconds
    assert report["status"] == "SUCCEEDED" and "Error" not in report["output"]
    assert report["output"]["Result"]["Payload"] == {"Hook": hook, "InstanceId": report["instance_id"], "Passed": True}
    assert report["virtual_seconds"] == took
    assert report["hook_invocations"] == [hook_run(report, "function", SMOKE_TEST, "Succeeded", took, hook)]
    lines = [(e["t"], e["text"]) for e in report["timeline"] if e["instance"] == report["instance_id"]]
    assert lines == [(0.0, f"hook function smoke-test invoked ({hook})"), (took, "hook function smoke-test Succeeded")]
    # the user's function, not the stack's: no Lambda invocation of the stack's is counted
    assert report["lambda_invocations"] == 0


@pytest.mark.parametrize("hook_seconds, timeout", [(120, 30), (61, 60), (900, 899)])
def test_the_task_s_timeout_seconds_path_fires_on_virtual_time_before_a_slow_function_returns(
    tmp_path, hook_seconds, timeout
):
    # Given a hook function that takes longer than the Task's TimeoutSecondsPath allows
    # When the state machine invokes it
    report = function_hook(tmp_path, timeout=timeout, hook_seconds=hook_seconds)

    # Then the Task fails with States.Timeout at its timeout, on virtual time; the function itself runs on and
    # returns when it is done, as on Lambda
    assert report["output"]["Error"]["Error"] == "States.Timeout"
    assert report["virtual_seconds"] == timeout
    assert report["hook_invocations"] == [hook_run(report, "function", SMOKE_TEST, "Succeeded", hook_seconds)]


@pytest.mark.parametrize("hook_seconds", [0, 10, 300])
def test_a_hook_function_of_an_instance_with_hook_failed_raises(tmp_path, hook_seconds):
    # Given an instance with hook_failed
    # When the state machine invokes the hook function for it
    report = function_hook(tmp_path, hook_seconds=hook_seconds, timeout=600, faults={"0": "hook_failed"})

    # Then the Task fails with the function's error, as Step Functions reports a function error: its errorType as
    # the error, the error payload as the cause
    error = report["output"]["Error"]
    assert error["Error"] == "Exception"
    assert json.loads(error["Cause"]) == {
        "errorType": "Exception",
        "errorMessage": f"smoke-test failed on {report['instance_id']}",
    }
    assert report["virtual_seconds"] == hook_seconds
    assert report["hook_invocations"] == [hook_run(report, "function", SMOKE_TEST, "Failed", hook_seconds)]


@pytest.mark.parametrize(
    "faults, hook_seconds, timeout, error, ended_at",
    [
        ({"0": "hook_timeout"}, None, 1000, "Sandbox.Timedout", HOOK_FUNCTION_TIMEOUT),
        ({"0": "hook_timeout"}, None, 300, "States.Timeout", 300),
        ({}, HOOK_FUNCTION_TIMEOUT + 1, 3600, "Sandbox.Timedout", HOOK_FUNCTION_TIMEOUT),
    ],
)
def test_a_hook_function_that_runs_past_its_lambda_timeout_fails_as_lambda_reports_a_timeout(
    tmp_path, faults, hook_seconds, timeout, error, ended_at
):
    # Given a hook function that would run longer than its Lambda timeout (900 s): hook_timeout, or a group whose
    # hooks take longer than that
    # When the state machine invokes it, with a Task timeout above or below 900 s
    report = function_hook(tmp_path, timeout=timeout, hook_seconds=hook_seconds, faults=faults)

    # Then Lambda stops it at 900 s and reports Sandbox.Timedout ("Task timed out after 900.00 seconds"), unless
    # the Task's own timeout fired first
    assert report["output"]["Error"]["Error"] == error
    if error == "Sandbox.Timedout":
        cause = json.loads(report["output"]["Error"]["Cause"])
        assert cause["errorType"] == "Sandbox.Timedout"
        assert cause["errorMessage"].endswith("Error: Task timed out after 900.00 seconds")
    assert report["virtual_seconds"] == ended_at
    assert report["hook_invocations"] == [hook_run(report, "function", SMOKE_TEST, "TimedOut", HOOK_FUNCTION_TIMEOUT)]


@pytest.mark.parametrize(
    "function, allowed",
    [
        ("arn:aws:lambda:us-east-1:123456789012:function:not-allowed", SMOKE_TEST),
        (SMOKE_TEST, ""),
        ("smoke-tests", SMOKE_TEST),
    ],
)
def test_a_function_that_is_neither_the_stack_s_nor_allowed_is_not_found(tmp_path, function, allowed):
    # Given a function ARN (or name) that is not one of the stack's functions nor in HookFunctionArns
    run_input = {"FunctionArn": function, "TimeoutSeconds": 60, "Hook": "BeforeStandby"}

    # When the state machine invokes it
    report = run_machine(tmp_path, FUNCTION_HOOK, run_input, HookFunctionArns=allowed)

    # Then Lambda.ResourceNotFoundException, "Function not found: <its ARN>", as Step Functions reports it; nothing ran
    error = report["output"]["Error"]
    arn = function if function.startswith("arn:") else f"arn:aws:lambda:us-east-1:123456789012:function:{function}"
    assert error["Error"] == "Lambda.ResourceNotFoundException"
    assert error["Cause"].startswith(f"Function not found: {arn} (Service: AWSLambda; Status Code: 404;")
    assert report["hook_invocations"] == []


# --- hook documents --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document, parameters, faults, hook_seconds, status, code",
    [
        ("MyApp-Drain", {}, {}, None, "Success", 0),
        ("MyApp-Drain", {"Drain": ["30"]}, {"0": "hook_failed"}, 40, "Failed", 1),
        ("AWS-RunShellScript", {"commands": ["./smoke-test"]}, {}, 20, "Success", 0),
    ],
)
def test_a_hook_document_s_run_is_in_the_report_with_its_phase_status_and_time(
    tmp_path, document, parameters, faults, hook_seconds, status, code
):
    # Given the account's own document MyApp-Drain, allowed as a hook, and AWS-RunShellScript
    run_input = {"Document": document, "Parameters": parameters, "Hook": "AfterHealthy", "WaitSeconds": 120}

    # When the state machine sends it to an instance with a hook's Comment, and reads it once it has ended
    report = run_machine(
        tmp_path, DOCUMENT_HOOK, run_input, faults, hook_seconds, HookDocumentNames="MyApp-Stop,MyApp-Drain"
    )

    # Then the invocation ended with its status, response code and output; hook_invocations has it, its phase from
    # the Comment, its time from SendCommand to its end (the agent takes it 3 s after); the timeline has both ends
    took = 3 + (10 if hook_seconds is None else hook_seconds)
    read = report["output"]["Read"]
    assert (read["Status"], read["ResponseCode"]) == (status, code)
    assert f"{document} ran on {report['instance_id']}" in read["Output"]
    assert (read["Errors"] != "") == (status == "Failed")
    assert report["hook_invocations"] == [hook_run(report, "document", document, status, took, "AfterHealthy")]
    lines = [(e["t"], e["text"]) for e in report["timeline"] if e["instance"] == report["instance_id"]]
    assert lines[0][1].startswith(f"{document} sent (") and lines[1:] == [(took, f"{document} {status}")]


def test_a_hook_document_left_running_is_in_the_report_as_it_is_at_the_end(tmp_path):
    # Given an instance with hook_timeout
    run_input = {"Document": "MyApp-Drain", "Parameters": {}, "Hook": "BeforeStandby", "WaitSeconds": 300}

    # When a hook document is sent to it and the run ends without cancelling it
    report = run_machine(tmp_path, DOCUMENT_HOOK, run_input, {"0": "hook_timeout"}, HookDocumentNames="MyApp-Drain")

    # Then the report shows it InProgress, with no time: what the simulation's invariants catch
    assert report["output"]["Read"]["Status"] == "InProgress"
    assert report["hook_invocations"] == [hook_run(report, "document", "MyApp-Drain", "InProgress", None)]


# --- the group's own tags (the hook tags a group overrides the input with) ----------------------------------------

GROUP_TAGS = {
    "StartAt": "Describe the group",
    "States": {
        "Describe the group": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:autoscaling:describeAutoScalingGroups",
            "Parameters": {"AutoScalingGroupNames": ["web"]},
            "ResultSelector": {"Tags.$": "$.AutoScalingGroups[*].Tags"},
            "End": True,
        }
    },
}


@pytest.mark.parametrize(
    "tags",
    [
        {},
        {"AutoPatchAfterHealthy": "none"},
        {"AutoPatchBeforeStandby": '{"DocumentName": "MyApp-Drain"}', "Team": "payments"},
    ],
)
def test_a_group_s_own_tags_are_on_it_beside_the_opt_in_tag(tmp_path, tags):
    # Given a group with tags of its own
    # When the group is described
    report = run_machine(tmp_path, GROUP_TAGS, {}, tags=tags)

    # Then it has them, not propagated at launch, beside the opt-in tag the simulator gives it
    found = {t["Key"]: (t["Value"], t["PropagateAtLaunch"]) for t in report["output"]["Tags"][0]}
    assert found == {"AutoPatch": ("enabled", False), **{key: (value, False) for key, value in tags.items()}}
