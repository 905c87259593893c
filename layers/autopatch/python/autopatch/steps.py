"""The typed event of every function: what the state machine (or EventBridge, or SNS) passes it, checked.

Each field names its payload key and its validator (autopatch.event); fields are read in the order they are
declared, so the first bad one is the one named. A rule between fields is in __post_init__.
"""

from dataclasses import dataclass
from typing import cast

from . import NEWCOMER_PASSES, hooks
from .errors import InvalidInput
from .event import arn, field, group_name, group_names, image_id, instance_id, names, objects
from .run_input import (
    ALARM_NAME_MAX,
    MAX_KEEP_AMIS,
    MAX_SOAK_SECONDS,
    OPERATIONS,
    REBOOT_OPTIONS,
    RunSettings,
    end_by_time,
    parse_continuation_settings,
)
from .step import StepEvent, payload

RECOVERED_FIELDS = ("InstanceId", "GroupName")
RESULT_FIELDS = ("InstanceId", "GroupName", "Result")
SOAK_STEPS = ("Start", "Check")
ALERT_KINDS = ("instance-failed", "bake-failed", "gate-failed", "instance-gone")


def states_arn(event, name: str, default=...) -> str:
    return arn(event, name, "states", default)


def any_json(event, name: str, default=None):
    """A value checked later, by what reads it (the run's input)."""
    return event.get(name, default)


def continuation_settings(event, name: str) -> dict:
    return parse_continuation_settings(field(event, name, dict))


def end_by_text(event, name: str, default=None) -> str | None:
    """The run's EndBy (settings): None, or ISO 8601 with its zone."""
    value = field(event, name, str, default)
    if value is not None:
        end_by_time(value)
    return value


def instance_results(event, name: str) -> list[dict]:
    """The Map's output, per group the results of its instances, as one list."""
    groups = field(event, name, list)
    if not all(isinstance(group, list) for group in groups):
        raise InvalidInput(f"{name} must be a list (per group) of lists of instance results.")
    return objects({name: [item for group in groups for item in group]}, name, RESULT_FIELDS)


# --- the run's start and end ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidateInputEvent(StepEvent):
    execution_arn: str = payload("ExecutionArn", states_arn)
    input: object = payload("Input", any_json, default=None)  # the execution's input, parsed by run_input
    execution_name: str = payload("ExecutionName", str)

    @property
    def continues_a_run(self) -> bool:
        """The input is a run's own input to its next execution, {"Continuation": ...}."""
        return isinstance(self.input, dict) and "Continuation" in self.input

    def __post_init__(self):
        if self.continues_a_run and len(cast(dict, self.input)) != 1:  # continues_a_run: it is a dict
            raise InvalidInput("Continuation comes alone: it is the input a run gives its next execution.")


@dataclass(frozen=True)
class LockGroupsEvent(StepEvent):
    group_names: list[str] = payload("GroupNames", group_names)
    execution_arn: str = payload("ExecutionArn", states_arn)
    run_id: str = payload("RunId", str)
    previous_execution_arn: str | None = payload("PreviousExecutionArn", str, default=None)


@dataclass(frozen=True)
class RecoverGroupsEvent(StepEvent):
    run_id: str = payload("RunId", str)
    execution_arn: str = payload("ExecutionArn", states_arn)
    health_timeout_seconds: int = payload("HealthTimeoutSeconds", int)
    group_names: list[str] = payload("GroupNames", group_names)


@dataclass(frozen=True)
class CheckFleetEvent(StepEvent):
    dry_run: bool = payload("DryRun", bool, default=False)
    bake_ami: bool = payload("BakeAmi", bool, default=False)
    group_names: list[str] = payload("GroupNames", group_names)
    lower_min_size: bool = payload("LowerMinSize", bool)
    keep_capacity: bool = payload("KeepCapacity", bool, default=False)
    offline_instances: str = payload("OfflineInstances", str)
    run_id: str = payload("RunId", str)
    # the forecast (autopatch.window) and the instances patched recently enough to skip
    end_by: str | None = payload("EndBy", end_by_text, default=None)
    group_concurrency: int = payload("GroupConcurrency", int, default=RunSettings.GroupConcurrency)
    skip_patched_hours: int = payload("SkipPatchedWithinHours", int, default=0)
    hooks: dict | None = payload("Hooks", dict, default=None)  # the input's (autopatch.hooks), tags override them


