"""A run that outgrows one execution: its plan, its slices and its results, kept in S3.

A Standard execution fails at 25,000 history events, and an inline Map writes every iteration into one
history. So each execution patches a slice of every group, sized so that its history stays well under the
limit, records the slice's results, and starts the next execution of the same run."""

import json
import math
import os
import uuid

from botocore.exceptions import ClientError

from . import hooks, ledger, polling, summary, window
from .clients import client
from .errors import ContinuationNameTaken, InvalidInput
from .run_input import RunSettings

EVENT_BUDGET = 20_000  # of the 25,000 an execution may have: the rest is head room for retries
EVENTS_PER_INSTANCE = 150  # an upper bound at the default timeouts, failure path included (README's benchmark)
# A longer StandbyTimeoutSeconds or HealthTimeoutSeconds lets a wait loop call its function more often: each call
# writes 7 events (its Task's 5, its Choice's 2) and waits at least 295 s unless the deadline comes first
# (check_standby's and check_health's 300 s Timeout in template.yaml, less polling's reserve).
WAIT_CHECK_EVENTS = 7
WAIT_CHECK_SECONDS = 300 - polling.RESERVE_SECONDS
# a group's bake (BakeAmi): about 7 events per 5-minute wait for the image, BakeTimeoutSeconds being 4 hours at most
BAKE_EVENTS = 600
NO_HOOKS = {phase: hooks.NONE for phase in hooks.PHASES}
SUMMARY_INLINE_LIMIT = 200  # instances listed in the output itself; all of them are in the report object


def _bucket() -> str:
    return os.environ["REPORT_BUCKET"]


def _key(run_id: str, name: str) -> str:
    return f"runs/{run_id}/{name}"


def report_location(run_id: str) -> str:
    return f"s3://{_bucket()}/{_key(run_id, 'summary.json')}"


def _put(run_id: str, name: str, document) -> None:
    client("s3").put_object(
        Bucket=_bucket(),
        Key=_key(run_id, name),
        Body=json.dumps(document).encode(),
        ContentType="application/json",
    )


def _get(run_id: str, name: str):
    return json.loads(client("s3").get_object(Bucket=_bucket(), Key=_key(run_id, name))["Body"].read())


def save_plan(run_id: str, plan: dict) -> None:
    _put(run_id, "plan.json", plan)


def _pass_name(number: int) -> str:
    """Pass 0 is the plan; pass n >= 1 patches the instances that joined a group before pass n - 1 ended."""
    return "plan.json" if number == 0 else f"pass-{number}.json"


def save_pass(run_id: str, number: int, found: dict) -> None:
    """A newcomer pass (autopatch.newcomers): the same shape as the plan, {"Groups": [...], "Skipped": [...]}."""
    _put(run_id, _pass_name(number), found)


def passes(run_id: str) -> list[dict]:
    """The plan, then each newcomer pass the run saved, in order."""
    found = [plan(run_id)]
    keys = _keys(run_id, "pass-")
    return found + [_get(run_id, _pass_name(number)) for number in range(1, len(keys) + 1)]


def _longest_waits(standby_timeout: int, health_timeout: int) -> int:
    """The most calls one instance's waits can make: its longest path waits at the gate for instances launching
    or terminating (up to HealthTimeoutSeconds, check_safe_to_continue's Timeout being 300 s too), for Standby,
    then twice for health (after the patch, then when the failed instance is returned to service). At the default
    timeouts that path measured 114 events in the simulator (a newcomer settling just before the gate's bound,
    then a target unhealthy after the patch), under EVENTS_PER_INSTANCE."""
    health = math.ceil(health_timeout / WAIT_CHECK_SECONDS)
    return math.ceil(standby_timeout / WAIT_CHECK_SECONDS) + 3 * health


def events_per_instance(standby_timeout: int, health_timeout: int) -> int:
    """An upper bound of one instance's history events with these timeouts (never below EVENTS_PER_INSTANCE)."""
    default = _longest_waits(RunSettings.StandbyTimeoutSeconds, RunSettings.HealthTimeoutSeconds)
    further = _longest_waits(standby_timeout, health_timeout) - default
    return EVENTS_PER_INSTANCE + WAIT_CHECK_EVENTS * max(0, further)


