"""Hooks: the application's own step before an instance leaves service (BeforeStandby: a graceful stop, a drain of
its own) and after it is back and healthy (AfterHealthy: a smoke test that target health alone does not prove).

A hook is an SSM document run on the instance with Run Command (its name and parameters; run_hook sends it and
follows it) or a Lambda function the state machine calls with the run, the group and the instance. The run's input
gives the hooks of every group (Hooks); a group's tags AutoPatchBeforeStandby and AutoPatchAfterHealthy override
them for that group (a document name, a function ARN, a JSON hook as in the input, or "none"). Only the documents and
functions the stack's parameters HookDocumentNames and HookFunctionArns list may run: the functions' roles may run
no other, and the preflight refuses a run that names another, before anything is touched.

Each planned group carries its hooks resolved, one per phase: {"Kind": "None"}, {"Kind": "Document", "Name",
"Parameters", "TimeoutSeconds"} or {"Kind": "Function", "Name", "TimeoutSeconds"}."""

import json
import math
import os
import re
import time

from botocore.exceptions import ClientError

from . import groups, patching, polling
from .clients import client
from .errors import HookCommandFailed, HookTimedOut, InvalidInput
from .event import shown

PHASES = ("BeforeStandby", "AfterHealthy")
SHOWN_CHARS = 80  # of a bad value in an error message: most of a function's ARN
TAG_KEYS = {phase: f"AutoPatch{phase}" for phase in PHASES}
NONE = {"Kind": "None"}
OFF = "none"  # a group tag's value (in any case) that turns the run's hook off for the group
# SSM's document name (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html)
DOCUMENT_NAME = re.compile(r"^[a-zA-Z0-9_\-.]{3,128}$")
# A Lambda function's ARN, unqualified or with a version or alias
# (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html)
FUNCTION_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:[a-z]{2}(-[a-z]+)+-\d:\d{12}:function:[a-zA-Z0-9_-]{1,64}(:(\$LATEST|[a-zA-Z0-9_-]+))?$"
)
# A document runs on the instance up to 2 hours; a function at most Lambda's 900 seconds.
TIMEOUTS = {"Document": (30, 7_200, 600), "Function": (1, 900, 300)}  # (lowest, highest, default)
MAX_PARAMETERS_CHARS = 4_096  # a hook's parameters, as JSON: they travel in every state of the instance
OUTPUT_CHARS = 600  # of a failed document's output, kept in the failure (its start and its end)
# run_hook's Timeout in template.yaml (60 s) less polling's reserve: what one call follows a document for
CHECK_SECONDS = 60 - polling.RESERVE_SECONDS
TASK_EVENTS, CHOICE_EVENTS = 5, 2  # history events of a Task and of a Choice state
# A Run Command invocation that has not ended (https://docs.aws.amazon.com/systems-manager/latest/userguide/monitor-commands.html)
RUNNING = ("Pending", "InProgress", "Delayed")


def _allowed(variable: str) -> list[str]:
    """A comma-separated allow-list of the stack's (an unset CommaDelimitedList joins to "")."""
    return [item.strip() for item in os.environ.get(variable, "").split(",") if item.strip()]


def allowed_documents() -> list[str]:
    return _allowed("HOOK_DOCUMENT_NAMES")


def allowed_functions() -> list[str]:
    return _allowed("HOOK_FUNCTION_ARNS")


def parse(value, where: str) -> dict:
    """A hook as the input or a group tag's JSON gives it, resolved: {"DocumentName", "Parameters"?,
    "TimeoutSeconds"?} or {"FunctionArn", "TimeoutSeconds"?}. InvalidInput names `where` and what is wrong."""
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} must be an object with DocumentName or FunctionArn.")
    kinds = [key for key in ("DocumentName", "FunctionArn") if key in value]
    if len(kinds) != 1:
        raise InvalidInput(f"{where} needs exactly one of DocumentName (an SSM document) and FunctionArn (a Lambda).")
    kind = "Document" if kinds[0] == "DocumentName" else "Function"
    known = (
        {"DocumentName", "Parameters", "TimeoutSeconds"} if kind == "Document" else {"FunctionArn", "TimeoutSeconds"}
    )
    unknown = sorted(str(key) for key in value if key not in known)
    if unknown:
        raise InvalidInput(
            f"{where}: unknown field {unknown[0]!r}; a {kind.lower()} hook takes {', '.join(sorted(known))}."
        )
    name = value[kinds[0]]
    pattern = DOCUMENT_NAME if kind == "Document" else FUNCTION_ARN
    if not isinstance(name, str) or not pattern.match(name):
        wanted = (
            "an SSM document name (3 to 128 letters, digits, _ - .)"
            if kind == "Document"
            else "a Lambda function ARN such as arn:aws:lambda:us-east-1:123456789012:function:smoke-test"
        )
        raise InvalidInput(f"{where}.{kinds[0]} must be {wanted}; got {shown(name, SHOWN_CHARS)}.")
    low, high, default = TIMEOUTS[kind]
    timeout = value.get("TimeoutSeconds", default)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not low <= timeout <= high:
        raise InvalidInput(
            f"{where}.TimeoutSeconds must be an integer from {low} to {high}; got {shown(timeout, SHOWN_CHARS)}."
        )
    hook = {"Kind": kind, "Name": name, "TimeoutSeconds": timeout}
    if kind == "Document":
        hook["Parameters"] = _parameters(value.get("Parameters", {}), f"{where}.Parameters")
    return hook