@dataclass(frozen=True)
class PlanSliceEvent(StepEvent):
    run_id: str = payload("RunId", str)
    pass_number: int = payload("Pass", int, default=0)  # 0: the plan; n: the n-th newcomer pass
    offset: int = payload("Offset", int)
    find_newcomers: bool = payload("FindNewcomers", bool, default=False)  # the pass ended: save the next one
    max_errors: int = payload("MaxErrors", int)
    bake_ami: bool = payload("BakeAmi", bool, default=False)
    standby_timeout: int = payload("StandbyTimeoutSeconds", int)
    drain_timeout: int = payload("DrainTimeoutSeconds", int, default=RunSettings.DrainTimeoutSeconds)
    health_timeout: int = payload("HealthTimeoutSeconds", int)
    end_by: str | None = payload("EndBy", end_by_text, default=None)  # once the window has closed, no slice is taken


@dataclass(frozen=True)
class RecordResultsEvent(StepEvent):
    run_id: str = payload("RunId", str)
    part: int = payload("Part", int)
    max_errors: int = payload("MaxErrors", int)
    results: list[dict] = payload("Results", instance_results)


@dataclass(frozen=True)
class ContinueRunEvent(StepEvent):
    run_id: str = payload("RunId", str)
    part: int = payload("Part", int)  # the part that ends; the next one is part + 1
    pass_number: int = payload("Pass", int, default=0)
    offset: int = payload("Offset", int)
    execution_arn: str = payload("ExecutionArn", states_arn)
    snapshot_id: str = payload("SnapshotId", str)
    settings: dict = payload("Settings", continuation_settings)
    group_names: list[str] = payload("GroupNames", group_names)
    recovered: list[dict] = payload("Recovered", objects, RECOVERED_FIELDS, default=[])
    state_machine_arn: str = payload("StateMachineArn", states_arn)

    def __post_init__(self):
        if self.part < 1:
            raise InvalidInput("Part must be at least 1.")
        if not 0 <= self.pass_number <= NEWCOMER_PASSES or self.offset < (1 if self.pass_number == 0 else 0):
            raise InvalidInput(
                f"Pass must be 0 to {NEWCOMER_PASSES}, and Offset at least 1 (0 to start a newcomer pass)."
            )


@dataclass(frozen=True)
class ReleaseLocksEvent(StepEvent):
    group_names: list[str] = payload("GroupNames", group_names)
    execution_arn: str = payload("ExecutionArn", states_arn)
    run_id: str = payload("RunId", str)


@dataclass(frozen=True)
class SummarizeRunEvent(StepEvent):
    run_id: str = payload("RunId", str)
    execution_arn: str = payload("ExecutionArn", states_arn)
    max_errors: int = payload("MaxErrors", int)
    group_names: list[str] = payload("GroupNames", group_names)
    recovered: list[dict] = payload("Recovered", objects, RECOVERED_FIELDS, default=[])
    bake_ami: bool = payload("BakeAmi", bool, default=False)
    end_by: str | None = payload("EndBy", end_by_text, default=None)


# --- one instance --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckSafeToContinueEvent(StepEvent):
    run_id: str = payload("RunId", str)
    group: str = payload("GroupName", group_name)
    instance: str = payload("InstanceId", instance_id)
    execution_arn: str = payload("ExecutionArn", states_arn)
    max_errors: int = payload("MaxErrors", int)
    alarm_names: list[str] = payload("AlarmNames", names, ALARM_NAME_MAX, default=[])
    # waiting for instances launching or terminating: at most HealthTimeoutSeconds from the first wait (Deadline)
    health_timeout: int = payload("HealthTimeoutSeconds", int, default=RunSettings.HealthTimeoutSeconds)
    poll_interval: int = payload("PollIntervalSeconds", int, default=RunSettings.PollIntervalSeconds)
    settle_deadline: int | None = payload("Deadline", int, default=None)
    end_by: str | None = payload("EndBy", end_by_text, default=None)  # the window: no instance out past it
    # after the instance was patched: "Start" (how long to soak), then "Check" (the gate, the instance included)
    soak: str | None = payload("Soak", str, default=None)
    soak_seconds: int = payload("SoakSeconds", int, default=RunSettings.SoakSeconds)
    canary_soak_seconds: int = payload("CanarySoakSeconds", int, default=RunSettings.CanarySoakSeconds)

    def __post_init__(self):
        if self.poll_interval < 1 or self.health_timeout < 1:
            raise InvalidInput("PollIntervalSeconds and HealthTimeoutSeconds must be at least 1.")
        if self.soak not in (None, *SOAK_STEPS):
            raise InvalidInput(f"Soak must be one of {', '.join(SOAK_STEPS)}; got {self.soak!r}.")
        if not (0 <= self.soak_seconds <= MAX_SOAK_SECONDS and 0 <= self.canary_soak_seconds <= MAX_SOAK_SECONDS):
            raise InvalidInput(f"SoakSeconds and CanarySoakSeconds must be between 0 and {MAX_SOAK_SECONDS}.")