def slice_size(group_count: int, bake: bool = False, per_instance: int = EVENTS_PER_INSTANCE) -> int:
    per_group = EVENT_BUDGET // max(group_count, 1) - (BAKE_EVENTS if bake else 0)
    return max(1, per_group // per_instance)


def next_slice(
    run_id: str, offset: int, bake: bool = False, per_instance: int = EVENTS_PER_INSTANCE, pass_number: int = 0
) -> dict:
    """Instances offset .. offset+size of every group still to patch in this pass (0: the plan), and where the
    next slice of the pass starts, at per_instance history events per instance (events_per_instance), and what the
    groups' hooks add. With bake (BakeAmi), BakeFrom names a group's last planned instance in the slice that holds
    it: a group is baked once, from its plan, never from a newcomer. Last: the group's pass ends with this slice.
    Hooks: the group's, as the plan resolved them (a newcomer pass runs the plan's; a plan from before hooks, none)."""
    planned = _get(run_id, _pass_name(0))
    found = planned if pass_number == 0 else _get(run_id, _pass_name(pass_number))
    group_hooks = {g["GroupName"]: g.get("Hooks", NO_HOOKS) for g in planned["Groups"]}
    bake = bake and pass_number == 0
    remaining = [g for g in found["Groups"] if len(g["Instances"]) > offset]
    with_hooks = per_instance + max(
        (hooks.events(group_hooks.get(g["GroupName"], NO_HOOKS)) for g in remaining), default=0
    )
    size = slice_size(len(remaining), bake, with_hooks)
    groups = [
        {
            "GroupName": g["GroupName"],
            "Instances": g["Instances"][offset : offset + size],
            "BakeFrom": g["Instances"][-1] if bake and len(g["Instances"]) <= offset + size else None,
            "Last": len(g["Instances"]) <= offset + size,
            "Hooks": group_hooks.get(g["GroupName"], NO_HOOKS),
        }
        for g in remaining
    ]
    more = any(len(g["Instances"]) > offset + size for g in remaining)
    return {"Groups": groups, "Pass": pass_number, "NextOffset": offset + size if more else None}


def save_part(run_id: str, part: int, results: list) -> None:
    _put(run_id, f"results-{part:05d}.json", results)


def _keys(run_id: str, prefix: str) -> list[str]:
    paginator = client("s3").get_paginator("list_objects_v2")
    return sorted(
        item["Key"]
        for page in paginator.paginate(Bucket=_bucket(), Prefix=_key(run_id, prefix))
        for item in page.get("Contents", [])
    )


def all_results(run_id: str) -> list[dict]:
    found = []
    for key in _keys(run_id, "results-"):
        found += json.loads(client("s3").get_object(Bucket=_bucket(), Key=key)["Body"].read())
    return found


def plan(run_id: str) -> dict:
    return _get(run_id, "plan.json")


def save_summary(run_id: str, summary: dict) -> str:
    _put(run_id, "summary.json", summary)
    return report_location(run_id)


def summarize_run(
    run_id: str,
    max_errors: int,
    group_names: list[str],
    recovered: list[dict],
    bake: bool,
    late: list[dict],
    end_by: str | None = None,
) -> dict:
    """The run's summary from its plan, newcomer passes, results and stops, kept in the run's report
    (ReportLocation). late: the lines of instances that joined a group and no pass held (newcomers.left_unpatched).
    end_by: the run's window, which ended the run if the gate (or a slice) left an instance for it."""
    paused = [name for name in group_names if ledger.stop_reason(ledger.group_stop_key(run_id, name))]
    planned, *newcomer_passes = passes(run_id)
    joined = [
        {"InstanceId": i, "GroupName": g["GroupName"]}
        for p in newcomer_passes
        for g in p["Groups"]
        for i in g["Instances"]
    ]
    found = summary.summarize(
        run_id,
        max_errors,
        all_results(run_id),
        planned=planned,
        recovered=recovered,
        stop_reason=ledger.stop_reason(run_id),
        paused=paused,
        bake=bake,
        joined=joined + [s for p in newcomer_passes for s in p["Skipped"]] + late,
        window_end=end_by if end_by and window.ended(run_id) else None,
    )
    found["ReportLocation"] = save_summary(run_id, found)
    return found


def first_part(run_id: str, execution_arn: str, settings: dict, group_names: list[str]) -> dict:
    """The state of a run's first execution, from its validated settings (RunSettings.to_dict())."""
    return {
        "RunId": run_id,
        "ExecutionArn": execution_arn,
        "Part": 1,
        "Pass": 0,
        "Offset": 0,
        "PreviousExecutionArn": None,
        # One patch snapshot for the whole run, so every instance installs the same patch set.
        # Derived from the execution, so a retried invocation returns the same id.
        "SnapshotId": str(uuid.uuid5(uuid.NAMESPACE_URL, execution_arn)),
        "Settings": {**settings, "AlarmNames": settings["AlarmNames"] or []},
        "GroupNames": group_names,
        "Recovered": {"Instances": []},
    }


def next_part(continuation: dict, execution_arn: str) -> dict:
    """The state of a later execution of the run, from the continuation the previous one started it with."""
    settings = {**continuation["Settings"], "AlarmNames": continuation["Settings"].get("AlarmNames") or []}
    recovered = {"Instances": continuation["Recovered"]}
    return {"Pass": 0, **continuation, "ExecutionArn": execution_arn, "Settings": settings, "Recovered": recovered}


def continuation_name(run_id: str, part: int) -> str:
    """The next execution's name: derived from the run, so a repeated start is the same execution."""
    suffix = f"-part{part}"
    return run_id[: 80 - len(suffix)] + suffix


def start_continuation(state_machine_arn: str, continuation: dict) -> tuple[str, str]:
    """Start the execution that patches the run's next part: its name and ARN. Starting it twice starts it once:
    the name is derived from the run and the part, and Step Functions refuses a second execution of that name.
    A name taken by an execution with another input was not started by this run: ContinuationNameTaken, and the
    run does not go on as if it had continued."""
    name = continuation_name(continuation["RunId"], continuation["Part"])
    sfn, document = client("stepfunctions"), {"Continuation": continuation}
    try:
        started = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(document))
        return name, started["executionArn"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
    existing = f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
    found = sfn.describe_execution(executionArn=existing)
    if json.loads(found.get("input") or "null") != document:
        raise ContinuationNameTaken(
            f"An execution named {name} already exists with another input: it is not this run's next part, so the "
            f"run cannot continue. Whoever started it by hand, start a new run for the instances left."
        )
    return name, existing


HANDOVER_POLL_SECONDS = 1  # the previous execution ends moments after it started this one


def verify_continuation(continuation: dict, execution_arn: str, context) -> None:
    """Raise InvalidInput unless this execution is the one its run started to continue in (ContinueRun), checked
    against the previous execution itself: of this state machine, named as the run's previous part, ended
    SUCCEEDED by continuing in an execution of this one's name. Reads only: nothing is changed either way."""
    run_id, part, previous = continuation["RunId"], continuation["Part"], continuation["PreviousExecutionArn"]
    mine, theirs = _machine_and_name(execution_arn), _machine_and_name(previous)

    def refuse(why: str) -> InvalidInput:
        return InvalidInput(
            f"Continuation refused: {why}. Only a run starts its own continuation, when it outgrows one "
            "execution; to patch, start a new run (any input but Continuation). Nothing was changed."
        )

    if mine is None or theirs is None or theirs[0] != mine[0]:
        raise refuse(f"PreviousExecutionArn {previous[:200]!r} is not an execution of this state machine")
    if mine[1] != continuation_name(run_id, part):
        raise refuse(f"part {part} of run {run_id!r} is named {continuation_name(run_id, part)!r}, not {mine[1]!r}")
    expected = run_id if part == 2 else continuation_name(run_id, part - 1)
    if theirs[1] != expected:
        raise refuse(f"part {part - 1} of run {run_id!r} is named {expected!r}, not {theirs[1]!r}")
    described = {}

    def ended() -> bool:
        try:
            described.update(client("stepfunctions").describe_execution(executionArn=previous))
        except ClientError as error:
            if error.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
                raise refuse(f"there is no execution {theirs[1]!r}") from None
            raise
        return described["status"] not in ledger.LIVE

    if not polling.poll(ended, context, HANDOVER_POLL_SECONDS):
        raise refuse(f"execution {theirs[1]!r} is still running: it has not handed run {run_id!r} over")
    if described["status"] != "SUCCEEDED":
        raise refuse(f"execution {theirs[1]!r} ended {described['status']}, not by continuing in a new execution")
    try:
        output = json.loads(described.get("output") or "null")
    except ValueError:
        output = None
    handed_over = {"RunId": run_id, "Part": part - 1, "ContinuedAs": mine[1]}
    if not isinstance(output, dict) or any(output.get(key) != value for key, value in handed_over.items()):
        raise refuse(f"execution {theirs[1]!r} did not continue in this one")


def _machine_and_name(execution_arn: str) -> tuple[str, str] | None:
    """arn:<partition>:states:<region>:<account>:execution:<machine>:<name> -> (everything up to the machine, name)"""
    parts = execution_arn.split(":")
    if len(parts) != 8 or parts[0] != "arn" or parts[2] != "states" or parts[5] != "execution":
        return None
    return ":".join(parts[:7]), parts[7]


def stopped(run_id: str, max_errors: int) -> bool:
    """A gate stopped the run, or its failures went past MaxErrors: no further instance is to be touched."""
    return bool(ledger.stop_reason(run_id)) or len(ledger.failures(run_id)) > max_errors
