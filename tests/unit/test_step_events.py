"""The state machine against the functions it calls: every key a Lambda task's Payload passes is one the
function's typed event reads, and every key the event requires is passed by every task that calls it.

A task names its function as ${XxxFunctionArn}; the template's DefinitionSubstitutions say which function that
is (!GetAtt XxxFunction.Arn), and its CodeUri which folder holds the handler, whose @step names its event.
"""

import copy
import json
from pathlib import Path
from typing import NamedTuple

import pytest

from autopatch.step import StepEvent
from simulator.stack import load_stack
from tests.support import handler_names, load_handler

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = json.loads((ROOT / "statemachine" / "rolling_patch.asl.json").read_text())


class Function(NamedTuple):
    folder: str
    event_type: type[StepEvent]


def template_functions() -> dict[str, Function]:
    """The state machine's substitution name (XxxFunctionArn) -> the function it stands for."""
    stack = load_stack()
    found = {}
    for name, expression in stack.state_machine.substitutions.items():
        target = expression.get("Fn::GetAtt") if isinstance(expression, dict) else None
        if target and target[0] in stack.functions:
            folder = stack.functions[target[0]].code_dir.name
            found[name] = Function(folder, load_handler(folder).lambda_handler.event_type)
    return found


def task_states(states: dict, hooks: bool = False):
    """(name, state) of every Task, inside Map and Parallel states too; with hooks, only the calls of hook
    functions (the user's: their FunctionName comes from the plan), otherwise every other Task."""
    for name, state in states.items():
        if state.get("Type") == "Task" and ("FunctionName.$" in state.get("Parameters", {})) == hooks:
            yield name, state
        for inner in (state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])):
            if inner:
                yield from task_states(inner["States"], hooks)


def payload_problems(definition: dict, functions: dict[str, Function]) -> list[str]:
    """What disagrees between the Lambda tasks' Payloads and the events of the functions they call."""
    problems = []
    for state, task in task_states(definition["States"]):
        resource = task.get("Resource", "")
        if resource.startswith("${"):
            problems.append(f"'{state}' invokes {resource} with its whole input: its keys cannot be checked")
            continue
        if not resource.startswith("arn:aws:states:::lambda:invoke"):
            continue
        parameters = task.get("Parameters", {})
        arn = str(parameters.get("FunctionName", parameters.get("FunctionName.$", "")))
        substitution = arn.removeprefix("${").removesuffix("}")
        if not arn.startswith("${") or substitution not in functions:
            problems.append(f"'{state}' calls {arn or 'no FunctionName'}, which is no function of the template")
            continue
        folder, event_type = functions[substitution]
        if "Payload.$" in parameters:
            path = parameters["Payload.$"]
            problems.append(f"'{state}' passes {path} as a whole as {folder}'s Payload: its keys cannot be checked")
            continue
        passed = {key.removesuffix(".$") for key in parameters.get("Payload", {})}
        problems += [
            f"'{state}' passes {key}, which {folder} does not read" for key in sorted(passed - event_type.reads())
        ]
        problems += [
            f"'{state}' does not pass {key}, which {folder} requires" for key in sorted(event_type.requires() - passed)
        ]
    return problems


@pytest.fixture(scope="module")
def functions() -> dict[str, Function]:
    return template_functions()


def state_named(definition: dict, name: str) -> dict:
    return next(task for state, task in task_states(definition["States"]) if state == name)


def test_every_handler_takes_a_typed_event():
    for folder in handler_names():
        event_type = load_handler(folder).lambda_handler.event_type
        assert issubclass(event_type, StepEvent), folder
        assert event_type.requires() <= event_type.reads(), folder


def test_the_state_machine_calls_the_functions_of_the_template(functions):
    # Given the state machine's Lambda tasks
    called = {
        task["Parameters"]["FunctionName"]
        for _, task in task_states(DEFINITION["States"])
        if task["Resource"].startswith("arn:aws:states:::lambda:invoke")
    }
    # Then each names a function of the template, and every function but the event and schedule targets is called
    assert called == {f"${{{name}}}" for name in functions}
    event_targets = {"command_finished", "follow_commands", "notify_slack", "clean_up_run"}
    assert set(handler_names()) - {f.folder for f in functions.values()} == event_targets