@dataclass(frozen=True)
class TagInstanceEvent(StepEvent):
    instance: str = payload("InstanceId", instance_id)
    run_id: str = payload("RunId", str)
    value: str = payload("Value", str)  # InProgress, Completed or Failed (autopatch.tags checks it)
    group: str | None = payload("GroupName", group_name, default=None)  # Failed: checked first for a gone instance
    # why it failed (Failed only): the step, the error and its cause
    failed_step: str | None = payload("Step", str, default=None)
    error: str | None = payload("Error", str, default=None)
    cause: str | None = payload("Cause", str, default=None)

    @property
    def reason(self) -> str | None:
        return ": ".join(part for part in (self.failed_step, self.error, self.cause) if part) or None


@dataclass(frozen=True)
class EnterStandbyEvent(StepEvent):
    group: str = payload("GroupName", group_name)
    instance: str = payload("InstanceId", instance_id)
    timeout_seconds: int = payload("TimeoutSeconds", int)
    lower_min_size: bool = payload("LowerMinSize", bool, default=False)
    run_id: str = payload("RunId", str)  # the run that changes the group (ledger.remember_change)
    drain_timeout_seconds: int = payload("DrainTimeoutSeconds", int, default=RunSettings.DrainTimeoutSeconds)


@dataclass(frozen=True)
class ExitStandbyEvent(StepEvent):
    group: str = payload("GroupName", group_name)
    instance: str = payload("InstanceId", instance_id)
    timeout_seconds: int = payload("TimeoutSeconds", int)
    lower_min_size: bool = payload("LowerMinSize", bool, default=False)
    run_id: str = payload("RunId", str)  # the run whose standby took the capacity, and changed the group
    gone: bool = payload("Gone", bool, default=False)  # give back the capacity of an instance that went


KEEP_CAPACITY_ACTIONS = ("Add", "Refuse", "Remove")


@dataclass(frozen=True)
class KeepCapacityEvent(StepEvent):
    """keep_capacity's: Add an instance to the group and wait until it is healthy (until Deadline: None, now plus
    HealthTimeoutSeconds), Refuse the group when it was not (Error and Cause say why), Remove one when the group
    is done."""

    action: str = payload("Action", str)
    group: str = payload("GroupName", group_name)
    run_id: str = payload("RunId", str)
    instance: str | None = payload("InstanceId", instance_id, default=None)  # the instance that waits for it
    execution_arn: str | None = payload("ExecutionArn", states_arn, default=None)
    health_timeout: int = payload("HealthTimeoutSeconds", int, default=RunSettings.HealthTimeoutSeconds)
    poll_interval: int = payload("PollIntervalSeconds", int, default=RunSettings.PollIntervalSeconds)
    deadline: int | None = payload("Deadline", int, default=None)
    error: str | None = payload("Error", str, default=None)
    cause: str | None = payload("Cause", str, default=None)

    def __post_init__(self):
        if self.action not in KEEP_CAPACITY_ACTIONS:
            raise InvalidInput(f"Action must be one of {', '.join(KEEP_CAPACITY_ACTIONS)}; got {self.action!r}.")
        if self.action == "Refuse" and (self.instance is None or self.execution_arn is None):
            raise InvalidInput("Refuse needs the InstanceId that waited for the added instance and the ExecutionArn.")
        if self.poll_interval < 1 or self.health_timeout < 1:
            raise InvalidInput("PollIntervalSeconds and HealthTimeoutSeconds must be at least 1.")


@dataclass(frozen=True)
class WaitForInstanceEvent(StepEvent):
    """check_standby's and check_health's: wait for the instance until the deadline."""

    group: str = payload("GroupName", group_name)
    instance: str = payload("InstanceId", instance_id)
    deadline: int = payload("Deadline", int)
    poll_interval_seconds: int = payload("PollIntervalSeconds", int)


