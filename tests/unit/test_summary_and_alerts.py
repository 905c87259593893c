"""The run summary (summary.summarize) and the on-call alert text (alerts.failure_message)."""

import json

import pytest

from autopatch import VERSION, alerts
from autopatch.summary import summarize

EXECUTION_ARN = "arn:aws:states:eu-west-1:123456789012:execution:RollingPatch:run-7"


def item(instance, group, result, command_id=None, **extra):
    return {"InstanceId": instance, "GroupName": group, "Result": result, "CommandId": command_id, **extra}


def plan(*groups, skipped=()):
    """The run's plan as check_fleet keeps it: instances per group in order, and the ones skipped."""
    return {
        "Groups": [{"GroupName": name, "Instances": list(instances)} for name, instances in groups],
        "Skipped": list(skipped),
    }


WEB = ("web", ["i-00000001", "i-00000002"])
API = ("api", ["i-00000003"])


# --- summarize ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("results", "stop_reason", "status"),
    [
        ([item("i-00000001", "web", "Completed", "c-1")], None, "Succeeded"),
        ([item("i-00000001", "web", "Failed", "c-1")], None, "Failed"),
        ([], "alarm web-5xx is in ALARM", "Stopped"),
    ],
)
def test_every_summary_names_the_version_that_ran_the_run(results, stop_reason, status):
    # Given a run that succeeded, failed or stopped
    # When it is summarized
    summary = summarize("run-1", 0, results, plan(WEB), stop_reason=stop_reason)
    # Then its summary says which version of the product ran it, next to its id, whatever its status
    assert summary["Status"] == status
    assert summary["Version"] == VERSION
    assert list(summary)[:2] == ["RunId", "Version"]


def test_a_clean_run_succeeds_and_lists_every_planned_instance():
    # Given two groups whose instances all completed (results recorded by the executions, in any order)
    results = [
        item("i-00000003", "api", "Completed", "c-3"),
        item("i-00000001", "web", "Completed", "c-1"),
        item("i-00000002", "web", "Completed", "c-2"),
    ]
    # When the run is summarized
    summary = summarize("run-1", 0, results, plan(WEB, API))
    # Then it succeeded, every count is right and every instance is listed in plan order with its command
    assert summary["RunId"] == "run-1"
    assert summary["Status"] == "Succeeded"
    assert summary["Counts"] == {
        "Completed": 3,
        "Failed": 0,
        "Skipped": 0,
        "NotStarted": 0,
        "Gone": 0,
        "GoneWhileOut": 0,
    }
    assert summary["Message"] == "3 instance(s) patched, 0 failed (MaxErrors=0)."
    assert [(i["InstanceId"], i["GroupName"], i["Result"], i["CommandId"]) for i in summary["Instances"]] == [
        ("i-00000001", "web", "Completed", "c-1"),
        ("i-00000002", "web", "Completed", "c-2"),
        ("i-00000003", "api", "Completed", "c-3"),
    ]


def test_each_instance_carries_the_compliance_its_result_recorded():
    # Given a result with the compliance read after its command, and one without
    counts = {"installed": 12, "missing": 0, "failed": 0, "pending_reboot": 1, "operation": "Install"}
    results = [item("i-00000001", "web", "Completed", "c-1", Compliance=counts), item("i-00000002", "web", "Failed")]
    # When the run is summarized
    summary = summarize("run-1", 1, results, plan(WEB))
    # Then each instance shows its own
    assert [i["Compliance"] for i in summary["Instances"]] == [counts, None]