def _parameters(value, where: str) -> dict:
    """Run Command's Parameters: each name maps to a list of strings."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(s, str) for s in v) for k, v in value.items()
    ):
        raise InvalidInput(f'{where} must map each parameter name to a list of strings, as {{"seconds": ["30"]}}.')
    if len(json.dumps(value)) > MAX_PARAMETERS_CHARS:
        raise InvalidInput(f"{where} must be at most {MAX_PARAMETERS_CHARS} characters as JSON.")
    return value


def resolved_document(value: dict, where: str) -> dict:
    """A document hook as parse resolved it, checked again (it comes back through the state machine)."""
    if value.get("Kind") != "Document" or not set(value) <= {"Kind", "Name", "TimeoutSeconds", "Parameters"}:
        raise InvalidInput(
            f'{where} must be a document hook: {{"Kind": "Document", "Name", "TimeoutSeconds", "Parameters"}}.'
        )
    given = {"DocumentName": value.get("Name"), "TimeoutSeconds": value.get("TimeoutSeconds")}
    return parse({**given, "Parameters": value.get("Parameters", {})}, where)


def parse_input(value) -> dict:
    """The input's Hooks: {"BeforeStandby": hook, "AfterHealthy": hook}, either or both, resolved per phase."""
    if not isinstance(value, dict):
        raise InvalidInput("Hooks must be an object with BeforeStandby and/or AfterHealthy.")
    unknown = sorted(str(key) for key in value if key not in PHASES)
    if unknown:
        raise InvalidInput(f"Hooks: unknown hook {unknown[0]!r}; the hooks are {', '.join(PHASES)}.")
    return {phase: parse(value[phase], f"Hooks.{phase}") if phase in value else NONE for phase in PHASES}


def from_tag(value: str, where: str) -> dict:
    """A group tag's hook: "none", a document name, a function ARN, or a JSON hook as the input gives it."""
    text = value.strip()
    if text.lower() == OFF:
        return NONE
    if text.startswith("{"):
        try:
            found = json.loads(text)
        except ValueError as error:
            raise InvalidInput(f"{where} is not valid JSON ({error}).") from error
        return parse(found, where)
    if text.startswith("arn:"):
        return parse({"FunctionArn": text}, where)
    if not text:
        raise InvalidInput(f"{where} is empty: give a document name, a function ARN, a JSON hook, or {OFF}.")
    return parse({"DocumentName": text}, where)


def for_group(group: dict, run_hooks: dict) -> dict:
    """The group's hooks: the run's, each overridden by the group's tag for it."""
    found = dict(run_hooks)
    for phase, key in TAG_KEYS.items():
        value = groups.tag_value(group, key)
        if value is not None:
            found[phase] = from_tag(value, f"the {key} tag of group {group['AutoScalingGroupName']!r}")
    return found


def not_allowed(hooks: dict) -> list[str]:
    """What these hooks name that the stack does not allow, one line each."""
    documents, functions = allowed_documents(), allowed_functions()
    found = []
    for phase, hook in hooks.items():
        if hook["Kind"] == "Document" and hook["Name"] not in documents:
            found.append(
                f"{phase} document {hook['Name']} is not in the stack's HookDocumentNames ({_listed(documents)})"
            )
        if hook["Kind"] == "Function" and not _function_allowed(hook["Name"], functions):
            found.append(
                f"{phase} function {hook['Name']} is not in the stack's HookFunctionArns ({_listed(functions)})"
            )
    return found


def _function_allowed(arn: str, allowed: list[str]) -> bool:
    """An allowed unqualified ARN allows each version and alias of the function too (the role is granted both)."""
    unqualified = ":".join(arn.split(":")[:7])
    return arn in allowed or unqualified in allowed


def _listed(names: list[str]) -> str:
    return "allowed: " + ", ".join(names) if names else "it allows none"


def check_input(run_hooks: dict) -> None:
    """InvalidInput, before anything is touched, when the input's hooks name what the stack does not allow."""
    problems = not_allowed(run_hooks)
    if problems:
        raise InvalidInput("Hooks: " + "; ".join(problems) + ". Nothing was changed.")


def events(hooks: dict) -> int:
    """The history events one instance's hooks add at most to runs.EVENTS_PER_INSTANCE (which has each phase's
    Choice): a hook's Task (a document's called again every CHECK_SECONDS until its TimeoutSeconds), its Choice and
    its failure's Pass."""
    total = 0
    for hook in hooks.values():
        if hook["Kind"] == "Function":
            total += TASK_EVENTS + CHOICE_EVENTS
        elif hook["Kind"] == "Document":
            total += (TASK_EVENTS + CHOICE_EVENTS) * (math.ceil(hook["TimeoutSeconds"] / CHECK_SECONDS) + 1)
    return total