def test_the_hook_functions_get_the_run_the_group_and_the_instance():
    # Given the tasks that call a group's hook function (README, "Hooks")
    calls = dict(task_states(DEFINITION["States"], hooks=True))
    # Then there is one per hook, its function and its time limit are the plan's hook's, and it passes what the
    # README documents
    assert set(calls) == {"Call the before-standby function", "Call the after-healthy function"}
    for name, phase in (
        ("Call the before-standby function", "BeforeStandby"),
        ("Call the after-healthy function", "AfterHealthy"),
    ):
        task = calls[name]
        assert task["Parameters"]["FunctionName.$"] == f"$.Hooks.{phase}.Name"
        assert task["TimeoutSecondsPath"] == f"$.Hooks.{phase}.TimeoutSeconds"
        assert task["Parameters"]["Payload"] == {
            "Hook": phase,
            "RunId.$": "$.Run.RunId",
            "ExecutionArn.$": "$.Run.ExecutionArn",
            "GroupName.$": "$.GroupName",
            "InstanceId.$": "$.InstanceId",
        }


def test_every_payload_passes_what_its_function_reads_and_requires(functions):
    assert payload_problems(DEFINITION, functions) == []


def test_a_payload_key_no_function_reads_is_a_problem(functions):
    # Given a state machine whose "Enter standby" (inside the Map) passes a key enter_standby does not read
    definition = copy.deepcopy(DEFINITION)
    state_named(definition, "Enter standby")["Parameters"]["Payload"]["MinSize.$"] = "$.Run.Settings.MinSize"
    # Then that key is named
    problems = set(payload_problems(definition, functions))
    assert problems == {"'Enter standby' passes MinSize, which enter_standby does not read"}


def test_a_required_key_missing_from_a_payload_is_a_problem(functions):
    # Given a state machine whose "Wait until healthy" does not pass the deadline check_health requires
    definition = copy.deepcopy(DEFINITION)
    del state_named(definition, "Wait until healthy")["Parameters"]["Payload"]["Deadline.$"]
    # Then the missing key is named
    problems = set(payload_problems(definition, functions))
    assert problems == {"'Wait until healthy' does not pass Deadline, which check_health requires"}


def test_a_whole_object_as_payload_is_reported_as_unchecked(functions):
    # Given a state machine whose "Cancel the patch command" passes its whole input as the Payload
    definition = copy.deepcopy(DEFINITION)
    parameters = state_named(definition, "Cancel the patch command")["Parameters"]
    del parameters["Payload"]
    parameters["Payload.$"] = "$"
    # Then it is reported, since its keys cannot be checked
    problems = set(payload_problems(definition, functions))
    assert problems == {
        "'Cancel the patch command' passes $ as a whole as cancel_patch_command's Payload: its keys cannot be checked"
    }


def test_a_task_calling_no_function_of_the_template_is_a_problem(functions):
    # Given a state machine whose "Mark patch completed" names a function the template does not have
    definition = copy.deepcopy(DEFINITION)
    state_named(definition, "Mark patch completed")["Parameters"]["FunctionName"] = "${TagEverythingFunctionArn}"
    # Then that is the problem, and its Payload is not checked against some other function
    problems = set(payload_problems(definition, functions))
    assert problems == {
        "'Mark patch completed' calls ${TagEverythingFunctionArn}, which is no function of the template"
    }


def test_a_function_invoked_as_the_resource_itself_is_reported_as_unchecked(functions):
    # Given a state machine whose "Mark patch completed" names the function as its Resource (no Parameters)
    definition = copy.deepcopy(DEFINITION)
    task = state_named(definition, "Mark patch completed")
    task["Resource"] = task.pop("Parameters")["FunctionName"]
    # Then it is reported, since the function gets the state's whole input
    problems = set(payload_problems(definition, functions))
    assert problems == {
        "'Mark patch completed' invokes ${TagInstanceFunctionArn} with its whole input: its keys cannot be checked"
    }