def test_failures_up_to_max_errors_still_succeed():
    # Given one failure in a run that allows one
    results = [
        item("i-00000001", "web", "Failed", "c-1", Step="Patch", Error="PatchCommandFailed"),
        item("i-00000002", "web", "Completed", "c-2"),
    ]
    # When the run is summarized
    summary = summarize("run-1", 1, results, plan(WEB))
    # Then it succeeded, and the message counts the failure against MaxErrors
    assert summary["Status"] == "Succeeded"
    assert summary["Counts"] == {
        "Completed": 1,
        "Failed": 1,
        "Skipped": 0,
        "NotStarted": 0,
        "Gone": 0,
        "GoneWhileOut": 0,
    }
    assert summary["Message"] == "1 instance(s) patched, 1 failed (MaxErrors=1)."
    # and the per-instance list keeps only the documented keys: a failed instance's with its step and error
    assert summary["Instances"][0] == {
        "InstanceId": "i-00000001",
        "GroupName": "web",
        "Result": "Failed",
        "CommandId": "c-1",
        "Compliance": None,
        "Step": "Patch",
        "Error": "PatchCommandFailed",
    }
    assert set(summary["Instances"][1]) == {"InstanceId", "GroupName", "Result", "CommandId", "Compliance"}


def test_planned_instances_no_execution_reached_are_not_started():
    # Given a plan of three instances and a result for the first only (the run stopped after it failed)
    results = [item("i-00000001", "web", "Failed", "c-1")]
    # When the run is summarized with MaxErrors 0
    summary = summarize("run-1", 0, results, plan(WEB, API))
    # Then the other two are NotStarted, the run failed, and the message says how many were left
    assert [i["Result"] for i in summary["Instances"]] == ["Failed", "NotStarted", "NotStarted"]
    assert summary["Instances"][1]["CommandId"] is None
    assert summary["Status"] == "Failed"
    assert summary["Counts"] == {
        "Completed": 0,
        "Failed": 1,
        "Skipped": 0,
        "NotStarted": 2,
        "Gone": 0,
        "GoneWhileOut": 0,
    }
    assert summary["Message"] == "1 instance(s) failed, more than MaxErrors=0: 2 instance(s) were left untouched."


def test_a_result_for_an_instance_outside_the_plan_is_not_listed():
    # Given a result for an instance the plan does not hold
    results = [item("i-00000001", "web", "Completed", "c-1"), item("i-0000000f", "web", "Failed", "c-f")]
    # When the run is summarized
    summary = summarize("run-1", 0, results, plan(("web", ["i-00000001"])))
    # Then the summary lists and counts the planned instances only
    assert [i["InstanceId"] for i in summary["Instances"]] == ["i-00000001"]
    assert summary["Status"] == "Succeeded"


@pytest.mark.parametrize(("before", "while_out"), [(0, 1), (1, 1), (1, 2), (0, 3)])
def test_instances_gone_while_out_of_service_are_told_apart_from_those_gone_before_their_turn(before, while_out):
    # Given three instances: `before` left before their turn, `while_out` went while out (each with its step)
    ids = ["i-00000001", "i-00000002", "i-00000003"]
    results = [
        item(i, "web", "Gone", None) if n < before else item(i, "web", "Gone", "c-1", Step="Patch")
        for n, i in enumerate(ids[: before + while_out])
    ] + [item(i, "web", "Completed", "c-2") for i in ids[before + while_out :]]
    # When the run is summarized with MaxErrors 0
    summary = summarize("run-1", 0, results, plan(("web", ids)))
    # Then it succeeded; both are Gone, counted apart; only the ones that went while out carry their step
    assert summary["Status"] == "Succeeded"
    assert (summary["Counts"]["Gone"], summary["Counts"]["GoneWhileOut"]) == (before + while_out, while_out)
    assert [i.get("Step") for i in summary["Instances"]] == [None] * before + ["Patch"] * while_out + [None] * (
        3 - before - while_out
    )
    assert (f"{before} left their group before their turn (Gone)." in summary["Message"]) is (before > 0)
    assert f"{while_out} went while the run was patching them (out of service, or during" in summary["Message"]


