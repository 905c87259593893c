"""The simulated account's hook documents on Run Command: which documents and parameters SendCommand accepts, the
Comment limit, each status a hook invocation can end in, its output as GetCommandInvocation gives it, what a hook
document does not do (patch, reboot, set off an alarm), the status-change event every document sends and the
template's rule that lets only AWS-RunPatchBaseline's through; the scenario's hook_seconds and hook faults."""

import pytest

from simulator.aws import SimGroup, SimInstance
from simulator.aws.ssm import DELIVERY_SECONDS, INVOCATION_VISIBLE_AFTER
from simulator.engine import HOOK_PARAMETERS
from simulator.scenario import FAULTS, ScenarioError, parse_scenario
from simulator.stack import load_stack, matches
from tests.unit.test_simulator_aws import FakeClock, World, refused

OWN_DOCUMENT = "MyApp-Drain"
COMMENT = "autopatch BeforeStandby run run-20260104T0300"


class Clock(FakeClock):
    """FakeClock, and the ISO 8601 times the status-change events carry."""

    def start_plus(self, timestamp: float) -> str:
        return f"+{timestamp}s"


class HookWorld:
    """World's instance in group "web" (hook_seconds as given, an alarm), the account's own document MyApp-Drain,
    and the status-change events the model sends."""

    def __init__(self, world: World, faults=(), hook_seconds=10, agent_online=True):
        self.world, self.model = world, world.model
        self.clock = world.clock = world.model.clock = Clock()
        self.instance_id = world.instance_id
        self.events: list[tuple] = []
        self.rebooted: list[str] = []
        self.model.emit = lambda *event, **_: self.events.append(event)
        self.model.rebooted = self.rebooted.append
        self.model.hook_documents = {OWN_DOCUMENT}
        self.model.groups["web"] = SimGroup("web", [], 30, 60, alarm="web-5xx", hook_seconds=hook_seconds)
        self.sim = SimInstance(self.instance_id, "web", 0, set(faults), agent_online=agent_online)
        self.sim.patches["missing"] = 6
        self.model.instances[self.instance_id] = self.sim

    def send(self, document=OWN_DOCUMENT, parameters=None, comment=COMMENT, timeout=600) -> str:
        return self.world.call(
            "ssm",
            "SendCommand",
            DocumentName=document,
            InstanceIds=[self.instance_id],
            Parameters=parameters if parameters is not None else {},
            Comment=comment,
            TimeoutSeconds=timeout,
        )["Command"]["CommandId"]

    def invocation(self, command_id) -> dict:
        return self.world.call("ssm", "GetCommandInvocation", CommandId=command_id, InstanceId=self.instance_id)

    def status(self, command_id) -> tuple:
        found = self.invocation(command_id)
        return found["Status"], found["StatusDetails"], found["ResponseCode"]


@pytest.fixture
def world(aws):
    return World(aws)


@pytest.fixture
def hooks(world):
    return HookWorld(world)


def make(world, **kwargs) -> HookWorld:
    return HookWorld(world, **kwargs)


# --- the documents SendCommand accepts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document, parameters",
    [
        ("AWS-RunShellScript", {"commands": ["systemctl stop myapp"]}),
        ("AWS-RunShellScript", {"commands": ["true"], "workingDirectory": ["/opt"], "executionTimeout": ["600"]}),
        (OWN_DOCUMENT, {}),
        (OWN_DOCUMENT, {"anything": ["goes"], "Drain": ["30"]}),
        ("AWS-RunPatchBaseline", {"Operation": ["Scan"]}),
    ],
)
def test_the_account_s_documents_are_sent(hooks, document, parameters):
    # Given the simulated account: AWS's documents and the user's own that the stack allows as hooks
    # When one is sent with parameters it takes
    command_id = hooks.send(document, parameters)

    # Then the command is Pending on the instance, with its document and Comment
    hooks.clock.advance(INVOCATION_VISIBLE_AFTER)
    found = hooks.invocation(command_id)
    assert (found["DocumentName"], found["Comment"], found["Status"]) == (document, COMMENT, "Pending")


