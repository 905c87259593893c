"""Writes statemachine/rolling_patch.asl.json, the definition template.yaml deploys.

The flow reads top to bottom in the order it runs. Each retry policy, each error route and each path taken
more than once (return to service and wait until healthy, send the patch command and read compliance) is
written once below. Change a state here, then run `make statemachine`: a unit test fails while the committed
JSON differs from what this file writes.

Run: python -m statemachine.build (or python statemachine/build.py). Standard library only."""

import json
from pathlib import Path

OUTPUT = Path(__file__).with_name("rolling_patch.asl.json")

# Every function raises these for AWS throttling and ResourceContention (autopatch.clients.named_aws_errors).
RETRY_THROTTLED = {
    "ErrorEquals": ["AwsThrottled", "ResourceContention"],
    "IntervalSeconds": 1,
    "MaxAttempts": 8,
    "BackoffRate": 2,
    "MaxDelaySeconds": 30,
    "JitterStrategy": "FULL",
}
# The transient errors of the Lambda service itself, as the Step Functions console adds them.
RETRY_LAMBDA = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ],
    "IntervalSeconds": 2,
    "MaxAttempts": 6,
    "BackoffRate": 2,
    "JitterStrategy": "FULL",
}
# exit_standby asks to be called again while the instance is still EnteringStandby.
RETRY_NOT_READY = {
    "ErrorEquals": ["InstanceNotReady"],
    "IntervalSeconds": 10,
    "MaxAttempts": 30,
    "BackoffRate": 1.5,
    "MaxDelaySeconds": 60,
}


def on_error(then: str, result_path: str = "$.Failure", errors: str = "States.ALL") -> dict:
    """A Catch: keep the error at result_path and go on at then."""
    return {"ErrorEquals": [errors], "ResultPath": result_path, "Next": then}


RELEASE_ON_ERROR = [on_error("Release the groups after an error")]


def lambda_task(
    function: str,
    payload: dict,
    then: str,
    *,
    result_path: str | None = None,
    output_path: str | None = None,
    selector: dict | None = None,
    catch: list | None = None,
    retry: tuple = (),
    **more,
) -> dict:
    """Invoke ${<function>FunctionArn} with payload, retried on throttling and Lambda errors (after any retry
    of its own). The result is kept at result_path (None: dropped, the input goes on unchanged), or, with
    output_path, replaces the state's data. more: other fields of the state (Comment, Resource, ...)."""
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        **more,
        "Parameters": {"FunctionName": f"${{{function}FunctionArn}}", "Payload": payload},
        "Retry": [*retry, RETRY_THROTTLED, RETRY_LAMBDA],
    }
    if selector:
        state["ResultSelector"] = selector
    if output_path:
        state["OutputPath"] = output_path
    else:
        state["ResultPath"] = result_path
    if catch:
        state["Catch"] = catch
    state["Next"] = then
    return state


def choice(*choices: dict, default: str, **more) -> dict:
    return {"Type": "Choice", **more, "Choices": list(choices), "Default": default}


def when_true(variable: str, then: str) -> dict:
    return {"Variable": variable, "BooleanEquals": True, "Next": then}


def poll_until(check: str, task: dict, question: str, flag: str, then: str) -> dict:
    """A check that waits inside its own invocation (autopatch.polling) and is called again until flag is
    true: cheaper in history events than Wait -> Task -> Choice."""
    return {check: task, question: choice(when_true(flag, then), default=check)}