@pytest.mark.parametrize("gone", [1, 2])
def test_instances_that_left_their_group_before_their_turn_are_gone_not_failures(gone):
    # Given instances a scale-in or a Spot interruption took before their turn, the others patched
    ids = [f"i-0000000{n}" for n in range(1, 4)]
    results = [
        item(i, "web", "Gone" if n < gone else "Completed", None if n < gone else f"c-{n}") for n, i in enumerate(ids)
    ]
    # When the run is summarized with no error allowed
    summary = summarize("run-1", 0, results, plan(("web", ids)))
    # Then it succeeded, counts them Gone and says so
    assert summary["Status"] == "Succeeded"
    assert summary["Counts"] == {
        "Completed": 3 - gone,
        "Failed": 0,
        "Skipped": 0,
        "NotStarted": 0,
        "Gone": gone,
        "GoneWhileOut": 0,
    }
    assert f"{gone} left their group before their turn (Gone)." in summary["Message"]
    assert [i["Result"] for i in summary["Instances"]] == ["Gone"] * gone + ["Completed"] * (3 - gone)


def test_a_run_with_no_instances_succeeds_with_zero_counts():
    # Given groups without an InService instance
    # When the run is summarized
    summary = summarize("run-1", 0, [], plan(("web", []), ("api", [])))
    # Then it succeeded with nothing to count
    assert summary["Status"] == "Succeeded"
    assert summary["Counts"] == {
        "Completed": 0,
        "Failed": 0,
        "Skipped": 0,
        "NotStarted": 0,
        "Gone": 0,
        "GoneWhileOut": 0,
    }
    assert summary["Instances"] == []
    # and says nothing of recovered instances or paused groups it did not have
    assert "Recovered" not in summary
    assert "PausedGroups" not in summary


def test_instances_skipped_by_preflight_are_listed_and_counted():
    # Given one completed instance and one the preflight skipped because its SSM agent was offline
    skipped = [{"InstanceId": "i-00000002", "GroupName": "web", "Result": "Skipped", "Reason": "ConnectionLost"}]
    planned = plan(("web", ["i-00000001"]), skipped=skipped)
    # When the run is summarized
    summary = summarize("run-1", 0, [item("i-00000001", "web", "Completed", "c-1")], planned)
    # Then the skipped instance is listed without a command, with its reason, counted, and the message says why
    assert summary["Status"] == "Succeeded"
    assert summary["Counts"] == {
        "Completed": 1,
        "Failed": 0,
        "Skipped": 1,
        "NotStarted": 0,
        "Gone": 0,
        "GoneWhileOut": 0,
    }
    assert summary["Instances"][-1] == {
        "InstanceId": "i-00000002",
        "GroupName": "web",
        "Result": "Skipped",
        "CommandId": None,
        "Compliance": None,
        "Reason": "ConnectionLost",
    }
    assert summary["Message"] == (
        "1 instance(s) patched, 0 failed (MaxErrors=0). 1 skipped (already compliant, SSM agent"
        " offline, launched from the image the run baked, or patched recently: each says why)."
    )


def test_a_run_a_gate_stopped_is_stopped_and_says_why():
    # Given a run stopped by an alarm after one instance, two left untouched
    reason = "before i-00000002 of web: alarm cpu-high is in ALARM"
    # When the run is summarized
    summary = summarize("run-1", 0, [item("i-00000001", "web", "Completed", "c-1")], plan(WEB, API), stop_reason=reason)
    # Then it is Stopped, with the reason and what was left
    assert summary["Status"] == "Stopped"
    assert summary["Message"] == f"The run stopped: {reason}. 2 instance(s) were left untouched."


def test_failures_beyond_max_errors_outrank_a_stop_reason():
    # Given a run with one failure (MaxErrors 0) that a gate also stopped
    results = [item("i-00000001", "web", "Failed")]
    # When the run is summarized
    summary = summarize("run-1", 0, results, plan(WEB), stop_reason="before i-00000002 of web: i-00000001 is Standby")
    # Then it is Failed: the failures are what the person must act on first
    assert summary["Status"] == "Failed"
    assert summary["Message"].startswith("1 instance(s) failed, more than MaxErrors=0")