@pytest.mark.parametrize(
    "parameters",
    [{}, {"workingDirectory": ["/opt"]}, {"commands": ["true"], "command": ["typo"]}, {"commands": ["true"], "x": []}],
)
def test_run_shell_script_requires_commands_and_takes_nothing_it_does_not_declare(hooks, parameters):
    # Given AWS-RunShellScript, whose parameter commands is required and which takes workingDirectory and
    # executionTimeout besides
    # When it is sent without commands, or with a parameter it does not declare
    # Then InvalidParameters, and no command is sent
    refused("InvalidParameters", hooks.send, "AWS-RunShellScript", parameters)
    assert hooks.model.invocations == {}


@pytest.mark.parametrize(
    "timeout, accepted", [("1", True), ("172800", True), ("0", False), ("172801", False), ("1m", False)]
)
def test_run_shell_script_takes_an_execution_timeout_of_1_to_172800_seconds(hooks, timeout, accepted):
    # Given AWS-RunShellScript, whose executionTimeout's allowedPattern takes 1 to 172800 (seconds)
    parameters = {"commands": ["true"], "executionTimeout": [timeout]}

    # When it is sent with this executionTimeout
    # Then it is sent, or refused with InvalidParameters
    if accepted:
        hooks.send("AWS-RunShellScript", parameters)
        assert len(hooks.model.invocations) == 1
    else:
        refused("InvalidParameters", hooks.send, "AWS-RunShellScript", parameters)


@pytest.mark.parametrize("document", ["MyApp-Stop", "myapp-drain", "AWS-RunPowerShellScript", "arn:aws:ssm:x"])
def test_a_document_the_account_does_not_have_is_invalid(hooks, document):
    # Given an account whose own documents are MyApp-Drain only
    # When another document is sent (a name not allowed as a hook, another case, an AWS document not simulated)
    # Then InvalidDocument, as now
    refused("InvalidDocument", hooks.send, document, {})


@pytest.mark.parametrize("length, accepted", [(0, True), (99, True), (100, True), (101, False), (180, False)])
def test_a_comment_longer_than_100_characters_is_refused(hooks, length, accepted):
    # Given a Comment of `length` characters
    comment = "c" * length

    # When a hook document is sent with it
    # Then up to 100 it is sent; beyond, ValidationException, as AWS words it, naming the limit
    if accepted:
        hooks.send(comment=comment)
        assert len(hooks.model.invocations) == 1
    else:
        error = refused("ValidationException", hooks.send, OWN_DOCUMENT, {}, comment)
        assert "at 'comment' failed to satisfy constraint: Member must have length less than or equal to 100" in (
            error.message
        )
        assert hooks.model.invocations == {}


# --- a hook invocation's statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize("hook_seconds", [0, 10, 45, 600])
def test_a_hook_document_is_unknown_pending_in_progress_then_success_after_hook_seconds(world, hook_seconds):
    # Given a group whose hooks take hook_seconds, an instance with an online agent
    hooks = make(world, hook_seconds=hook_seconds)

    # When a hook document is sent to it
    command_id = hooks.send()

    # Then it is unknown for a moment, Pending, InProgress once the agent takes it, and Success (ResponseCode 0)
    # hook_seconds later, its output naming the document and the instance, nothing on standard error
    refused("InvocationDoesNotExist", hooks.invocation, command_id)
    hooks.clock.advance(INVOCATION_VISIBLE_AFTER)
    assert hooks.status(command_id) == ("Pending", "Pending", -1)
    hooks.clock.advance(DELIVERY_SECONDS - INVOCATION_VISIBLE_AFTER)
    if hook_seconds:
        assert hooks.status(command_id) == ("InProgress", "InProgress", -1)
        assert hooks.invocation(command_id)["StandardOutputContent"] == ""  # empty until it has ended
        hooks.clock.advance(hook_seconds - 0.5)
        assert hooks.status(command_id)[0] == "InProgress"
    hooks.clock.advance(0.5)
    found = hooks.invocation(command_id)
    assert (found["Status"], found["StatusDetails"], found["ResponseCode"]) == ("Success", "Success", 0)
    assert OWN_DOCUMENT in found["StandardOutputContent"] and hooks.instance_id in found["StandardOutputContent"]
    assert found["StandardErrorContent"] == ""


