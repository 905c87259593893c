"""The state machine as statemachine/build.py writes it: the committed JSON is its output, every Lambda task
retries the errors that pass on their own, and every scope (the run, each Map's item processor, each Parallel
branch) is a connected flow that can end. Each check returns its problems; mutants show it finds them."""

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from statemachine import build

COMMITTED = Path(build.__file__).with_name("rolling_patch.asl.json")
# Lambda's own transient errors, and the names autopatch.clients gives AWS throttling.
RETRIED_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "AwsThrottled",
    "ResourceContention",
]
# A hook's function is the user's (its FunctionName comes from the plan): only Lambda's own errors are retried, never
# one of the function's, so a failing hook is not run again.
LAMBDA_ERRORS = [error for error in RETRIED_ERRORS if error.startswith("Lambda.")]


@pytest.fixture(scope="module")
def definition() -> dict:
    return json.loads(build.render())


def test_the_committed_json_is_what_the_builder_writes():
    assert COMMITTED.read_text() == build.render(), (
        f"{COMMITTED.name} is stale against statemachine/build.py: run `make statemachine` and commit the JSON"
    )


# --- the checks -----------------------------------------------------------------------------------------


def scopes(machine: dict, where: str = "the run") -> Iterator[tuple[str, dict]]:
    """Each set of States with its own StartAt, named for a person: the run, then each Map and Parallel inside."""
    yield where, machine
    for name, state in machine["States"].items():
        if state["Type"] == "Map":
            yield from scopes(state.get("ItemProcessor") or state["Iterator"], f"Map {name!r}")
        for number, branch in enumerate(state.get("Branches", []), start=1):
            yield from scopes(branch, f"Parallel {name!r} branch {number}")


def targets(state: dict) -> list[str]:
    """Where a state can go next: Next, Default, each Choice rule's Next, each Catch's Next."""
    found = [state[key] for key in ("Next", "Default") if key in state]
    found += [rule["Next"] for rule in state.get("Choices", [])]
    return found + [catcher["Next"] for catcher in state.get("Catch", [])]


def missing_retriers(machine: dict) -> list[str]:
    problems = []
    for where, scope in scopes(machine):
        for name, state in scope["States"].items():
            if not state.get("Resource", "").startswith("arn:aws:states:::lambda:invoke"):
                continue
            retried = {error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}
            wanted = LAMBDA_ERRORS if "FunctionName.$" in state["Parameters"] else RETRIED_ERRORS
            problems += [f"{where}: {name!r} does not retry {error}" for error in wanted if error not in retried]
            problems += [
                f"{where}: {name!r} retries {error}, an error of the hook function itself"
                for error in retried - set(wanted)
                if wanted is LAMBDA_ERRORS
            ]
    return problems


def missing_targets(machine: dict) -> list[str]:
    problems = []
    for where, scope in scopes(machine):
        if scope["StartAt"] not in scope["States"]:
            problems.append(f"{where}: StartAt {scope['StartAt']!r} is not one of its states")
        for name, state in scope["States"].items():
            problems += [
                f"{where}: {name!r} goes to {target!r}, which is not one of its states"
                for target in targets(state)
                if target not in scope["States"]
            ]
    return problems


def unreachable_states(machine: dict) -> list[str]:
    problems = []
    for where, scope in scopes(machine):
        reached, to_visit = set(), [scope["StartAt"]]
        while to_visit:
            name = to_visit.pop()
            if name in reached or name not in scope["States"]:
                continue
            reached.add(name)
            to_visit += targets(scope["States"][name])
        problems += [
            f"{where}: {name!r} cannot be reached from StartAt" for name in scope["States"] if name not in reached
        ]
    return problems


def scopes_without_end(machine: dict) -> list[str]:
    return [
        f"{where}: no state ends it (Succeed, Fail or End: true)"
        for where, scope in scopes(machine)
        if not any(s["Type"] in ("Succeed", "Fail") or s.get("End") for s in scope["States"].values())
    ]


CHECKS = [missing_retriers, missing_targets, unreachable_states, scopes_without_end]