def test_paused_groups_and_recovered_instances_are_reported():
    # Given a run whose group "api" was paused before its instance, and an instance recovered from a dead run
    results = [item("i-00000001", "web", "Completed", "c-1"), item("i-00000002", "web", "Completed", "c-2")]
    recovered = [{"InstanceId": "i-00000009", "GroupName": "web", "Deadline": 1}]
    # When the run is summarized
    summary = summarize("run-1", 0, results, plan(WEB, API), recovered=recovered, paused=["api"])
    # Then it succeeded, names the paused group and what it left, and lists the recovered instance
    assert summary["Status"] == "Succeeded"
    assert summary["Message"] == (
        "2 instance(s) patched, 0 failed (MaxErrors=0). Paused before finishing: api "
        "(1 instance(s) were left untouched.)"
    )
    assert summary["PausedGroups"] == ["api"]
    assert summary["Recovered"] == ["i-00000009"]


# --- alerts ------------------------------------------------------------------------------------------


def failure(**overrides):
    base = {
        "InstanceId": "i-0123456789abcdef0",
        "GroupName": "web",
        "RunId": "run-7",
        "ExecutionArn": EXECUTION_ARN,
        "Step": "Patch",
        "Error": "PatchCommandFailed",
        "Cause": json.dumps({"errorMessage": "AWS-RunPatchBaseline Failed on i-0123456789abcdef0", "errorType": "X"}),
        "CommandId": "11111111-2222-3333-4444-555555555555",
        "ReturnedToService": True,
    }
    return {**base, **overrides}


def test_with_bake_ami_each_group_says_whether_it_was_baked_and_a_failed_bake_keeps_the_status():
    # Given web baked from its last instance, api whose bake failed, and db whose last instance was not reached
    baked = {"Status": "Baked", "ImageId": "ami-0b", "LaunchTemplateId": "lt-1", "Version": 5}
    failed = {"Status": "Failed", "ImageId": "ami-0c", "Error": "BakeTimedOut", "Cause": "..."}
    unused = {"Status": None, "ImageId": None}  # what every instance that is not baked from carries
    results = [
        item("i-00000001", "web", "Completed", Bake=unused),
        item("i-00000002", "web", "Completed", Bake=baked),
        item("i-00000003", "api", "Completed", Bake=failed),
        item("i-00000004", "db", "Completed", Bake=unused),
    ]
    # When the run is summarized with BakeAmi
    summary = summarize("run-1", 0, results, plan(WEB, API, ("db", ["i-00000004", "i-00000005"])), bake=True)
    # Then the patching decides the status, and Bakes says per group what happened to its image
    assert summary["Status"] == "Succeeded"
    assert summary["Bakes"] == [
        {"GroupName": "web", **baked},
        {"GroupName": "api", **failed},
        {
            "GroupName": "db",
            "Status": "NotBaked",
            "ImageId": None,
            "Reason": "its last instance, i-00000005, ended NotStarted: an image is taken only of a patched instance",
        },
    ]
    assert summary["Message"].endswith("Images: 1 baked, 1 not baked, 1 failed.")


def test_without_bake_ami_the_summary_has_no_bakes():
    summary = summarize("run-1", 0, [item("i-00000003", "api", "Completed")], plan(API))
    assert "Bakes" not in summary
    assert "Images" not in summary["Message"]