# --- running a document hook ------------------------------------------------------------------------------------


def comment(phase: str, run_id: str) -> str:
    """Marks the run's hook command of this phase, so a repeated send finds it instead of running it twice."""
    return f"autopatch {phase} run {run_id}"[:100]


def run_document(
    phase: str, hook: dict, group_name: str, instance_id: str, run: tuple[str, int | None, int], context
) -> dict:
    """Send the hook's document to the instance (once per run and phase), then follow it within this invocation
    (run: the run's id, the hook's deadline, None on the first call, and the poll interval): {"Done": True} once it
    succeeded, {"Done": False, "Deadline"} when this call's time is spent first. Raises HookCommandFailed when it
    ends otherwise, HookTimedOut (it is cancelled) past its TimeoutSeconds, InstanceGone at once if the instance
    leaves its group meanwhile (its agent goes with it: the command would never end)."""
    run_id, deadline, poll_interval = run
    note = comment(phase, run_id)
    sent = patching.sent_command(instance_id, note, hook["Name"])
    command_id = sent["CommandId"] if sent else _send(hook, instance_id, note)
    if deadline is None:
        deadline = int(time.time()) + hook["TimeoutSeconds"]
    ended: dict = {}

    def finished() -> bool:
        groups.state_while_out(group_name, instance_id)
        invocation = _invocation(command_id, instance_id)
        if invocation is not None and invocation["Status"] not in RUNNING:
            ended.update(invocation)
            return True
        return time.time() >= deadline

    polling.poll(finished, context, poll_interval)
    if not ended and time.time() >= deadline:
        patching.cancel(command_id, instance_id)
        raise HookTimedOut(
            f"{phase} document {hook['Name']} did not end on {instance_id} within TimeoutSeconds="
            f"{hook['TimeoutSeconds']}; command {command_id} was cancelled."
        )
    if not ended:
        return {"Done": False, "Deadline": deadline, "CommandId": command_id}
    if ended["Status"] != "Success":
        raise HookCommandFailed(
            f"{phase} document {hook['Name']} ended {ended['Status']} ({ended.get('StatusDetails')}, exit code"
            f" {ended.get('ResponseCode')}) on {instance_id}; command {command_id}. {_output(ended)}".strip()
        )
    return {"Done": True, "Deadline": deadline, "CommandId": command_id}


def cancel_run_commands(run_id: str) -> list[dict]:
    """Cancel the hook documents this run sent that still run (the clean-up after a stopped run: a graceful stop,
    or a smoke test, of an instance the run lets go of). {"InstanceId", "CommandId", "Document"} of each."""
    marks = {comment(phase, run_id) for phase in PHASES}
    cancelled = []
    paginator = client("ssm").get_paginator("list_commands")
    for document in allowed_documents():
        for page in paginator.paginate(Filters=[{"key": "DocumentName", "value": document}]):
            for command in page["Commands"]:
                if command["Comment"] not in marks or command["Status"] not in RUNNING:
                    continue
                for instance_id in command.get("InstanceIds", []):
                    patching.cancel(command["CommandId"], instance_id)
                    cancelled.append(
                        {"InstanceId": instance_id, "CommandId": command["CommandId"], "Document": document}
                    )
    return cancelled


def _send(hook: dict, instance_id: str, note: str) -> str:
    """SendCommand; what Systems Manager refuses (a document that does not exist, parameters it does not take,
    an instance it cannot reach) fails the hook, named."""
    try:
        sent = client("ssm").send_command(
            InstanceIds=[instance_id],
            DocumentName=hook["Name"],
            Parameters=hook["Parameters"],
            Comment=note,
            TimeoutSeconds=hook["TimeoutSeconds"],
        )
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code not in ("InvalidDocument", "InvalidParameters", "InvalidInstanceId", "InvalidDocumentVersion"):
            raise
        raise HookCommandFailed(
            f"Systems Manager refused document {hook['Name']} for {instance_id}: {code}"
            f" {error.response['Error'].get('Message', '')}".strip()
        ) from error
    return sent["Command"]["CommandId"]


def _invocation(command_id: str, instance_id: str) -> dict | None:
    """The command's invocation on the instance; None for the moment after SendCommand it is not known yet."""
    try:
        return client("ssm").get_command_invocation(CommandId=command_id, InstanceId=instance_id)
    except ClientError as error:
        if error.response["Error"]["Code"] == "InvocationDoesNotExist":
            return None
        raise


def _output(invocation: dict) -> str:
    """What the document wrote, error output first, kept short: its start and its end."""
    text = " | ".join(
        part.strip()
        for part in (invocation.get("StandardErrorContent"), invocation.get("StandardOutputContent"))
        if part and part.strip()
    )
    if len(text) > OUTPUT_CHARS:
        half = OUTPUT_CHARS // 2
        text = f"{text[:half]} [...] {text[-half:]}"
    return f"Output: {text}" if text else ""
