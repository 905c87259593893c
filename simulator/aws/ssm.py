"""Systems Manager Run Command with AWS-RunPatchBaseline and the hook documents, as the agent and Patch Manager behave.

An invocation is unknown for a moment after SendCommand (InvocationDoesNotExist), Pending until an online agent
picks it up, InProgress, then Success or Failed, or TimedOut when no agent takes it; each terminal status sends
the "EC2 Command Invocation Status-change Notification" event to EventBridge. SendCommand and CancelCommand refuse
an instance that is shutting-down or terminated (InvalidInstanceId: "Valid states are: Running, Pending, Stopped,
Stopping. Invalid states are: Shutting-down and Terminated",
https://docs.aws.amazon.com/sdkfornet/latest/apidocs/items/MSimpleSystemsManagementISimpleSystemsManagementCancelCommandCancelCommandRequestNET45.html);
the agent of an instance EC2 terminates dies with it: its invocation never ends by itself (AWS documents no
status for it; Undeliverable is for a command not delivered), it stays Pending until its delivery timeout or
InProgress until the run cancels it:
- https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetCommandInvocation.html
- https://docs.aws.amazon.com/systems-manager/latest/userguide/monitor-commands.html
- https://docs.aws.amazon.com/systems-manager/latest/userguide/monitoring-systems-manager-event-examples.html
- https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CancelCommand.html
- https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeInstancePatchStates.html
- https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeInstanceInformation.html
Systems Manager sends its events to EventBridge on a best-effort basis ("in some rare cases an event might not be
delivered": https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-delivery-level.html), and
EventBridge delivers an event to its targets at least once: faults event_lost, event_delayed and event_duplicated
play what that allows.

The simulated account's documents: AWS-RunPatchBaseline, AWS-RunShellScript (AWS owned: `commands` required,
`workingDirectory` and `executionTimeout` optional,
https://docs.aws.amazon.com/systems-manager/latest/userguide/documents-command-ssm-plugin-reference.html#aws-runShellScript)
and the user's own documents the stack allows as hooks (HookDocumentNames, any parameters). Any document but
AWS-RunPatchBaseline is a hook run: it takes its group's hook_seconds, never patches, reboots or sets off alarms,
and ends Success (ResponseCode 0), or Failed (ResponseCode 1) on an instance with hook_failed; on one with
hook_timeout it stays InProgress until cancelled. GetCommandInvocation gives what the command wrote once it has
ended: the first 24,000 characters of its standard output and the first 8,000 of its standard error, empty
before (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetCommandInvocation.html).
SendCommand refuses a Comment over 100 characters with ValidationException, as AWS words it
(https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html; the message as users
report it: https://github.com/aws-samples/bottlerocket-images-cache/issues/11).
"""

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from .common import AwsError, ModelState

# Seconds after SendCommand before GetCommandInvocation knows the invocation (InvocationDoesNotExist).
INVOCATION_VISIBLE_AFTER = 2
# Seconds an online agent takes to pick a command up (Pending -> InProgress).
DELIVERY_SECONDS = 3
EVENT_DELAY_SECONDS = 20 * 60  # fault event_delayed: how late the status-change event is delivered
PATCH_DOCUMENT = "AWS-RunPatchBaseline"
# AWS-RunShellScript's parameters: those it requires, and all it takes
SHELL_DOCUMENT, SHELL_REQUIRED, SHELL_PARAMETERS = (
    "AWS-RunShellScript",
    {"commands"},
    {"commands", "workingDirectory", "executionTimeout"},
)
# AWS-RunShellScript's executionTimeout: its default, and the most its allowedPattern accepts (48 hours)
SHELL_EXECUTION_TIMEOUT, SHELL_EXECUTION_TIMEOUT_MAX = 3600, 172_800
COMMENT_MAX = 100  # SendCommand's Comment
STDOUT_MAX, STDERR_MAX = 24_000, 8_000  # what GetCommandInvocation keeps of a command's output
HOOK_PHASES = ("BeforeStandby", "AfterHealthy")


@dataclass
class Invocation:
    command_id: str
    instance_id: str
    document: str
    comment: str
    parameters: dict
    sent_at: float
    timeout: int
    status: str = "Pending"
    details: str = "Pending"
    response_code: int = -1
    start_at: float | None = None
    end_at: float | None = None
    outcome: str = "Success"
    stdout: str = ""  # what the command wrote, once it has ended
    stderr: str = ""

    @property
    def phase(self) -> str | None:
        """The hook phase the command's Comment names (the product's "autopatch <phase> run <RunId>")."""
        found = re.search(rf"\b({'|'.join(HOOK_PHASES)})\b", self.comment)
        return found[1] if found else None