def test_the_bake_alert_says_the_patching_succeeded_and_the_template_is_unchanged():
    subject, body = alerts.bake_failure_message(
        {
            "InstanceId": "i-00000002",
            "GroupName": "web",
            "RunId": "run-7",
            "ExecutionArn": EXECUTION_ARN,
            "Step": "Bake the image",
            "Error": "ImageFailed",
            "Cause": json.dumps(
                {"errorType": "ImageFailed", "errorMessage": "Image ami-0c is failed: Internal error."}
            ),
            "ImageId": "ami-0c",
        }
    )
    assert subject == "Image bake failed: web, run run-7"
    for text in (
        "Patching Auto Scaling group web succeeded; baking its patched image did not.",
        "Error:        ImageFailed",
        "Cause:        Image ami-0c is failed: Internal error.",
        "Image:        ami-0c",
        "Instance:     i-00000002",
        "The launch template is as it was",
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/",
    ):
        assert text in body


def test_the_console_link_is_in_the_execution_region():
    # Given an execution in eu-west-1
    # When its console link is built
    url = alerts.execution_console_url(EXECUTION_ARN)
    # Then it opens that region's Step Functions console on the execution
    assert url == (
        f"https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/{EXECUTION_ARN}"
    )


def test_the_alert_names_instance_group_run_step_error_cause_command_and_execution():
    # Given a patch failure
    # When its alert is written
    subject, body = alerts.failure_message(failure())
    # Then the subject names instance, group and run, and the body has everything on-call needs
    assert subject == "Patching failed: i-0123456789abcdef0 in web, run run-7"
    lines = body.splitlines()
    assert lines[0] == "Patching instance i-0123456789abcdef0 of Auto Scaling group web failed."
    assert "Run:          run-7" in lines
    assert "Step:         Patch" in lines
    assert "Error:        PatchCommandFailed" in lines
    assert "Cause:        AWS-RunPatchBaseline Failed on i-0123456789abcdef0" in lines
    assert "Command id:   11111111-2222-3333-4444-555555555555" in lines
    assert "Instance:     back in service and healthy" in lines
    assert f"Execution:    {alerts.execution_console_url(EXECUTION_ARN)}" in lines


@pytest.mark.parametrize(
    ("returned", "text"),
    [
        (True, "back in service and healthy"),
        (False, "NOT back in service and healthy: check it"),
        (None, "was not taken out of service"),
        ("it was InService; it is patched again in this run", "it was InService; it is patched again in this run"),
    ],
)
def test_the_alert_says_whether_the_instance_is_back_in_service(returned, text):
    # Given a failure whose instance did, did not, or never needed to return to service, or a recovery's own words
    # When its alert is written
    _, body = alerts.failure_message(failure(ReturnedToService=returned))
    # Then the Instance line says so
    assert f"Instance:     {text}" in body


def test_without_a_command_the_alert_says_none_was_sent():
    # Given a failure before any patch command was sent
    # When its alert is written
    _, body = alerts.failure_message(failure(CommandId=None, Step="Take out of service"))
    # Then the command line says no command was sent
    assert "Command id:   none (no patch command was sent)" in body


@pytest.mark.parametrize(
    ("cause", "shown"),
    [
        ("plain text cause", "plain text cause"),
        ("", ""),
        ('["not", "an", "object"]', '["not", "an", "object"]'),
        (json.dumps({"errorType": "X"}), json.dumps({"errorType": "X"})),
    ],
)
def test_a_cause_that_is_not_a_lambda_error_is_shown_as_it_is(cause, shown):
    # Given a cause that is not a Lambda error document with an errorMessage
    # When the alert is written
    _, body = alerts.failure_message(failure(Cause=cause))
    # Then the cause is shown unchanged
    assert f"Cause:        {shown}\n" in body


def test_a_hooks_cause_shows_what_the_state_machine_says_then_the_hooks_own_message():
    # Given a hook's failure as the state machine words it: its own line, then the function's error document
    error = {"errorType": "SmokeTestFailed", "errorMessage": "GET /health answered 503", "stackTrace": ["x" * 900]}
    said = "The AfterHealthy hook, Function arn:aws:lambda:us-east-1:1:function:s, failed on i-1: SmokeTestFailed: "
    cause = said + json.dumps(error)
    # When the alert is written
    _, body = alerts.failure_message(failure(Cause=cause))
    # Then it shows the state machine's line and the function's message, not its stack trace
    assert f"Cause:        {said}GET /health answered 503\n" in body


