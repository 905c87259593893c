"""continue_run: starting the next part of a run too large for one execution.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import json

import pytest

from autopatch.run_input import RunSettings
from tests.handlers.helpers import EXECUTION_ARN, RUN_ID, SNAPSHOT_ID, twice


def continue_event(machine_arn, run_id=RUN_ID, **overrides):
    settings = {**RunSettings(AutoScalingGroupNames=["web"]).to_dict(), "AlarmNames": []}
    return {
        "RunId": run_id,
        "ExecutionArn": EXECUTION_ARN,
        "GroupNames": ["web"],
        "Part": 1,
        "SnapshotId": SNAPSHOT_ID,
        "Settings": settings,
        "Recovered": [],
        "Offset": 44,
        "StateMachineArn": machine_arn,
        **overrides,
    }


def part2_continuation(event) -> dict:
    """What part 1 of the run, given continue_event's event, hands its part 2."""
    return {
        "RunId": RUN_ID,
        "Part": 2,
        "Pass": event.get("Pass", 0),
        "Offset": 44,
        "PreviousExecutionArn": EXECUTION_ARN,
        "SnapshotId": SNAPSHOT_ID,
        "Settings": event["Settings"],
        "GroupNames": ["web"],
        "Recovered": [],
    }


def test_continue_run_starts_the_next_part_once(aws, executions, load_handler, lambda_context, api_calls):
    # Given part 1 of a run that has more instances than one execution may patch
    app = load_handler("continue_run")
    event = continue_event(executions.machine)
    # When it continues, twice
    first, second = twice(app, event, lambda_context)
    # Then one execution named after the run and part 2 was started, and both calls name it
    part2 = f"{executions.machine.replace(':stateMachine:', ':execution:')}:{RUN_ID}-part2"
    assert first == second == {"ContinuedAs": f"{RUN_ID}-part2", "ExecutionArn": part2}
    listed = aws.client("stepfunctions").list_executions(stateMachineArn=executions.machine)["executions"]
    assert [e["name"] for e in listed] == [f"{RUN_ID}-part2"]
    # and its input carries the run on from the next offset, with the same snapshot and settings
    started = json.loads(aws.client("stepfunctions").describe_execution(executionArn=part2)["input"])
    assert started == {"Continuation": part2_continuation(event)}


@pytest.mark.parametrize("number", [1, 3])
def test_continue_run_starts_a_newcomer_pass_from_its_start(aws, executions, load_handler, lambda_context, number):
    # Given part 1 of a run whose pass ended with newcomers to patch, saved as pass `number`
    app = load_handler("continue_run")
    event = continue_event(executions.machine, Pass=number, Offset=0)
    # When it continues
    app.lambda_handler(event, lambda_context)
    # Then part 2 patches that pass from its first instance
    part2 = f"{executions.machine.replace(':stateMachine:', ':execution:')}:{RUN_ID}-part2"
    started = json.loads(aws.client("stepfunctions").describe_execution(executionArn=part2)["input"])
    assert (started["Continuation"]["Pass"], started["Continuation"]["Offset"]) == (number, 0)
    assert started == {"Continuation": {**part2_continuation(event), "Offset": 0}}


def test_continue_run_finds_a_next_part_that_already_exists(aws, executions, load_handler, lambda_context):
    # Given part 2 already started by this run, with the run's own input (a repeated ContinueRun)
    event = continue_event(executions.machine)
    continuation = part2_continuation(event)
    existing = aws.client("stepfunctions").start_execution(
        stateMachineArn=executions.machine, name=f"{RUN_ID}-part2", input=json.dumps({"Continuation": continuation})
    )["executionArn"]
    app = load_handler("continue_run")
    # When part 1 continues
    result = app.lambda_handler(event, lambda_context)
    # Then no second execution is started, and the existing one is named
    assert result == {"ContinuedAs": f"{RUN_ID}-part2", "ExecutionArn": existing}
    listed = aws.client("stepfunctions").list_executions(stateMachineArn=executions.machine)["executions"]
    assert len(listed) == 1