@pytest.mark.parametrize("document", [OWN_DOCUMENT, "AWS-RunShellScript"])
def test_with_hook_failed_every_hook_run_on_the_instance_fails_with_response_code_1_and_an_error_line(world, document):
    # Given an instance with hook_failed
    hooks = make(world, faults={"hook_failed"}, hook_seconds=20)
    parameters = {"commands": ["./smoke-test"]} if document == "AWS-RunShellScript" else {}

    # When two hook documents are run on it, one after the other
    first = hooks.send(document, parameters)
    hooks.clock.advance(DELIVERY_SECONDS + 20)
    second = hooks.send(document, parameters, comment="autopatch AfterHealthy run r")
    hooks.clock.advance(DELIVERY_SECONDS + 20)

    # Then both end Failed, ResponseCode 1, a line on standard error naming the document and the instance
    for command_id in (first, second):
        found = hooks.invocation(command_id)
        assert (found["Status"], found["StatusDetails"], found["ResponseCode"]) == ("Failed", "Failed", 1)
        assert document in found["StandardErrorContent"] and hooks.instance_id in found["StandardErrorContent"]


@pytest.mark.parametrize("cancelled_after", [DELIVERY_SECONDS, 60, 3600])
def test_with_hook_timeout_a_hook_document_stays_in_progress_until_it_is_cancelled(world, cancelled_after):
    # Given an instance with hook_timeout, and a hook document sent to it (a delivery timeout of 600 s)
    hooks = make(world, faults={"hook_timeout"})
    command_id = hooks.send(timeout=600)

    # When it is cancelled `cancelled_after` seconds later (past its delivery timeout too)
    hooks.clock.advance(cancelled_after)
    assert hooks.status(command_id) == ("InProgress", "InProgress", -1)
    hooks.world.call("ssm", "CancelCommand", CommandId=command_id, InstanceIds=[hooks.instance_id])

    # Then it had stayed InProgress, and is Cancelled now, with its status-change event
    assert hooks.status(command_id)[:2] == ("Cancelled", "Cancelled")
    assert [event[2]["status"] for event in hooks.events] == ["Cancelled"]


@pytest.mark.parametrize(
    "faults, hook_seconds, execution_timeout, ends_after, status",
    [
        ((), 60, "30", 30, "TimedOut"),
        ((), 20, "30", 20, "Success"),
        ((), 30, "30", 30, "Success"),
        ({"hook_timeout"}, 10, None, 3600, "TimedOut"),
        ({"hook_timeout"}, 10, "90", 90, "TimedOut"),
        ({"hook_failed"}, 10, "90", 10, "Failed"),
    ],
)
def test_run_shell_script_runs_at_most_its_execution_timeout(
    world, faults, hook_seconds, execution_timeout, ends_after, status
):
    # Given an instance whose hooks take hook_seconds (for ever with hook_timeout)
    hooks = make(world, faults=faults, hook_seconds=hook_seconds)
    parameters = {"commands": ["./drain"]}
    if execution_timeout is not None:
        parameters["executionTimeout"] = [execution_timeout]

    # When AWS-RunShellScript runs on it, with its executionTimeout (3600 s unless told)
    command_id = hooks.send("AWS-RunShellScript", parameters, timeout=60)
    hooks.clock.advance(DELIVERY_SECONDS + ends_after - 0.5)
    assert hooks.status(command_id)[0] == "InProgress"
    hooks.clock.advance(0.5)

    # Then it ends when its hook does, or TimedOut "Execution Timed Out" once it has run executionTimeout seconds
    found = hooks.invocation(command_id)
    details = "Execution Timed Out" if status == "TimedOut" else status
    assert (found["Status"], found["StatusDetails"]) == (status, details)
    assert (found["StandardErrorContent"] != "") == (status != "Success")
    assert [event[2]["status"] for event in hooks.events] == [status]