def test_a_long_cause_is_shortened_and_a_long_subject_cut_to_the_sns_limit():
    # Given a 2,000-character cause and a 255-character group name
    long_group = "g" * 255
    # When the alert is written
    subject, body = alerts.failure_message(failure(GroupName=long_group, Cause="x" * 2_000))
    # Then the subject fits SNS's limit (less than 100 characters), the group name cut so that the run still shows,
    # and the cause shows 997 characters and "..."
    assert len(subject) == alerts.SUBJECT_LIMIT == 99
    assert subject.startswith("Patching failed: i-0123456789abcdef0 in ggg")
    assert subject.endswith("g…, run run-7")
    assert f"Cause:        {'x' * 997}...\n" in body
    # and the full group name is still in the body
    assert long_group in body


# --- every alert subject names its run and its group ---------------------------------------------------------


def stop_subject(scope, group="web", run="run-7"):
    sent = {}

    class Sns:
        def publish(self, **params):
            sent.update(params)
            return {"MessageId": "m-1"}

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(alerts, "client", lambda service: Sns())
        alerts.publish_stop("arn:aws:sns:eu-west-1:123456789012:t", run, EXECUTION_ARN, "why", scope, group)
    return sent["Subject"], sent["Message"]


def test_two_groups_paused_in_one_run_get_subjects_that_name_each_group_and_the_run():
    # Given two groups of one run paused by their AutoPatch tag
    # When each pause is alerted
    web, api = stop_subject("group", "web"), stop_subject("group", "api")
    # Then the subjects differ, and each names its group and the run; so does the body
    assert web[0] == "Patching paused: group web, run run-7"
    assert api[0] == "Patching paused: group api, run run-7"
    assert "Group:      api" in api[1]


def test_a_stopped_run_names_the_group_it_stopped_at():
    subject, body = stop_subject("run", "api")
    assert subject == "Patching stopped: run run-7, at group api"
    assert "Group:      api" in body


@pytest.mark.parametrize(
    ("group", "run"),
    [
        ("g" * 255, "r" * 80),
        ("web", "r" * 80),
        ("g" * 255, "run-7"),
        ("名前" * 100, "run-ü" * 16),
        ("a\nb\tc", "run\x7f"),
    ],
    ids=["both-long", "long-run", "long-group", "unicode", "control-characters"],
)
def test_every_subject_fits_sns_and_keeps_both_the_group_and_the_run(group, run):
    # Given names up to the longest AWS allows (a group name of 255 characters, a run id of 80), in any script
    subjects = [
        alerts.failure_message(failure(GroupName=group, RunId=run))[0],
        alerts.bake_failure_message({**failure(GroupName=group, RunId=run), "ImageId": None})[0],
        stop_subject("group", group, run)[0],
        stop_subject("run", group, run)[0],
    ]
    for subject in subjects:
        # Then each is less than 100 characters, on one line, and shows the start of the group and of the run
        assert len(subject) < 100
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in subject)
        assert alerts._printable(group)[:5] in subject and alerts._printable(run)[:3] in subject