def inline_map(states: dict) -> dict:
    """An ItemProcessor that starts at its first state."""
    return {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": next(iter(states)), "States": states}


# What most tasks of one instance pass on to their function.
THIS_INSTANCE = {"GroupName.$": "$.GroupName", "InstanceId.$": "$.InstanceId", "RunId.$": "$.Run.RunId"}
# What the tasks of the whole run pass on.
THIS_RUN = {"RunId.$": "$.RunId", "ExecutionArn.$": "$.ExecutionArn", "GroupNames.$": "$.GroupNames"}
# The preflight needs no execution: the run and its groups.
THIS_RUN_GROUPS = {key: THIS_RUN[key] for key in ("RunId.$", "GroupNames.$")}


def wait_for_instance(
    function: str,
    flag: str,
    check: str,
    question: str,
    *,
    deadline: str,
    poll_interval: str,
    result_path: str,
    catch: list,
    then: str,
) -> dict:
    """Call function (check_standby or check_health) until it says flag (InStandby or Healthy) of the instance,
    or its deadline passes (then the function raises)."""
    task = lambda_task(
        function,
        {
            "GroupName.$": "$.GroupName",
            "InstanceId.$": "$.InstanceId",
            "Deadline.$": deadline,
            "PollIntervalSeconds.$": poll_interval,
        },
        question,
        selector={f"{flag}.$": f"$.Payload.{flag}"},
        result_path=result_path,
        catch=catch,
    )
    return poll_until(check, task, question, f"{result_path}.{flag}", then)


def wait_until_healthy(check: str, question: str, **wait) -> dict:
    """Call check_health until the instance is InService and healthy in its load balancers."""
    return wait_for_instance("CheckHealth", "Healthy", check, question, **wait)


def return_to_service(
    exit_standby: str, check: str, question: str, *, result_path: str, catch: list, then: str
) -> dict:
    """Exit standby, then wait until the instance is InService and healthy; its deadline is kept at
    result_path. Any error goes to catch."""
    exit_task = lambda_task(
        "ExitStandby",
        {
            **THIS_INSTANCE,
            "LowerMinSize.$": "$.Run.Settings.LowerMinSize",
            "TimeoutSeconds.$": "$.Run.Settings.HealthTimeoutSeconds",
        },
        check,
        retry=(RETRY_NOT_READY,),
        selector={"Deadline.$": "$.Payload.Deadline"},
        result_path=result_path,
        catch=catch,
    )
    health = wait_until_healthy(
        check,
        question,
        deadline=f"{result_path}.Deadline",
        poll_interval="$.Run.Settings.PollIntervalSeconds",
        result_path="$.Check",
        catch=catch,
        then=then,
    )
    return {exit_standby: exit_task, **health}


def patch_command(send: str, did_it_succeed: str, read_compliance: str, *, operation: dict, then: str) -> dict:
    """Run AWS-RunPatchBaseline (operation: Scan or Install) and wait for its end, then read the instance's
    compliance. A command past CommandTimeoutSeconds is cancelled; any failure is a failed patch."""
    command_failed = "Patch command failed"
    send_task = lambda_task(
        "SendPatchCommand",
        {
            "InstanceId.$": "$.InstanceId",
            "RunId.$": "$.Run.RunId",
            "TaskToken.$": "$$.Task.Token",
            **operation,
            "RebootOption.$": "$.Run.Settings.RebootOption",
            "SnapshotId.$": "$.Run.SnapshotId",
            "TimeoutSeconds.$": "$.Run.Settings.CommandTimeoutSeconds",
        },
        did_it_succeed,
        Resource="arn:aws:states:::lambda:invoke.waitForTaskToken",
        Comment="Waits for the task token: command_finished (SSM's status-change event) or follow_commands (every"
        " minute) returns it when the command ends.",
        TimeoutSecondsPath="$.Run.Settings.CommandTimeoutSeconds",
        # The task token returns the command's own result, not a Lambda response.
        selector={"CommandId.$": "$.CommandId", "Status.$": "$.Status"},
        result_path="$.Command",
        catch=[
            on_error("Cancel the patch command", errors="States.Timeout"),
            on_error(command_failed),
        ],
    )
    read_task = lambda_task(
        "ReadCompliance",
        {**THIS_INSTANCE, **operation},
        then,
        selector={"Compliance.$": "$.Payload.Compliance", "Compliant.$": "$.Payload.Compliant"},
        result_path="$.Compliance",
        catch=[on_error(command_failed)],
    )
    status = choice(
        {"Variable": "$.Command.Status", "StringEquals": "Success", "Next": read_compliance},
        default="Patch reported failure",
    )
    return {send: send_task, did_it_succeed: status, read_compliance: read_task}


def tag_instance(value: str, then: str, catch: list, **failure: str) -> dict:
    """Tag the instance with value; failure adds payload keys read from paths: GroupName (Completed: the ledger
    keeps how long the group's instance took; Failed: checked for a gone instance), and Step, Error and Cause of a
    failure, which the ledger keeps."""
    return lambda_task(
        "TagInstance",
        {
            "InstanceId.$": "$.InstanceId",
            "Value": value,
            "RunId.$": "$.Run.RunId",
            **{f"{key}.$": path for key, path in failure.items()},
        },
        then,
        catch=catch,
    )


def result_line(result: str, **fields) -> dict:
    """The instance's line in the run's results: its group, id and result, these fields, and its bake."""
    return {
        "Type": "Pass",
        "Parameters": {
            "GroupName.$": "$.GroupName",
            "InstanceId.$": "$.InstanceId",
            "Result": result,
            **fields,
            "Bake.$": "$.Bake.Result",
        },
        "End": True,
    }


def record(result: str, **failure: str) -> dict:
    """The line of an instance the run reached, with its command and compliance; failure adds Step and Error."""
    return result_line(
        result,
        **{"CommandId.$": "$.Command.CommandId", "Compliance.$": "$.Compliance.Compliance"},
        **{f"{key}.$": path for key, path in failure.items()},
    )


def untouched(result: str) -> dict:
    """The line of an instance the run did not touch: NotStarted, or Gone."""
    return result_line(result, CommandId=None)


def failed_step(step: str) -> dict:
    """Name the step that failed, for the alert and the results."""
    return {"Type": "Pass", "Result": step, "ResultPath": "$.Failure.Step", "Next": "Was the instance being patched?"}


def fail_with(error: str, cause: str) -> dict:
    """Put a failure the functions did not raise in the shape of a caught error."""
    return {
        "Type": "Pass",
        "Parameters": {"Error": error, "Cause.$": cause},
        "ResultPath": "$.Failure",
        "Next": "Patch command failed",
    }


def note_returned(returned: bool) -> dict:
    return {
        "Type": "Pass",
        "Result": {"ReturnedToService": returned},
        "ResultPath": "$.Recovery",
        "Next": "Send failure alert",
    }


def definition() -> dict:
    return {
        "Comment": "Rolling OS patching of EC2 Auto Scaling groups: one instance at a time per group, with standby,"
        " AWS-RunPatchBaseline and health checks. A run larger than one execution's history continues itself in a"
        " new execution (named <run>-partN).",
        "StartAt": "Validate input and find groups",
        "States": run(),
    }


def check_the_fleet(then: str, dry_run: dict | None = None, catch: list | None = None) -> dict:
    """The preflight and the plan with its forecast (check_fleet); a dry run's adds DryRun and BakeAmi and reports
    instead."""
    return lambda_task(
        "CheckFleet",
        {
            **THIS_RUN_GROUPS,
            **(dry_run or {}),
            "LowerMinSize.$": "$.Settings.LowerMinSize",
            "KeepCapacity.$": "$.Settings.KeepCapacity",
            "OfflineInstances.$": "$.Settings.OfflineInstances",
            "SkipPatchedWithinHours.$": "$.Settings.SkipPatchedWithinHours",
            "EndBy.$": "$.Settings.EndBy",
            "GroupConcurrency.$": "$.Settings.GroupConcurrency",
            "Hooks.$": "$.Settings.Hooks",
        },
        then,
        selector={
            "Groups.$": "$.Payload.Groups",
            "Skipped.$": "$.Payload.Skipped",
            "Forecast.$": "$.Payload.Forecast",
            **({"Version.$": "$.Payload.Version"} if dry_run else {}),
        },
        result_path="$.Plan",
        catch=catch,
    )


def run() -> dict:
    """The run: validate, hold the groups, patch one slice of the plan, then continue or summarize."""
    return {
        "Validate input and find groups": lambda_task(
            "ValidateInput",
            {
                "Input.$": "$$.Execution.Input",
                "ExecutionName.$": "$$.Execution.Name",
                "ExecutionArn.$": "$$.Execution.Id",
            },
            "Dry run?",
            output_path="$.Payload",
        ),
        "Dry run?": choice(
            {"Variable": "$.Settings.DryRun", "BooleanEquals": True, "Next": "Check the fleet (dry run)"},
            {"Variable": "$.Part", "NumericGreaterThan": 1, "Next": "Hold the groups again"},
            default="Hold the groups",
        ),
        "Check the fleet (dry run)": check_the_fleet(
            "Report the plan", {"DryRun": True, "BakeAmi.$": "$.Settings.BakeAmi"}
        ),
        "Report the plan": {
            "Type": "Pass",
            "Parameters": {
                "RunId.$": "$.RunId",
                "DryRun": True,
                "Status": "Succeeded",
                "Version.$": "$.Plan.Version",
                "Message": "Dry run: no live run holds the groups and every preflight check passed. Nothing was"
                " changed. The plan lists, per group, the instances a run would patch, in order, what it would first"
                " return to service for a run that died (Recover) and that run's hold it would take over"
                " (TakeOverHoldOf). The forecast says how long the run would take and, with a window, which"
                " instances fit and which would be left; its estimate says when it is a default.",
                "Plan.$": "$.Plan",
            },
            "End": True,
        },
        "Hold the groups": lambda_task("LockGroups", THIS_RUN, "Check the fleet"),
        # Part 2 and later of a run: take the locks over from the execution that continued here.
        "Hold the groups again": lambda_task(
            "LockGroups",
            {**THIS_RUN, "PreviousExecutionArn.$": "$.PreviousExecutionArn"},
            "Take the next slice",
            catch=RELEASE_ON_ERROR,
        ),
        # Before any change: each group judged as it will be once what a dead run left is recovered.
        "Check the fleet": check_the_fleet("Recover what a dead run left", catch=RELEASE_ON_ERROR),
        "Recover what a dead run left": lambda_task(
            "RecoverGroups",
            {**THIS_RUN, "HealthTimeoutSeconds.$": "$.Settings.HealthTimeoutSeconds"},
            "Wait for recovered instances",
            selector={"Instances.$": "$.Payload.Recovered"},
            result_path="$.Recovered",
            catch=RELEASE_ON_ERROR,
        ),
        "Wait for recovered instances": {
            "Type": "Map",
            "ItemsPath": "$.Recovered.Instances",
            "ItemSelector": {
                "InstanceId.$": "$$.Map.Item.Value.InstanceId",
                "GroupName.$": "$$.Map.Item.Value.GroupName",
                "Deadline.$": "$$.Map.Item.Value.Deadline",
                "PollIntervalSeconds.$": "$.Settings.PollIntervalSeconds",
            },
            "ItemProcessor": inline_map(wait_for_one_recovered()),
            "ResultPath": None,
            "Catch": RELEASE_ON_ERROR,
            "Next": "Take the next slice",
        },
        # A slice is the share of the plan one execution patches; the rest continues in a new execution.
        "Take the next slice": plan_slice(
            {"Pass.$": "$.Pass", "Offset.$": "$.Offset"},
            "Patch groups",
            selector={
                "Groups.$": "$.Payload.Groups",
                "Pass.$": "$.Payload.Pass",
                "NextOffset.$": "$.Payload.NextOffset",
            },
        ),
        "Patch groups": {
            "Type": "Map",
            "ItemsPath": "$.Slice.Groups",
            "MaxConcurrencyPath": "$.Settings.GroupConcurrency",
            "ItemSelector": {
                "Group.$": "$$.Map.Item.Value",
                "Run": {
                    "RunId.$": "$.RunId",
                    "ExecutionArn.$": "$.ExecutionArn",
                    "SnapshotId.$": "$.SnapshotId",
                    "Settings.$": "$.Settings",
                },
            },
            "ItemProcessor": inline_map(patch_one_group()),
            "ResultPath": "$.Results",
            "Catch": RELEASE_ON_ERROR,
            "Next": "Record the results",
        },
        "Record the results": lambda_task(
            "RecordResults",
            {
                "RunId.$": "$.RunId",
                "Part.$": "$.Part",
                "Results.$": "$.Results",
                "MaxErrors.$": "$.Settings.MaxErrors",
            },
            "More instances to patch?",
            selector={"Stopped.$": "$.Payload.Stopped"},
            result_path="$.Recorded",
            catch=RELEASE_ON_ERROR,
        ),
        "More instances to patch?": choice(
            when_true("$.Recorded.Stopped", "Release the groups"),
            {"Variable": "$.Slice.NextOffset", "IsNull": False, "Next": "Continue in a new execution"},
            default="Look for newcomers",
        ),
        # The pass (the plan, or a newcomer pass) has ended: the instances that joined a group meanwhile make the
        # next pass, patched by a new execution; none (or NEWCOMER_PASSES passes done): the run ends.
        "Look for newcomers": plan_slice(
            {"Pass.$": "$.Slice.Pass", "Offset": 0, "FindNewcomers": True},
            "Newcomers to patch?",
            selector={"Pass.$": "$.Payload.Pass", "NextOffset.$": "$.Payload.NextOffset"},
        ),
        "Newcomers to patch?": choice(
            {"Variable": "$.Slice.NextOffset", "IsNull": False, "Next": "Continue in a new execution"},
            default="Release the groups",
        ),
        "Continue in a new execution": lambda_task(
            "ContinueRun",
            {
                **THIS_RUN,
                "Part.$": "$.Part",
                "SnapshotId.$": "$.SnapshotId",
                "Settings.$": "$.Settings",
                "Recovered.$": "$.Recovered.Instances",
                "Pass.$": "$.Slice.Pass",
                "Offset.$": "$.Slice.NextOffset",
                "StateMachineArn.$": "$$.StateMachine.Id",
            },
            "Continued in a new execution",
            selector={"ContinuedAs.$": "$.Payload.ContinuedAs"},
            result_path="$.Continued",
            catch=RELEASE_ON_ERROR,
        ),
        "Continued in a new execution": {
            "Type": "Pass",
            "Parameters": {
                "RunId.$": "$.RunId",
                "Part.$": "$.Part",
                "ContinuedAs.$": "$.Continued.ContinuedAs",
                "Message.$": "States.Format('This execution patched its share of run {}; the run continues in"
                " execution {}.', $.RunId, $.Continued.ContinuedAs)",
            },
            "End": True,
        },
        # The summary is written even when a lock could not be released.
        "Release the groups": lambda_task(
            "ReleaseLocks", THIS_RUN, "Summarize run", catch=[on_error("Summarize run", "$.ReleaseError")]
        ),
        "Summarize run": lambda_task(
            "SummarizeRun",
            {
                **THIS_RUN,
                "MaxErrors.$": "$.Settings.MaxErrors",
                "Recovered.$": "$.Recovered.Instances",
                "BakeAmi.$": "$.Settings.BakeAmi",
                "EndBy.$": "$.Settings.EndBy",
            },
            "Did every instance patch?",
            output_path="$.Payload",
        ),
        "Did every instance patch?": choice(
            {"Variable": "$.Status", "StringEquals": "Succeeded", "Next": "Run succeeded"},
            # the window closed: what was not started is left for the next run, nothing failed
            {"Variable": "$.Status", "StringEquals": "WindowEnded", "Next": "Run succeeded"},
            {"Variable": "$.Status", "StringEquals": "Stopped", "Next": "Run stopped"},
            default="Run failed",
        ),
        "Run succeeded": {"Type": "Succeed"},
        "Run stopped": {"Type": "Fail", "Error": "RunStopped", "CausePath": "States.JsonToString($)"},
        "Run failed": {"Type": "Fail", "Error": "PatchingFailed", "CausePath": "States.JsonToString($)"},
        # An error outside one instance's patching: release the locks, then fail with that error.
        "Release the groups after an error": lambda_task(
            "ReleaseLocks",
            THIS_RUN,
            "Run ended on an error",
            catch=[on_error("Run ended on an error", "$.ReleaseError")],
        ),
        "Run ended on an error": {"Type": "Fail", "ErrorPath": "$.Failure.Error", "CausePath": "$.Failure.Cause"},
    }


def plan_slice(position: dict, then: str, selector: dict) -> dict:
    """PlanSlice at position (Pass and Offset; with FindNewcomers, the pass that ended), its result at $.Slice."""
    return lambda_task(
        "PlanSlice",
        {
            "RunId.$": "$.RunId",
            **position,
            "MaxErrors.$": "$.Settings.MaxErrors",
            "BakeAmi.$": "$.Settings.BakeAmi",
            "StandbyTimeoutSeconds.$": "$.Settings.StandbyTimeoutSeconds",
            "DrainTimeoutSeconds.$": "$.Settings.DrainTimeoutSeconds",
            "HealthTimeoutSeconds.$": "$.Settings.HealthTimeoutSeconds",
            "EndBy.$": "$.Settings.EndBy",
        },
        then,
        selector=selector,
        result_path="$.Slice",
        catch=RELEASE_ON_ERROR,
    )


def wait_for_one_recovered() -> dict:
    """An instance a dead run left out of service, that recover_groups returned to service: wait until healthy.
    One not healthy in time ends the run (HealthCheckTimedOut naming it) before any instance is taken out."""
    return {
        **wait_until_healthy(
            "Check the recovered instance",
            "Is the recovered instance healthy?",
            deadline="$.Deadline",
            poll_interval="$.PollIntervalSeconds",
            result_path="$.HealthCheck",
            catch=[],
            then="Recovered instance is healthy",
        ),
        "Recovered instance is healthy": {"Type": "Succeed"},
    }


def patch_one_group() -> dict:
    """One group: its instances one at a time, each starting with no command, recovery, compliance, bake or
    addition; then, with KeepCapacity, the instance added for the group goes."""
    return {
        "Patch instances one at a time": {
            "Type": "Map",
            "ItemsPath": "$.Group.Instances",
            "MaxConcurrency": 1,
            "ItemSelector": {
                "InstanceId.$": "$$.Map.Item.Value",
                "GroupName.$": "$.Group.GroupName",
                "Run.$": "$.Run",
                "Command": {"CommandId": None},
                "Recovery": {"ReturnedToService": None},
                "Compliance": {"Compliance": None},
                "Bake": {"From.$": "$.Group.BakeFrom", "Result": {"Status": None, "ImageId": None}},
                "Budget": {"Deadline": None},
                "Added": {"Deadline": None},
                "Hooks.$": "$.Group.Hooks",
                "HookRuns": {phase: {"Deadline": None} for phase in HOOK_PHASES},
            },
            "ItemProcessor": inline_map(patch_one_instance()),
            "ResultPath": "$.Results",
            "Next": "Done with the group?",
        },
        # KeepCapacity: the group's pass is done (its last slice) once this Map ends: one instance goes.
        "Done with the group?": choice(
            {
                "And": [
                    {"Variable": "$.Run.Settings.KeepCapacity", "BooleanEquals": True},
                    {"Variable": "$.Group.Last", "BooleanEquals": True},
                ],
                "Next": "Give back the added instance",
            },
            default="The group's results",
        ),
        # A failure here leaves the addition in the ledger: the run gives it back when it lets go of the group.
        "Give back the added instance": lambda_task(
            "KeepCapacity",
            {"Action": "Remove", "GroupName.$": "$.Group.GroupName", "RunId.$": "$.Run.RunId"},
            "The group's results",
            catch=[on_error("The group's results", "$.GiveBackError")],
        ),
        "The group's results": {"Type": "Pass", "OutputPath": "$.Results", "End": True},
    }


def patch_one_instance() -> dict:
    """One instance of a group, from the safety check to its line in the run's results."""
    bake_failed = [on_error("Bake failed", "$.Bake.Failure")]
    take_out_failed = [on_error("Taking out of service failed")]
    # What the gate checks, before an instance and at the end of a soak after one.
    gate = {
        **THIS_INSTANCE,
        "ExecutionArn.$": "$.Run.ExecutionArn",
        "MaxErrors.$": "$.Run.Settings.MaxErrors",
        "AlarmNames.$": "$.Run.Settings.AlarmNames",
        "HealthTimeoutSeconds.$": "$.Run.Settings.HealthTimeoutSeconds",
        "PollIntervalSeconds.$": "$.Run.Settings.PollIntervalSeconds",
    }
    return {
        "Check it is safe to go on": lambda_task(
            "CheckSafeToContinue",
            {**gate, "Deadline.$": "$.Budget.Deadline", "EndBy.$": "$.Run.Settings.EndBy"},
            "Is it safe to go on?",
            Comment="Waits within its invocation while another instance (or this one, a newcomer) is launching or"
            " terminating; says Wait, with the deadline of that wait, when its time is nearly spent.",
            selector={
                "Proceed.$": "$.Payload.Proceed",
                "Gone.$": "$.Payload.Gone",
                "Wait.$": "$.Payload.Wait",
                "Deadline.$": "$.Payload.Deadline",
            },
            result_path="$.Budget",
            catch=[on_error("The gate failed")],
        ),
        # A gate that cannot answer stops the run as a gate would: this instance and the rest are left untouched,
        # and no other group takes its next instance out (one out of service now finishes first).
        "The gate failed": lambda_task(
            "SendAlert",
            {
                "Kind": "gate-failed",
                **THIS_INSTANCE,
                "ExecutionArn.$": "$.Run.ExecutionArn",
                "Step": "Check it is safe to go on",
                "Error.$": "$.Failure.Error",
                "Cause.$": "$.Failure.Cause",
            },
            "Leave instance untouched",
            catch=[on_error("Leave instance untouched", "$.AlertError")],
        ),
        "Is it safe to go on?": choice(
            when_true("$.Budget.Wait", "Check it is safe to go on"),
            {"Variable": "$.Budget.Gone", "BooleanEquals": True, "Next": "Instance left the group"},
            {"Variable": "$.Budget.Proceed", "BooleanEquals": False, "Next": "Leave instance untouched"},
            {"Variable": "$.Run.Settings.Operation", "StringEquals": "Scan", "Next": "Run patch baseline"},
            {"Variable": "$.Run.Settings.SkipCompliant", "BooleanEquals": True, "Next": "Scan before patching"},
            default="Keep capacity?",
        ),
        "Leave instance untouched": untouched("NotStarted"),
        # A scale-in, a Spot interruption or a replacement took it before its turn: not a failure.
        "Instance left the group": untouched("Gone"),
        # SkipCompliant: an instance that a scan finds compliant stays in service, untouched.
        **patch_command(
            "Scan before patching",
            "Did the scan succeed?",
            "Read compliance before patching",
            operation={"Operation": "Scan"},
            then="Already compliant?",
        ),
        "Already compliant?": choice(
            when_true("$.Compliance.Compliant", "Record already compliant"), default="Keep capacity?"
        ),
        "Record already compliant": record("Skipped"),
        # KeepCapacity: the group gets one instance more, healthy, before its first instance leaves service (once
        # per run: for the group's next instances it is there already).
        "Keep capacity?": choice(
            when_true("$.Run.Settings.KeepCapacity", "Add an instance first"), default="Any hook before standby?"
        ),
        "Add an instance first": lambda_task(
            "KeepCapacity",
            {
                "Action": "Add",
                **THIS_INSTANCE,
                "Deadline.$": "$.Added.Deadline",
                "HealthTimeoutSeconds.$": "$.Run.Settings.HealthTimeoutSeconds",
                "PollIntervalSeconds.$": "$.Run.Settings.PollIntervalSeconds",
            },
            "Is the added instance healthy?",
            Comment="Waits within its invocation until the added instance is InService and healthy; says Ready false,"
            " with the deadline of that wait, when its time is nearly spent.",
            selector={
                "Ready.$": "$.Payload.Ready",
                "Deadline.$": "$.Payload.Deadline",
                "InstanceId.$": "$.Payload.InstanceId",
            },
            result_path="$.Added",
            catch=[on_error("Refuse the group")],
        ),
        "Is the added instance healthy?": choice(
            when_true("$.Added.Ready", "Any hook before standby?"), default="Add an instance first"
        ),
        # Not healthy in time (or not added): the group stops as a gate would stop it, this instance and the rest
        # left untouched, and the addition is given back.
        "Refuse the group": lambda_task(
            "KeepCapacity",
            {
                "Action": "Refuse",
                **THIS_INSTANCE,
                "ExecutionArn.$": "$.Run.ExecutionArn",
                "Error.$": "$.Failure.Error",
                "Cause.$": "$.Failure.Cause",
            },
            "Leave instance untouched",
            catch=[on_error("Leave instance untouched", "$.RefuseError")],
        ),
        # The application's own step before it leaves service; a failure leaves it in service, untouched.
        **hook("BeforeStandby", "before-standby", then="Mark patch in progress"),
        # Take the instance out of service.
        "Mark patch in progress": tag_instance("InProgress", "Enter standby", take_out_failed),
        "Enter standby": lambda_task(
            "EnterStandby",
            {
                **THIS_INSTANCE,
                "LowerMinSize.$": "$.Run.Settings.LowerMinSize",
                "TimeoutSeconds.$": "$.Run.Settings.StandbyTimeoutSeconds",
                "DrainTimeoutSeconds.$": "$.Run.Settings.DrainTimeoutSeconds",
            },
            "Wait until in standby",
            Comment="An ECS container instance is set DRAINING first; the wait for Standby also waits (up to"
            " DrainTimeoutSeconds) until its service tasks have left.",
            selector={"Deadline.$": "$.Payload.Deadline"},
            result_path="$.Standby",
            catch=take_out_failed,
        ),
        **wait_for_instance(
            "CheckStandby",
            "InStandby",
            "Wait until in standby",
            "Is instance in standby?",
            deadline="$.Standby.Deadline",
            poll_interval="$.Run.Settings.PollIntervalSeconds",
            result_path="$.Check",
            catch=take_out_failed,
            then="Run patch baseline",
        ),
        # Patch (or, with Operation Scan, only scan: the instance stays in service).
        **patch_command(
            "Run patch baseline",
            "Did the patch succeed?",
            "Read compliance",
            operation={"Operation.$": "$.Run.Settings.Operation"},
            then="Scan only, or bake an image first?",
        ),
        "Scan only, or bake an image first?": choice(
            {"Variable": "$.Run.Settings.Operation", "StringEquals": "Scan", "Next": "Record success"},
            {
                "And": [
                    {"Variable": "$.Bake.From", "IsString": True},
                    {"Variable": "$.Bake.From", "StringEqualsPath": "$.InstanceId"},
                ],
                "Next": "Create an image",
            },
            default="Return to service",
            Comment="BakeAmi: the group's last instance, patched and still in Standby, is imaged first",
        ),
        # BakeAmi: image the patched instance and point the group's launch template at the image.
        "Create an image": lambda_task(
            "CreateImage",
            {**THIS_INSTANCE, "TimeoutSeconds.$": "$.Run.Settings.BakeTimeoutSeconds"},
            "Can the group be baked?",
            selector={
                "Status.$": "$.Payload.Status",
                "Reason.$": "$.Payload.Reason",
                "ImageId.$": "$.Payload.ImageId",
                "Deadline.$": "$.Payload.Deadline",
            },
            result_path="$.Bake.Result",
            catch=bake_failed,
        ),
        "Can the group be baked?": choice(
            {
                "Variable": "$.Bake.Result.Status",
                "StringEquals": "Creating",
                "Next": "Wait until the image is available",
            },
            default="Return to service",
        ),
        **poll_until(
            "Wait until the image is available",
            lambda_task(
                "CheckImage",
                {"ImageId.$": "$.Bake.Result.ImageId", "Deadline.$": "$.Bake.Result.Deadline"},
                "Is the image available?",
                selector={"Available.$": "$.Payload.Available"},
                result_path="$.Bake.Check",
                catch=bake_failed,
            ),
            "Is the image available?",
            "$.Bake.Check.Available",
            then="Point the group at the new image",
        ),
        "Point the group at the new image": lambda_task(
            "UseImage",
            {
                "GroupName.$": "$.GroupName",
                "ImageId.$": "$.Bake.Result.ImageId",
                "RunId.$": "$.Run.RunId",
                "KeepAmis.$": "$.Run.Settings.KeepAmis",
            },
            "Return to service",
            selector={
                "Status.$": "$.Payload.Status",
                "ImageId.$": "$.Payload.ImageId",
                "LaunchTemplateId.$": "$.Payload.LaunchTemplateId",
                "Version.$": "$.Payload.Version",
                "Deregistered.$": "$.Payload.Deregistered",
                "NotDeregistered.$": "$.Payload.NotDeregistered",
            },
            result_path="$.Bake.Result",
            catch=bake_failed,
        ),
        "Bake failed": {
            "Type": "Pass",
            "Comment": "The patching succeeded: the launch template is unchanged and the instance goes back to service",
            "Parameters": {
                "Status": "Failed",
                "ImageId.$": "$.Bake.Result.ImageId",
                "Error.$": "$.Bake.Failure.Error",
                "Cause.$": "$.Bake.Failure.Cause",
            },
            "ResultPath": "$.Bake.Result",
            "Next": "Send bake failure alert",
        },
        "Send bake failure alert": lambda_task(
            "SendAlert",
            {
                "Kind": "bake-failed",
                "GroupName.$": "$.GroupName",
                "InstanceId.$": "$.InstanceId",
                "RunId.$": "$.Run.RunId",
                "ExecutionArn.$": "$.Run.ExecutionArn",
                "Step": "Bake the image",
                "Error.$": "$.Bake.Result.Error",
                "Cause.$": "$.Bake.Result.Cause",
                "ImageId.$": "$.Bake.Result.ImageId",
            },
            "Return to service",
            catch=[on_error("Return to service", "$.Bake.AlertError")],
        ),
        # Back to service: the patched instance's way to success.
        **return_to_service(
            "Return to service",
            "Wait until healthy",
            "Is instance healthy?",
            result_path="$.Return",
            catch=[on_error("Returning to service failed")],
            then="Any hook after healthy?",
        ),
        # The application's own check once the instance serves again; a failure fails the patched instance.
        **hook("AfterHealthy", "after-healthy", then="Mark patch completed"),
        "Mark patch completed": tag_instance(
            "Completed", "Soak?", [on_error("Returning to service failed")], GroupName="$.GroupName"
        ),
        **soak(gate),
        "Record success": record("Completed"),
        # Failures: name the step, tag the instance Failed, return it to service if possible, alert.
        "Patch reported failure": fail_with(
            "PatchCommandFailed",
            "States.Format('AWS-RunPatchBaseline ended {} on {}; command {}.',"
            " $.Command.Status, $.InstanceId, $.Command.CommandId)",
        ),
        "Cancel the patch command": lambda_task(
            "CancelPatchCommand",
            {"InstanceId.$": "$.InstanceId"},
            "Patch timed out",
            selector={"CommandId.$": "$.Payload.CommandId", "Status": "TimedOut"},
            result_path="$.Command",
            catch=[on_error("Patch timed out", "$.CancelError")],
        ),
        "Patch timed out": fail_with(
            "PatchTimedOut",
            "States.Format('AWS-RunPatchBaseline did not end within CommandTimeoutSeconds={} on {};"
            " command {} was cancelled.', $.Run.Settings.CommandTimeoutSeconds, $.InstanceId, $.Command.CommandId)",
        ),
        "Taking out of service failed": failed_step("Take out of service"),
        "Patch command failed": failed_step("Patch"),
        "Returning to service failed": failed_step("Return to service"),
        # A scan never took the instance out of service: nothing to tag or return.
        "Was the instance being patched?": choice(
            {"Variable": "$.Run.Settings.Operation", "StringEquals": "Scan", "Next": "Send failure alert"},
            default="Mark instance failed",
        ),
        # An instance gone from its group (InstanceGone) failed nothing: it is not tagged Failed nor counted.
        "Mark instance failed": tag_instance(
            "Failed",
            "Return failed instance to service",
            [
                on_error("Give back its capacity", "$.Gone", errors="InstanceGone"),
                on_error("Return failed instance to service", "$.TagError"),
            ],
            GroupName="$.GroupName",
            Step="$.Failure.Step",
            Error="$.Failure.Error",
            Cause="$.Failure.Cause",
        ),
        **return_to_service(
            "Return failed instance to service",
            "Wait until the failed instance is healthy",
            "Is the failed instance healthy?",
            result_path="$.Recovery",
            catch=[on_error("Could not return to service", "$.RecoveryError")],
            then="Note instance back in service",
        ),
        "Note instance back in service": note_returned(True),
        "Could not return to service": note_returned(False),
        "Send failure alert": lambda_task(
            "SendAlert",
            {
                "GroupName.$": "$.GroupName",
                "InstanceId.$": "$.InstanceId",
                "RunId.$": "$.Run.RunId",
                "ExecutionArn.$": "$.Run.ExecutionArn",
                "Step.$": "$.Failure.Step",
                "Error.$": "$.Failure.Error",
                "Cause.$": "$.Failure.Cause",
                "CommandId.$": "$.Command.CommandId",
                "ReturnedToService.$": "$.Recovery.ReturnedToService",
            },
            "Record failure",
            catch=[on_error("Record failure", "$.AlertError")],
        ),
        "Record failure": record("Failed", Step="$.Failure.Step", Error="$.Failure.Error"),
        # Gone while out of service (a Spot interruption, a replacement, a person): the group gets back the capacity
        # its standby took, a person is told, and the run goes on.
        "Give back its capacity": lambda_task(
            "ExitStandby",
            {
                **THIS_INSTANCE,
                "Gone": True,
                "LowerMinSize.$": "$.Run.Settings.LowerMinSize",
                "TimeoutSeconds.$": "$.Run.Settings.HealthTimeoutSeconds",
            },
            "Send gone alert",
            retry=(RETRY_NOT_READY,),
            selector={"Done.$": "$.Payload.Capacity"},
            result_path="$.Capacity",
            catch=[on_error("Send gone alert", "$.Capacity")],
        ),
        "Send gone alert": lambda_task(
            "SendAlert",
            {
                "Kind": "instance-gone",
                **THIS_INSTANCE,
                "ExecutionArn.$": "$.Run.ExecutionArn",
                "Step.$": "$.Failure.Step",
                "Error.$": "$.Failure.Error",
                "Cause.$": "$.Gone.Cause",
                "CommandId.$": "$.Command.CommandId",
                "Capacity.$": "$.Capacity",
            },
            "Record gone",
            catch=[on_error("Record gone", "$.AlertError")],
        ),
        "Record gone": result_line("Gone", **{"Step.$": "$.Failure.Step", "CommandId.$": "$.Command.CommandId"}),
    }


HOOK_PHASES = ("BeforeStandby", "AfterHealthy")  # autopatch.hooks.PHASES


def hook(phase: str, label: str, then: str) -> dict:
    """The group's hook of this phase (autopatch.hooks; Kind None: straight to then). A function is called by the
    state machine itself, bounded by the hook's TimeoutSeconds; a document is sent to the instance and followed
    by run_hook, called again until it ends. Any failure, a timeout included, is HookFailed: the instance goes the
    failure path, with the hook's error and output in the cause."""
    spec, runs = f"$.Hooks.{phase}", f"$.HookRuns.{phase}"
    words = label.replace("-", " ")
    ask, call, send, ended = (
        f"Any hook {words}?",
        f"Call the {label} function",
        f"Run the {label} document",
        f"Has the {label} document ended?",
    )
    failed, timed_out = f"The {label} hook failed", f"The {label} function timed out"
    step = f"{words.capitalize()} hook"

    def hook_failed(cause: str) -> dict:
        """The failure, whatever the hook's own error, as HookFailed of this step, on the failure path."""
        return {
            "Type": "Pass",
            "Parameters": {"Error": "HookFailed", "Step": step, "Cause.$": cause},
            "ResultPath": "$.Failure",
            "Next": "Was the instance being patched?",
        }

    return {
        ask: choice(
            {"Variable": f"{spec}.Kind", "StringEquals": "Function", "Next": call},
            {"Variable": f"{spec}.Kind", "StringEquals": "Document", "Next": send},
            default=then,
        ),
        call: {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Comment": "A function of the stack's HookFunctionArns: it fails the hook by raising an error.",
            "Parameters": {
                "FunctionName.$": f"{spec}.Name",
                "Payload": {
                    "Hook": phase,
                    "RunId.$": "$.Run.RunId",
                    "ExecutionArn.$": "$.Run.ExecutionArn",
                    "GroupName.$": "$.GroupName",
                    "InstanceId.$": "$.InstanceId",
                },
            },
            "TimeoutSecondsPath": f"{spec}.TimeoutSeconds",
            "Retry": [RETRY_LAMBDA],
            "ResultPath": None,
            "Catch": [on_error(timed_out, errors="States.Timeout"), on_error(failed)],
            "Next": then,
        },
        send: lambda_task(
            "RunHook",
            {
                "Phase": phase,
                "Hook.$": spec,
                "GroupName.$": "$.GroupName",
                "InstanceId.$": "$.InstanceId",
                "RunId.$": "$.Run.RunId",
                "Deadline.$": f"{runs}.Deadline",
                "PollIntervalSeconds.$": "$.Run.Settings.PollIntervalSeconds",
            },
            ended,
            Comment="Follows the document within its invocation; says Done false, with the hook's deadline, when its"
            " time is nearly spent.",
            selector={"Done.$": "$.Payload.Done", "Deadline.$": "$.Payload.Deadline"},
            result_path=runs,
            catch=[on_error(failed)],
        ),
        ended: choice(when_true(f"{runs}.Done", then), default=send),
        timed_out: hook_failed(
            f"States.Format('The {phase} hook, function {{}}, did not end on {{}} within TimeoutSeconds={{}}.',"
            f" {spec}.Name, $.InstanceId, {spec}.TimeoutSeconds)"
        ),
        failed: hook_failed(
            f"States.Format('The {phase} hook, {{}} {{}}, failed on {{}}: {{}}: {{}}', {spec}.Kind, {spec}.Name,"
            " $.InstanceId, $.Failure.Error, $.Failure.Cause)"
        ),
    }


def soak(gate: dict) -> dict:
    """SoakSeconds (CanarySoakSeconds for the run's first patched instance): a Wait state after the instance is
    healthy, then the gate's checks, this instance's health among them. A problem stops the run as the gate
    stops it (one alert), so the next instance stays in service; this one's patch stands."""
    return {
        "Soak?": choice(
            {
                "And": [
                    {"Variable": "$.Run.Settings.SoakSeconds", "NumericEquals": 0},
                    {"Variable": "$.Run.Settings.CanarySoakSeconds", "NumericEquals": 0},
                ],
                "Next": "Record success",
            },
            default="How long to soak",
        ),
        "How long to soak": lambda_task(
            "CheckSafeToContinue",
            {
                **gate,
                "Soak": "Start",
                "SoakSeconds.$": "$.Run.Settings.SoakSeconds",
                "CanarySoakSeconds.$": "$.Run.Settings.CanarySoakSeconds",
            },
            "Soak or go on?",
            selector={"Seconds.$": "$.Payload.Seconds", "Deadline": None},
            result_path="$.Soak",
            catch=[on_error("The soak check failed")],
        ),
        "Soak or go on?": choice(
            {"Variable": "$.Soak.Seconds", "NumericGreaterThan": 0, "Next": "Soak"}, default="Record success"
        ),
        "Soak": {
            "Type": "Wait",
            "Comment": "Time to watch the alarms and targets before the next instance leaves service: a Wait state"
            " costs one transition, not Lambda time.",
            "SecondsPath": "$.Soak.Seconds",
            "Next": "Check after the soak",
        },
        "Check after the soak": lambda_task(
            "CheckSafeToContinue",
            {**gate, "Soak": "Check", "Deadline.$": "$.Soak.Deadline"},
            "Is the soak over?",
            selector={"Wait.$": "$.Payload.Wait", "Deadline.$": "$.Payload.Deadline"},
            result_path="$.Soak",
            catch=[on_error("The soak check failed")],
        ),
        # Proceed or not, this instance is patched: a stop is in the ledger, and the next gate heeds it.
        "Is the soak over?": choice(when_true("$.Soak.Wait", "Check after the soak"), default="Record success"),
        "The soak check failed": lambda_task(
            "SendAlert",
            {
                "Kind": "gate-failed",
                **THIS_INSTANCE,
                "ExecutionArn.$": "$.Run.ExecutionArn",
                "Step": "Soak",
                "Error.$": "$.Failure.Error",
                "Cause.$": "$.Failure.Cause",
            },
            "Record success",
            catch=[on_error("Record success", "$.AlertError")],
        ),
    }


def render() -> str:
    return json.dumps(definition(), indent=2) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render())
