"""A continuation is started only by its run (autopatch.runs.verify_continuation, start_continuation), checked
against the previous execution as Step Functions describes it. Step Functions is faked here."""

import json

import pytest
from botocore.exceptions import ClientError

from autopatch import polling, runs
from autopatch.errors import ContinuationNameTaken, InvalidInput

MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:autopatch-rolling-patch"
EXECUTIONS = MACHINE.replace(":stateMachine:", ":execution:")
RUN = "run-2026-12-01"


def continuation(part=2, **overrides):
    previous = RUN if part == 2 else runs.continuation_name(RUN, part - 1)
    return {"RunId": RUN, "Part": part, "Offset": 44, "PreviousExecutionArn": f"{EXECUTIONS}:{previous}", **overrides}


def handed_over(part=2, status="SUCCEEDED", **output):
    document = {"RunId": RUN, "Part": part - 1, "ContinuedAs": runs.continuation_name(RUN, part), **output}
    return {"status": status, "output": json.dumps(document) if status == "SUCCEEDED" else None}


class StepFunctions:
    def __init__(self, *descriptions, inputs=None):
        self.descriptions, self.inputs, self.described, self.started = list(descriptions), inputs or {}, [], []

    def describe_execution(self, executionArn):
        self.described.append(executionArn)
        if executionArn in self.inputs:
            return {"status": "RUNNING", "input": self.inputs[executionArn]}
        if not self.descriptions:
            raise ClientError({"Error": {"Code": "ExecutionDoesNotExist", "Message": "none"}}, "DescribeExecution")
        return self.descriptions.pop(0) if len(self.descriptions) > 1 else self.descriptions[0]

    def start_execution(self, stateMachineArn, name, input):
        arn = f"{stateMachineArn.replace(':stateMachine:', ':execution:')}:{name}"
        if arn in self.inputs:
            raise ClientError({"Error": {"Code": "ExecutionAlreadyExists", "Message": name}}, "StartExecution")
        self.started.append((name, json.loads(input)))
        return {"executionArn": arn}


class Context:
    """A Lambda context whose remaining time the polling's sleeps spend."""

    def __init__(self, seconds=60):
        self.remaining = seconds * 1000

    def get_remaining_time_in_millis(self):
        return self.remaining


@pytest.fixture
def sfn(monkeypatch):
    def make(*descriptions, inputs=None):
        fake = StepFunctions(*descriptions, inputs=inputs)
        monkeypatch.setattr(runs, "client", lambda service: fake)
        return fake

    return make


@pytest.fixture
def context(monkeypatch):
    context = Context()

    def sleep(seconds):
        context.remaining -= seconds * 1000

    monkeypatch.setattr(polling, "sleep", sleep)
    return context


def me(part=2):
    return f"{EXECUTIONS}:{runs.continuation_name(RUN, part)}"


@pytest.mark.parametrize("part", [2, 3, 17])
def test_the_runs_own_continuation_passes(sfn, context, part):
    fake = sfn(handed_over(part))
    runs.verify_continuation(continuation(part), me(part), context)
    assert fake.described == [continuation(part)["PreviousExecutionArn"]]


def test_it_waits_the_moment_the_previous_execution_needs_to_end(sfn, context):
    # Given the previous execution still in its last state when this one starts
    fake = sfn({"status": "RUNNING"}, {"status": "RUNNING"}, handed_over())
    runs.verify_continuation(continuation(), me(), context)
    assert len(fake.described) == 3


@pytest.mark.parametrize(
    ("event", "execution", "why"),
    [
        (
            continuation(PreviousExecutionArn=f"{EXECUTIONS.replace('autopatch-rolling-patch', 'other')}:{RUN}"),
            me(),
            "is not an execution of this state machine",
        ),
        (continuation(PreviousExecutionArn="arn:aws:lambda:eu-west-1:1:function:x"), me(), "not an execution of"),
        (continuation(), f"{EXECUTIONS}:by-hand", f"part 2 of run {RUN!r} is named '{RUN}-part2', not 'by-hand'"),
        (continuation(PreviousExecutionArn=f"{EXECUTIONS}:other-run"), me(), f"part 1 of run {RUN!r} is named"),
        (continuation(3, PreviousExecutionArn=f"{EXECUTIONS}:{RUN}"), me(3), f"is named '{RUN}-part2', not '{RUN}'"),
    ],
    ids=["another-state-machine", "not-an-execution", "own-name", "previous-name", "skips-a-part"],
)
def test_an_identity_that_does_not_match_is_refused_without_a_call(sfn, context, event, execution, why):
    fake = sfn(handed_over())
    with pytest.raises(InvalidInput, match=r"^Continuation refused: ") as refused:
        runs.verify_continuation(event, execution, context)
    assert why in str(refused.value) and "Nothing was changed." in str(refused.value)
    assert fake.described == []


@pytest.mark.parametrize(
    ("descriptions", "why"),
    [
        ((), f"there is no execution {RUN!r}"),
        (({"status": "RUNNING"},), f"execution {RUN!r} is still running: it has not handed run {RUN!r} over"),
        (({"status": "PENDING_REDRIVE"},), "is still running"),
        ((handed_over(status="FAILED"),), "ended FAILED, not by continuing in a new execution"),
        ((handed_over(status="ABORTED"),), "ended ABORTED"),
        (({"status": "SUCCEEDED", "output": json.dumps({"Status": "Succeeded"})},), "did not continue in this one"),
        ((handed_over(ContinuedAs="someone-else"),), "did not continue in this one"),
        ((handed_over(RunId="run-other"),), "did not continue in this one"),
        (({"status": "SUCCEEDED", "output": "not json"},), "did not continue in this one"),
    ],
    ids=["missing", "live", "pending-redrive", "failed", "aborted", "finished", "other-name", "other-run", "garbled"],
)
def test_a_previous_execution_that_did_not_hand_over_is_refused(sfn, context, descriptions, why):
    sfn(*descriptions)
    with pytest.raises(InvalidInput) as refused:
        runs.verify_continuation(continuation(), me(), context)
    assert why in str(refused.value)


def test_the_wait_for_a_live_run_is_bounded_by_the_invocation(sfn, context):
    fake = sfn({"status": "RUNNING"})
    with pytest.raises(InvalidInput, match="still running"):
        runs.verify_continuation(continuation(), me(), context)
    assert 40 <= len(fake.described) <= 60 and context.remaining > 0


# --- start_continuation ------------------------------------------------------------------------------------


PART_2 = {"RunId": RUN, "Part": 2}


def test_the_next_part_is_started_with_the_continuation(sfn):
    fake = sfn()
    assert runs.start_continuation(MACHINE, PART_2) == (f"{RUN}-part2", f"{EXECUTIONS}:{RUN}-part2")
    assert fake.started == [(f"{RUN}-part2", {"Continuation": PART_2})]


def test_a_next_part_already_started_by_the_run_is_found(sfn):
    arn = f"{EXECUTIONS}:{RUN}-part2"
    sfn(inputs={arn: json.dumps({"Continuation": PART_2})})
    assert runs.start_continuation(MACHINE, PART_2) == (f"{RUN}-part2", arn)


def test_a_next_part_name_taken_by_another_input_is_not_the_runs(sfn):
    arn = f"{EXECUTIONS}:{RUN}-part2"
    sfn(inputs={arn: json.dumps({"Continuation": {**PART_2, "GroupNames": ["legacy"]}})})
    with pytest.raises(ContinuationNameTaken, match=f"An execution named {RUN}-part2 already exists with another"):
        runs.start_continuation(MACHINE, PART_2)