@pytest.mark.parametrize(
    ("late", "ending"),
    [
        ([], " 2 joined their group during the run."),
        (
            [{"InstanceId": "i-00000004", "GroupName": "web", "Result": "NotStarted", "Reason": "joined late"}],
            " 3 joined their group during the run, 1 of them too late to be patched (NotStarted, with the reason).",
        ),
    ],
)
def test_instances_that_joined_during_the_run_are_listed_after_the_planned_ones(late, ending):
    # Given one planned instance, two newcomers a pass patched and skipped, and maybe one that joined too late
    planned = plan(("web", ["i-00000001"]))
    joined = [
        {"InstanceId": "i-00000002", "GroupName": "web"},
        {"InstanceId": "i-00000003", "GroupName": "web", "Result": "Skipped", "Reason": "launched from ami-1"},
        *late,
    ]
    results = [item("i-00000001", "web", "Completed", "c-1"), item("i-00000002", "web", "Completed", "c-2")]
    # When the run is summarized
    summary = summarize("run-1", 0, results, planned, joined=joined)
    # Then the newcomers follow the plan, marked JoinedDuringRun, with their result and any reason
    assert summary["Status"] == "Succeeded"
    lines = [(i["InstanceId"], i["Result"], i.get("JoinedDuringRun"), i.get("Reason")) for i in summary["Instances"]]
    assert lines == [
        ("i-00000001", "Completed", None, None),
        ("i-00000002", "Completed", True, None),
        ("i-00000003", "Skipped", True, "launched from ami-1"),
        *[(j["InstanceId"], "NotStarted", True, "joined late") for j in late],
    ]
    assert summary["Counts"]["NotStarted"] == len(late)
    assert summary["Message"].endswith(ending)


@pytest.mark.parametrize(
    ("failed", "stop", "status"), [(0, None, "WindowEnded"), (2, None, "Failed"), (0, "alarm", "Stopped")]
)
def test_a_run_its_window_ended_succeeds_with_the_rest_left_and_why(failed, stop, status):
    # Given a run whose window closed after two of five instances (and, in turn, failures or a stop as well)
    results = [item("i-1", "web", "Completed", "c-1"), item("i-2", "web", "Failed" if failed else "Completed", "c-2")]
    results += [item("i-3", "web", "Failed", "c-3")] if failed else []
    planned = plan(("web", ["i-1", "i-2", "i-3", "i-4", "i-5"]))
    # When the run is summarized with the window's end
    summary = summarize("run-1", 1, results, planned, stop_reason=stop, window_end="2026-01-04T05:00:00+01:00")
    # Then failures beyond MaxErrors, or a stop, say so as ever; otherwise the window ended it, nothing failed
    assert summary["Status"] == status
    if status != "WindowEnded":
        return
    assert summary["Message"] == (
        "The window closed at 2026-01-04T05:00:00+01:00: 2 instance(s) patched, 0 failed (MaxErrors=1). 3 instance(s)"
        " not started, left for the next run (NotStarted)."
    )
    left = [i for i in summary["Instances"] if i["Result"] == "NotStarted"]
    assert [i["InstanceId"] for i in left] == ["i-3", "i-4", "i-5"]
    assert {i["Reason"] for i in left} == {
        "the window closed (EndBy 2026-01-04T05:00:00+01:00) before it could be patched in time: the next run"
        " patches it"
    }


def test_a_run_that_patched_everything_in_its_window_succeeds():
    summary = summarize("run-1", 0, [item("i-1", "web", "Completed")], plan(("web", ["i-1"])), window_end="x")
    assert summary["Status"] == "Succeeded"


def test_the_window_notice_says_how_many_are_left_and_is_not_a_failure(monkeypatch):
    # Given the summary of a run its window ended with 3 instances left
    sent = []
    monkeypatch.setattr(alerts, "publish", lambda topic, subject, body, kind: sent.append((subject, body, kind)))
    summary = summarize(
        "run-7",
        0,
        [item("i-1", "web", "Completed")],
        plan(("web", ["i-1", "i-2", "i-3", "i-4"])),
        window_end="2026-01-04T05:00:00Z",
    )
    # When its notice is published
    alerts.publish_window_ended("topic", summary, EXECUTION_ARN)
    # Then it names the run and the count left, as a kind of its own
    ((subject, body, kind),) = sent
    assert (subject, kind) == ("Patch window ended: run run-7, 3 left", "window-ended")
    assert "3 instance(s) were not started" in body
    assert "Instances:  1 Completed, 3 NotStarted" in body
    assert "#/v2/executions/details/" + EXECUTION_ARN in body