class Ssm(ModelState):
    """The Systems Manager calls answered here, on the invocations kept in self.invocations."""

    def _ssm_SendCommand(self, params):
        comment = params.get("Comment", "")
        if len(comment) > COMMENT_MAX:
            raise AwsError(
                "ValidationException",
                f"1 validation error detected: Value '{comment}' at 'comment' failed to satisfy constraint: "
                f"Member must have length less than or equal to {COMMENT_MAX}",
            )
        document, parameters = params["DocumentName"], params.get("Parameters", {})
        self._check_document(document, parameters)
        for instance_id in params["InstanceIds"]:
            if instance_id not in self.instances or self.instances[instance_id].ec2_terminated:
                raise AwsError("InvalidInstanceId", "Instances not in a valid state for account")
        command_id = str(uuid.uuid4())
        now = self.clock.now()
        timeout = params.get("TimeoutSeconds", 3600)
        what = f"{document} {parameters['Operation'][0]}" if document == PATCH_DOCUMENT else document
        for instance_id in params["InstanceIds"]:
            sim = self.instances[instance_id]
            invocation = Invocation(command_id, instance_id, document, comment, parameters, now, timeout)
            self.invocations[(command_id, instance_id)] = invocation
            self.commands.setdefault(instance_id, []).append(command_id)
            self.log(now, sim.group, instance_id, f"{what} sent ({command_id[:8]})")
            if sim.agent_online:
                self.at(DELIVERY_SECONDS, lambda t, inv=invocation, s=sim: self._start_command(t, inv, s))
            self.at(timeout, lambda t, inv=invocation: self._delivery_timeout(t, inv))
        return {
            "Command": {
                "CommandId": command_id,
                "DocumentName": document,
                "Status": "Pending",
                "InstanceIds": params["InstanceIds"],
                "Comment": comment,
            }
        }

    def _check_document(self, document: str, parameters: dict) -> None:
        """The document exists in the simulated account and takes these parameters."""
        if document == PATCH_DOCUMENT:
            if parameters.get("Operation", [None])[0] not in ("Scan", "Install"):
                raise AwsError("InvalidParameters", "Operation must be Scan or Install.")
        elif document == SHELL_DOCUMENT:
            missing, unknown = SHELL_REQUIRED - set(parameters), set(parameters) - SHELL_PARAMETERS
            if missing or unknown:
                raise AwsError(
                    "InvalidParameters",
                    f"{document} requires {', '.join(sorted(SHELL_REQUIRED))} and takes only "
                    f"{', '.join(sorted(SHELL_PARAMETERS))}.",
                )
            timeout = parameters.get("executionTimeout", [str(SHELL_EXECUTION_TIMEOUT)])
            if not (len(timeout) == 1 and timeout[0].isdigit() and 1 <= int(timeout[0]) <= SHELL_EXECUTION_TIMEOUT_MAX):
                raise AwsError("InvalidParameters", f"executionTimeout must be 1 to {SHELL_EXECUTION_TIMEOUT_MAX}.")
        elif document not in self.hook_documents:
            raise AwsError("InvalidDocument", f"Document {document} does not exist in the simulated account.")

    def _start_command(self, t, invocation, sim):
        if invocation.status != "Pending" or sim.ec2_terminated:
            return
        invocation.status = invocation.details = "InProgress"
        invocation.start_at = t
        if invocation.document != PATCH_DOCUMENT:
            self._start_hook(invocation, sim)
            return
        if "patch_timeout" in sim.faults:
            return  # never ends
        invocation.outcome = "Failed" if "patch_failed" in sim.faults else "Success"
        self.at(
            sim.patch_seconds if invocation.parameters.get("Operation") == ["Install"] else 60,
            lambda t2, inv=invocation, s=sim: self._finish_command(t2, inv, s),
        )

    def _start_hook(self, invocation, sim) -> None:
        """A hook document runs for its group's hook_seconds (for ever with hook_timeout); AWS-RunShellScript for
        at most its executionTimeout, when it ends TimedOut, "Execution Timed Out"
        (https://docs.aws.amazon.com/systems-manager/latest/userguide/monitor-commands.html)."""
        runs = None if "hook_timeout" in sim.faults else self.groups[sim.group].hook_seconds
        limit = None
        if invocation.document == SHELL_DOCUMENT:
            limit = int(invocation.parameters.get("executionTimeout", [SHELL_EXECUTION_TIMEOUT])[0])
        if limit is not None and (runs is None or runs > limit):
            invocation.outcome, runs = "TimedOut", limit
        elif runs is None:
            return  # runs until cancelled
        else:
            invocation.outcome = "Failed" if "hook_failed" in sim.faults else "Success"
        self.at(runs, lambda t, inv=invocation, s=sim: self._finish_hook(t, inv, s))

    def _finish_hook(self, t, invocation, sim) -> None:
        if invocation.status != "InProgress" or sim.ec2_terminated:
            return
        ran = f"{invocation.document} ran on {sim.instance_id}"
        invocation.stdout = f"{ran}: done\n" if invocation.outcome == "Success" else f"{ran}\n"
        if invocation.outcome == "Failed":
            invocation.stderr = f"{invocation.document} failed on {sim.instance_id}: exit status 1\n"
        elif invocation.outcome == "TimedOut":
            invocation.stderr = f"{invocation.document} timed out on {sim.instance_id}\n"
        self._end(t, invocation, sim)

    def _end(self, t, invocation, sim) -> None:
        """The command ended as its outcome says: its status, response code, event and timeline line."""
        invocation.status = invocation.outcome
        invocation.details = "Execution Timed Out" if invocation.outcome == "TimedOut" else invocation.outcome
        invocation.response_code = 0 if invocation.outcome == "Success" else 1
        self._ended(t, invocation)
        self.log(t, sim.group, sim.instance_id, f"{invocation.document} {invocation.outcome}")

    def _finish_command(self, t, invocation, sim):
        if invocation.status != "InProgress" or sim.ec2_terminated:
            return
        sim.last_operation = invocation.parameters.get("Operation", ["Scan"])[0]
        if invocation.outcome == "Success" and sim.last_operation == "Install":
            patches, missing = sim.patches, sim.patches["missing"]
            failed = min(missing, 2) if "failed_patches" in sim.faults else 0
            installed = missing - failed
            if invocation.parameters.get("RebootOption") == ["NoReboot"]:
                patches["pending_reboot"] += installed
            else:
                patches["installed"] += installed
                if installed:  # RebootIfNeeded: a reboot once patches were installed
                    self.rebooted(sim.instance_id)
            patches.update(missing=failed, failed=failed)
        operation, p = sim.last_operation, sim.patches
        if invocation.outcome == "Success":
            counts = f"{p['installed']} installed, {p['missing']} missing, {p['failed']} failed"
            invocation.stdout = f"{operation} on {sim.instance_id}: {counts}\n"
        else:
            invocation.stderr = f"{operation} failed on {sim.instance_id}\n"
        self._end(t, invocation, sim)
        if "paused_after_patch" in sim.faults:
            group = self.asg.autoscaling_groups[sim.group]
            group.tags = [{**t, "Value": "paused"} if t["Key"] == "AutoPatch" else t for t in group.tags]
            self.log(t, sim.group, "", "group tagged AutoPatch=paused by an operator")
        alarm, delay = self.groups[sim.group].alarm, self.groups[sim.group].alarm_delay_seconds
        if "alarm_after_patch" in sim.faults and alarm:
            if delay:
                self.at(delay, lambda t2, s=sim, a=alarm: self._alarm_goes_off(t2, s, a))
            else:
                self._alarm_goes_off(t, sim, alarm)

    def _alarm_goes_off(self, t, sim, alarm: str):
        """alarm_after_patch: the group's alarm goes to ALARM, alarm_delay_seconds after the patch ended (the
        application's errors rise once the patched instance serves again)."""
        self.cloudwatch.set_alarm_state(alarm, "Threshold crossed after patching", "{}", "ALARM")
        self.log(t, sim.group, sim.instance_id, f"alarm {alarm} -> ALARM")

    def _delivery_timeout(self, t, invocation):
        if invocation.status == "Pending":
            invocation.status, invocation.details = "TimedOut", "Delivery Timed Out"
            self._ended(t, invocation)

    def _ended(self, t, invocation):
        """An invocation reached a terminal status: SSM sends its status-change event to EventBridge (its faults
        may lose it, delay it, or have it delivered twice)."""
        invocation.end_at = t
        sim = self.instances[invocation.instance_id]
        if "event_lost" in sim.faults:
            self.log(t, sim.group, sim.instance_id, "its status-change event is lost")
            return
        detail = {
            "command-id": invocation.command_id,
            "document-name": invocation.document,
            "instance-id": invocation.instance_id,
            "requested-date-time": self.clock.start_plus(invocation.sent_at),
            "status": invocation.status,
        }
        resources = [f"arn:aws:ec2:us-east-1:123456789012:instance/{invocation.instance_id}"]
        delay = EVENT_DELAY_SECONDS if "event_delayed" in sim.faults else 0
        if delay:
            self.log(t, sim.group, sim.instance_id, f"its status-change event comes {delay // 60} min late")
        copies = 2 if "event_duplicated" in sim.faults else 1
        if copies > 1:
            self.log(t, sim.group, sim.instance_id, "its status-change event is delivered twice")
        for _ in range(copies):
            self.emit("EC2 Command Invocation Status-change Notification", "aws.ssm", detail, resources, delay)

    def _invocation(self, params) -> Invocation:
        invocation = self.invocations.get((params["CommandId"], params["InstanceId"]))
        if invocation is None or self.clock.now() - invocation.sent_at < INVOCATION_VISIBLE_AFTER:
            raise AwsError("InvocationDoesNotExist", "")
        return invocation

    def _ssm_GetCommandInvocation(self, params):
        inv = self._invocation(params)
        return {
            "CommandId": inv.command_id,
            "InstanceId": inv.instance_id,
            "Comment": inv.comment,
            "DocumentName": inv.document,
            "Status": inv.status,
            "StatusDetails": inv.details,
            "ResponseCode": inv.response_code,
            "StandardOutputContent": inv.stdout[:STDOUT_MAX],
            "StandardErrorContent": inv.stderr[:STDERR_MAX],
        }

    def _ssm_ListCommands(self, params):
        instance_id, command_id = params.get("InstanceId"), params.get("CommandId")
        if command_id is not None:
            if not any(cid == command_id for cid, _ in self.invocations):
                raise AwsError("InvalidCommandId", "")
            ids = [command_id]
        elif instance_id:
            ids = self.commands.get(instance_id, [])
        else:
            ids = list({inv.command_id for inv in self.invocations.values()})
        commands = []
        for command_id in ids:
            invs = [inv for (cid, _), inv in self.invocations.items() if cid == command_id]
            first = invs[0]
            commands.append(
                {
                    "CommandId": command_id,
                    "DocumentName": first.document,
                    "Comment": first.comment,
                    "Status": first.status,
                    "RequestedDateTime": dt.datetime.fromtimestamp(first.sent_at, dt.UTC),
                    "InstanceIds": [inv.instance_id for inv in invs],
                }
            )
        return {"Commands": commands}

    def _ssm_CancelCommand(self, params):
        """A command already terminal is left as it is; one SendCommand never returned is InvalidCommandId."""
        if all(command_id != params["CommandId"] for command_id, _ in self.invocations):
            raise AwsError("InvalidCommandId", "")
        if any(self.instances[i].ec2_terminated for i in params.get("InstanceIds", []) if i in self.instances):
            raise AwsError("InvalidInstanceId", "Instances not in a valid state for account")
        for (command_id, instance_id), inv in self.invocations.items():
            wanted = command_id == params["CommandId"] and instance_id in params.get("InstanceIds", [instance_id])
            if wanted and inv.status in ("Pending", "InProgress", "Delayed"):
                inv.status, inv.details = "Cancelled", "Cancelled"
                self._ended(self.clock.now(), inv)
                assert inv.end_at is not None  # _ended set it
                self.log(inv.end_at, self.instances[instance_id].group, instance_id, f"{inv.document} Cancelled")
        return {}

    def _ssm_DescribeInstancePatchStates(self, params):
        states = []
        for instance_id in params["InstanceIds"]:
            sim = self.instances.get(instance_id)
            if sim is None or sim.last_operation is None:
                continue
            p = sim.patches
            states.append(
                {
                    "InstanceId": instance_id,
                    "PatchGroup": "",
                    "BaselineId": "pb-0simulated",
                    "Operation": sim.last_operation,
                    "OperationStartTime": self.clock.now_datetime(),
                    "OperationEndTime": self.clock.now_datetime(),
                    "InstalledCount": p["installed"],
                    "MissingCount": p["missing"],
                    "FailedCount": p["failed"],
                    "InstalledPendingRebootCount": p["pending_reboot"],
                    "InstalledOtherCount": 0,
                    "InstalledRejectedCount": 0,
                    "NotApplicableCount": 12,
                }
            )
        return {"InstancePatchStates": states}

    def _ssm_DescribeInstanceInformation(self, params):
        wanted = next((f["Values"] for f in params.get("Filters") or [] if f["Key"] == "InstanceIds"), None)
        return {
            "InstanceInformationList": [
                {
                    "InstanceId": i.instance_id,
                    "PingStatus": "Online" if i.agent_online else "ConnectionLost",
                    "PlatformType": "Linux",
                    "ResourceType": "EC2Instance",
                }
                for i in self.instances.values()
                if i.registered and (wanted is None or i.instance_id in wanted)
            ]
        }