@pytest.mark.parametrize("check", CHECKS)
def test_the_state_machine_passes(definition, check):
    assert check(definition) == []


def test_every_scope_is_checked(definition):
    # the run, the recovered instances, the groups and each group's instances
    assert len(list(scopes(definition))) == 4


# --- mutants: each check finds what it is for -----------------------------------------------------------


def state_named(machine: dict, name: str) -> dict:
    return next(scope["States"][name] for _, scope in scopes(machine) if name in scope["States"])


def scope_holding(machine: dict, name: str) -> dict:
    return next(scope for _, scope in scopes(machine) if name in scope["States"])


def drop_retrier(machine: dict, name: str, error: str) -> None:
    state = state_named(machine, name)
    state["Retry"] = [retrier for retrier in state["Retry"] if error not in retrier["ErrorEquals"]]


def never_end(machine: dict, scope_of: str) -> None:
    """Every way out of the scope holding scope_of loops back to its start instead."""
    scope = scope_holding(machine, scope_of)
    for name, state in scope["States"].items():
        if state["Type"] in ("Succeed", "Fail") or state.pop("End", False):
            scope["States"][name] = {"Type": "Pass", "Next": scope["StartAt"]}


MUTANTS: dict[str, tuple[Callable[[dict], None], Callable[[dict], list[str]], str]] = {
    "Lambda retrier removed from a task in a Map": (
        lambda m: drop_retrier(m, "Enter standby", "Lambda.ServiceException"),
        missing_retriers,
        "'Enter standby' does not retry Lambda.ServiceException",
    ),
    "throttling retrier removed from a task of the run": (
        lambda m: drop_retrier(m, "Record the results", "AwsThrottled"),
        missing_retriers,
        "'Record the results' does not retry AwsThrottled",
    ),
    "waitForTaskToken task without retriers": (
        lambda m: state_named(m, "Run patch baseline").pop("Retry"),
        missing_retriers,
        "'Run patch baseline' does not retry Lambda.TooManyRequestsException",
    ),
    "Next to a missing state": (
        lambda m: state_named(m, "Record the results").update(Next="Record the result"),
        missing_targets,
        "'Record the results' goes to 'Record the result'",
    ),
    "Choice rule to a state of another scope": (
        lambda m: state_named(m, "Is instance healthy?")["Choices"][0].update(Next="Release the groups"),
        missing_targets,
        "'Is instance healthy?' goes to 'Release the groups', which is not one of its states",
    ),
    "Default to a missing state": (
        lambda m: state_named(m, "Dry run?").update(Default="Hold groups"),
        missing_targets,
        "'Dry run?' goes to 'Hold groups'",
    ),
    "Catch to a missing state": (
        lambda m: state_named(m, "Enter standby")["Catch"][0].update(Next="Take out of service failed"),
        missing_targets,
        "'Enter standby' goes to 'Take out of service failed'",
    ),
    "unreachable state in a Map": (
        lambda m: scope_holding(m, "Record success")["States"].update({"Forgotten": {"Type": "Succeed"}}),
        unreachable_states,
        "Map 'Patch instances one at a time': 'Forgotten' cannot be reached",
    ),
    "state cut off from the run": (
        lambda m: state_named(m, "Dry run?")["Choices"].pop(0),
        unreachable_states,
        "the run: 'Check the fleet (dry run)' cannot be reached",
    ),
    "Map whose items never end": (
        lambda m: never_end(m, "Recovered instance is healthy"),
        scopes_without_end,
        "Map 'Wait for recovered instances': no state ends it",
    ),
}


@pytest.mark.parametrize("mutation, check, expected", MUTANTS.values(), ids=MUTANTS.keys())
def test_the_check_reports_the_mutant(definition, mutation, check, expected):
    # Given a copy of the state machine with one mistake in it
    mutant = copy.deepcopy(definition)
    mutation(mutant)
    # When it is checked
    problems = check(mutant)
    # Then the check names the state and what is wrong
    assert any(expected in problem for problem in problems), problems