@pytest.mark.parametrize("timeout", [30, 600])
def test_a_hook_document_no_agent_takes_times_out_at_its_delivery_timeout(world, timeout):
    # Given an instance whose agent is offline
    hooks = make(world, agent_online=False)

    # When a hook document is sent with a delivery timeout
    command_id = hooks.send(timeout=timeout)

    # Then it stays Pending until then, then TimedOut "Delivery Timed Out", never having run
    hooks.clock.advance(timeout - 1)
    assert hooks.status(command_id) == ("Pending", "Pending", -1)
    hooks.clock.advance(1)
    assert hooks.status(command_id) == ("TimedOut", "Delivery Timed Out", -1)


@pytest.mark.parametrize("terminated_after, left", [(1, "Pending"), (DELIVERY_SECONDS + 1, "InProgress")])
def test_the_agent_of_a_terminated_instance_dies_with_it_and_its_hook_never_ends(world, terminated_after, left):
    # Given a hook document sent to an instance that EC2 terminates before or after the agent takes it
    hooks = make(world, hook_seconds=30)
    command_id = hooks.send(timeout=600)
    hooks.clock.advance(terminated_after)
    hooks.sim.ec2_terminated = True

    # When more than the hook's time passes (not its delivery timeout)
    hooks.clock.advance(120)

    # Then it has not ended by itself, and sent no status-change event
    assert hooks.status(command_id)[0] == left
    assert hooks.events == []


def test_a_hook_document_does_not_patch_reboot_or_set_off_the_alarm(world):
    # Given an instance missing patches, with alarm_after_patch and paused_after_patch
    hooks = make(world, faults={"alarm_after_patch", "paused_after_patch"})
    before = dict(hooks.sim.patches), hooks.sim.last_operation

    # When a hook document runs on it to the end
    command_id = hooks.send()
    hooks.clock.advance(DELIVERY_SECONDS + 10)

    # Then it succeeded, and the instance is as it was: its patches, no reboot, no alarm, nothing in the timeline
    # but the command
    assert hooks.status(command_id)[0] == "Success"
    assert (dict(hooks.sim.patches), hooks.sim.last_operation) == before
    assert hooks.rebooted == []
    assert hooks.world.timeline == [f"{OWN_DOCUMENT} sent ({command_id[:8]})", f"{OWN_DOCUMENT} Success"]


def test_get_command_invocation_keeps_the_first_24000_characters_of_output_and_8000_of_errors(hooks):
    # Given a hook document that has ended, having written more than Systems Manager keeps
    command_id = hooks.send()
    hooks.clock.advance(DELIVERY_SECONDS + 10)
    invocation = hooks.model.invocations[(command_id, hooks.instance_id)]
    invocation.stdout, invocation.stderr = "o" * 30_000, "e" * 9_000

    # When its invocation is read
    found = hooks.invocation(command_id)

    # Then its output is cut to 24,000 characters, its errors to 8,000
    assert (found["StandardOutputContent"], found["StandardErrorContent"]) == ("o" * 24_000, "e" * 8_000)


def test_the_patch_document_reports_its_output_too(hooks):
    # Given a patch (Install) of an instance missing 6 patches
    command_id = hooks.send("AWS-RunPatchBaseline", {"Operation": ["Install"]})

    # When it has ended
    hooks.clock.advance(DELIVERY_SECONDS + 300)

    # Then its output says what it did; it rebooted the instance
    found = hooks.invocation(command_id)
    assert found["Status"] == "Success"
    assert found["StandardOutputContent"] == f"Install on {hooks.instance_id}: 46 installed, 0 missing, 0 failed\n"
    assert hooks.rebooted == [hooks.instance_id]


# --- the status-change event ---------------------------------------------------------------------------------


def command_ended_patterns() -> list[dict]:
    """The template's EventBridge patterns on Systems Manager's command status-change events."""
    detail_type = "EC2 Command Invocation Status-change Notification"
    patterns = [p for fn in load_stack().functions.values() for p in fn.event_patterns]
    return [p for p in patterns if detail_type in p.get("detail-type", [])]