def document_hook(event, name: str) -> dict:
    """A document hook as the plan resolved it (autopatch.hooks), the kind run_hook runs."""
    return hooks.resolved_document(field(event, name, dict), name)


@dataclass(frozen=True)
class RunHookEvent(StepEvent):
    """run_hook's: run the group's document hook of this phase on the instance, and follow it until Deadline
    (None: the first call, now plus the hook's TimeoutSeconds)."""

    phase: str = payload("Phase", str)
    hook: dict = payload("Hook", document_hook)
    group: str = payload("GroupName", group_name)
    instance: str = payload("InstanceId", instance_id)
    run_id: str = payload("RunId", str)
    deadline: int | None = payload("Deadline", int, default=None)
    poll_interval: int = payload("PollIntervalSeconds", int, default=RunSettings.PollIntervalSeconds)

    def __post_init__(self):
        if self.phase not in hooks.PHASES:
            raise InvalidInput(f"Phase must be one of {', '.join(hooks.PHASES)}; got {self.phase!r}.")
        if self.poll_interval < 1:
            raise InvalidInput("PollIntervalSeconds must be at least 1.")


@dataclass(frozen=True)
class SendPatchCommandEvent(StepEvent):
    instance: str = payload("InstanceId", instance_id)
    run_id: str = payload("RunId", str)
    operation: str = payload("Operation", str)
    reboot_option: str = payload("RebootOption", str)
    task_token: str = payload("TaskToken", str)
    snapshot_id: str = payload("SnapshotId", str)
    timeout_seconds: int = payload("TimeoutSeconds", int)

    def __post_init__(self):
        if self.operation not in OPERATIONS or self.reboot_option not in REBOOT_OPTIONS:
            raise InvalidInput(f"Operation must be one of {OPERATIONS} and RebootOption one of {REBOOT_OPTIONS}.")


@dataclass(frozen=True)
class CancelPatchCommandEvent(StepEvent):
    instance: str = payload("InstanceId", instance_id)


@dataclass(frozen=True)
class ReadComplianceEvent(StepEvent):
    instance: str = payload("InstanceId", instance_id)
    operation: str = payload("Operation", str)

    def __post_init__(self):
        if self.operation not in ("Install", "Scan"):
            raise InvalidInput("Operation must be Install or Scan.")


@dataclass(frozen=True)
class SendAlertEvent(StepEvent):
    kind: str = payload("Kind", str, default="instance-failed")
    instance: str = payload("InstanceId", instance_id)
    group: str = payload("GroupName", group_name)
    run_id: str = payload("RunId", str)
    execution_arn: str = payload("ExecutionArn", states_arn)
    step: str = payload("Step", str)
    error: str = payload("Error", str)
    cause: str = payload("Cause", str, default="")
    command_id: str | None = payload("CommandId", str, default=None)
    returned_to_service: bool | None = payload("ReturnedToService", bool, default=None)
    image: str | None = payload("ImageId", image_id, default=None)  # a bake's
    capacity: dict | None = payload("Capacity", dict, default=None)  # a gone instance's: {"Done"} or {"Error", "Cause"}

    def __post_init__(self):
        if self.kind not in ALERT_KINDS:
            raise InvalidInput(f"Kind must be one of {', '.join(ALERT_KINDS)}.")

    @property
    def failure(self) -> dict:
        """What went wrong, as autopatch.alerts words it."""
        failure = {
            "InstanceId": self.instance,
            "GroupName": self.group,
            "RunId": self.run_id,
            "ExecutionArn": self.execution_arn,
            "Step": self.step,
            "Error": self.error,
            "Cause": self.cause,
            "CommandId": self.command_id,
            "ReturnedToService": self.returned_to_service,
        }
        if self.kind == "instance-gone":
            return {**failure, "Capacity": self.capacity}
        return {**failure, "ImageId": self.image} if self.kind == "bake-failed" else failure


# --- the image of a group (BakeAmi) --------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateImageEvent(StepEvent):
    group: str = payload("GroupName", group_name)
    instance: str = payload("InstanceId", instance_id)
    run_id: str = payload("RunId", str)
    timeout_seconds: int = payload("TimeoutSeconds", int)


@dataclass(frozen=True)
class CheckImageEvent(StepEvent):
    image: str = payload("ImageId", image_id)
    deadline: int = payload("Deadline", int)