@pytest.mark.parametrize("faults, status", [((), "Success"), ({"hook_failed"}, "Failed")])
def test_every_document_sends_its_status_change_event_and_only_the_patch_s_matches_the_template_s_rule(
    world, faults, status
):
    # Given an instance on which a hook document and a patch run to their end
    hooks = make(world, faults=faults)
    hooks.send()
    hooks.send("AWS-RunPatchBaseline", {"Operation": ["Scan"]})
    hooks.clock.advance(DELIVERY_SECONDS + 60)

    # When their status-change events are matched against the template's rules, as the engine matches them
    events = {
        event[2]["document-name"]: {"detail-type": event[0], "source": event[1], "detail": event[2]}
        for event in hooks.events
    }

    # Then each document sent its event, with its status; only the patch's reaches a function
    assert {name: event["detail"]["status"] for name, event in events.items()} == {
        OWN_DOCUMENT: status,
        "AWS-RunPatchBaseline": "Success",
    }
    patterns = command_ended_patterns()
    assert patterns, "the template has no rule on command status-change events"
    assert any(matches(p, events["AWS-RunPatchBaseline"]) for p in patterns)
    assert not any(matches(p, events[OWN_DOCUMENT]) for p in patterns)


# --- the scenario ----------------------------------------------------------------------------------------------


def group(**fields) -> dict:
    return {"groups": [{"name": "web", "instances": 2, **fields}]}


@pytest.mark.parametrize("hook_seconds", [0, 1, 10, 3600])
def test_hook_seconds_is_a_group_field_default_10(hook_seconds):
    assert parse_scenario(group()).groups[0].hook_seconds == 10
    assert parse_scenario(group(hook_seconds=hook_seconds)).groups[0].hook_seconds == hook_seconds


@pytest.mark.parametrize("value", [-1, 1.5, "10", True, None])
def test_hook_seconds_must_be_a_non_negative_integer(value):
    with pytest.raises(ScenarioError, match=r"groups\[0\]\.hook_seconds"):
        parse_scenario(group(hook_seconds=value))


@pytest.mark.parametrize("faults", ["hook_failed", "hook_timeout", ["hook_failed", "agent_offline"]])
def test_the_hook_faults_are_instance_faults(faults):
    assert {"hook_failed", "hook_timeout"} <= set(FAULTS)
    spec = parse_scenario(group(faults={"1": faults})).groups[0]
    assert spec.faults[1] == set([faults] if isinstance(faults, str) else faults)


def test_a_misspelled_hook_fault_is_refused_naming_the_known_ones():
    with pytest.raises(ScenarioError, match=r"unknown fault 'hook_fails'; known: .*hook_failed, hook_timeout"):
        parse_scenario(group(faults={"0": "hook_fails"}))


def template(tmp_path, declared: bool):
    """A template with one parameter of its own, declaring HookDocumentNames or not."""
    hook = "  HookDocumentNames: {Type: CommaDelimitedList, Default: ''}\n" if declared else ""
    path = tmp_path / "template.yaml"
    path.write_text(
        "Parameters:\n  OptInTagValue: {Type: String, Default: enabled}\n" + hook + "Resources:\n"
        "  Machine:\n    Type: AWS::Serverless::StateMachine\n"
        "    Properties: {DefinitionUri: statemachine/rolling_patch.asl.json}\n"
    )
    return path


@pytest.mark.parametrize("declared", [False, True])
def test_the_hook_parameters_reach_the_stack_only_once_the_template_declares_them(tmp_path, declared):
    # Given a template that declares HookDocumentNames, or not yet
    path = template(tmp_path, declared)

    # When the stack is loaded with the hook parameters as overrides
    stack = load_stack(path, {"HookDocumentNames": "MyApp-Drain", "HookFunctionArns": "arn"}, HOOK_PARAMETERS)

    # Then a declared one takes its value, an undeclared one is left out rather than refused
    assert stack.parameters == {
        "OptInTagValue": "enabled",
        **({"HookDocumentNames": "MyApp-Drain"} if declared else {}),
    }


def test_any_other_parameter_the_template_does_not_declare_is_refused(tmp_path):
    with pytest.raises(ValueError, match="the template has no parameter 'HookDocumentName'"):
        load_stack(template(tmp_path, True), {"HookDocumentName": "MyApp-Drain"}, HOOK_PARAMETERS)