@dataclass(frozen=True)
class UseImageEvent(StepEvent):
    group: str = payload("GroupName", group_name)
    image: str = payload("ImageId", image_id)
    run_id: str = payload("RunId", str)
    keep_amis: int = payload("KeepAmis", int)

    def __post_init__(self):
        if not 1 <= self.keep_amis <= MAX_KEEP_AMIS:
            raise InvalidInput(f"KeepAmis must be between 1 and {MAX_KEEP_AMIS}.")


# --- events from outside the state machine -------------------------------------------------------------------


@dataclass(frozen=True)
class CommandDetail:
    instance: str
    command_id: str
    status: object  # Success, Failed, ... as SSM says it; only a terminal one ends the command
    requested: object  # requested-date-time, ISO 8601 if SSM sent it


def command_detail(event, name: str) -> CommandDetail:
    detail = event.get(name) if isinstance(event, dict) else None
    if not isinstance(detail, dict) or not all(isinstance(detail.get(k), str) for k in ("instance-id", "command-id")):
        raise InvalidInput(f"{name} with instance-id and command-id is required.")
    return CommandDetail(
        detail["instance-id"], detail["command-id"], detail.get("status"), detail.get("requested-date-time")
    )


@dataclass(frozen=True)
class CommandFinishedEvent(StepEvent):
    """EventBridge's "EC2 Command Invocation Status-change Notification"."""

    detail: CommandDetail = payload("detail", command_detail)
    time: object = payload("time", any_json, default=None)  # when the command ended, ISO 8601


@dataclass(frozen=True)
class FollowCommandsEvent(StepEvent):
    """EventBridge's "Scheduled Event" of the follower's rate(1 minute) rule: the follower reads nothing of it."""


# An execution that ended so ran none or not all of its own error handling: clean_up_run puts right what it left
ENDED_BADLY = ("FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class ExecutionDetail:
    execution_arn: str
    name: str  # the execution's name, the ARN's last part
    status: object  # as Step Functions says it; only one of ENDED_BADLY needs a clean-up
    stop_date: int | None  # stopDate, milliseconds since the epoch

    @property
    def ended_badly(self) -> bool:
        return self.status in ENDED_BADLY


def execution_detail(event, name: str) -> ExecutionDetail:
    """The detail of a "Step Functions Execution Status Change". Its stopDate is checked only for a status that
    needs a clean-up: any other status is left alone, whatever else the event says."""
    detail = event.get(name) if isinstance(event, dict) else None
    if not isinstance(detail, dict) or not isinstance(detail.get("executionArn"), str):
        raise InvalidInput(f"{name} with executionArn is required.")
    parts = detail["executionArn"].split(":")
    if len(parts) != 8 or parts[0] != "arn" or parts[2] != "states" or parts[5] != "execution":
        raise InvalidInput(f"{name}.executionArn must be a Step Functions execution ARN.")
    status, stop_date = detail.get("status"), detail.get("stopDate")
    wrong_date = stop_date is not None and (isinstance(stop_date, bool) or not isinstance(stop_date, int))
    if status in ENDED_BADLY and wrong_date:
        raise InvalidInput(f"{name}.stopDate must be milliseconds since the epoch.")
    return ExecutionDetail(detail["executionArn"], parts[7], status, stop_date)


@dataclass(frozen=True)
class CleanUpRunEvent(StepEvent):
    """EventBridge's "Step Functions Execution Status Change" of one of the state machine's executions."""

    detail: ExecutionDetail = payload("detail", execution_detail)


@dataclass(frozen=True)
class SnsMessage:
    subject: str | None
    message: str
    attributes: dict


def sns_messages(event, name: str) -> tuple[SnsMessage, ...]:
    records = event.get(name) if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        raise InvalidInput(f"{name} is required (an SNS event).")
    messages = []
    for record in records:
        sns = record.get("Sns") if isinstance(record, dict) else None
        if not isinstance(sns, dict) or not isinstance(sns.get("Message"), str):
            raise InvalidInput("each record needs Sns.Message.")
        attributes = sns.get("MessageAttributes") or {}
        if not isinstance(attributes, dict):
            raise InvalidInput("Sns.MessageAttributes must be an object.")
        messages.append(SnsMessage(sns.get("Subject"), sns["Message"], attributes))
    return tuple(messages)


@dataclass(frozen=True)
class NotifySlackEvent(StepEvent):
    """An SNS event: the alerts to post."""

    messages: tuple[SnsMessage, ...] = payload("Records", sns_messages)
