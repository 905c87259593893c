"""summarize_run: the run's summary, its outcome and the notification that it finished.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import json

import pytest

from autopatch import VERSION
from tests.handlers.helpers import (
    EXECUTION_ARN,
    NOW,
    RUN_ID,
    gate_event,
    record_event,
    result,
    runs_own_standby,
    sent_kinds,
    sent_messages,
    set_group_tag,
    twice,
)


def summary_event(names=("web",), max_errors=0, recovered=()):
    return {
        "RunId": RUN_ID,
        "ExecutionArn": EXECUTION_ARN,
        "GroupNames": list(names),
        "MaxErrors": max_errors,
        "Recovered": list(recovered),
    }


def put_report(aws, bucket, name, document):
    aws.client("s3").put_object(Bucket=bucket, Key=f"runs/{RUN_ID}/{name}", Body=json.dumps(document).encode())


def test_summarize_run_lists_every_planned_instance_and_keeps_the_summary_in_the_report(
    aws, ledger, report_bucket, load_handler, lambda_context
):
    # Given a plan of 4 instances in 2 groups (one skipped by preflight), and the results of two parts
    skipped = {"InstanceId": "i-00000005", "GroupName": "api", "Result": "Skipped", "Reason": "ConnectionLost"}
    put_report(
        aws,
        report_bucket,
        "plan.json",
        {
            "Groups": [
                {"GroupName": "web", "Instances": ["i-00000001", "i-00000002"]},
                {"GroupName": "api", "Instances": ["i-00000003", "i-00000004"]},
            ],
            "Skipped": [skipped],
        },
    )
    record = load_handler("record_results")
    record.lambda_handler(record_event(1, [[result("i-00000001", "web", "Completed", "c-1")]], 1), lambda_context)
    part2 = [[result("i-00000002", "web", "Failed", "c-2")], [result("i-00000003", "api", "Completed", "c-3")]]
    record.lambda_handler(record_event(2, part2, 1), lambda_context)
    app = load_handler("summarize_run")
    # When the run is summarized, twice
    first, second = twice(app, summary_event(["web", "api"], max_errors=1), lambda_context)
    # Then both agree: every planned instance with its result, the one no part reached NotStarted
    assert first == second
    assert [(i["InstanceId"], i["Result"], i["CommandId"]) for i in first["Instances"]] == [
        ("i-00000001", "Completed", "c-1"),
        ("i-00000002", "Failed", "c-2"),
        ("i-00000003", "Completed", "c-3"),
        ("i-00000004", "NotStarted", None),
        ("i-00000005", "Skipped", None),
    ]
    assert first["Counts"] == {"Completed": 2, "Failed": 1, "Skipped": 1, "NotStarted": 1, "Gone": 0, "GoneWhileOut": 0}
    assert first["Status"] == "Succeeded"
    assert first["Version"] == VERSION
    assert first["Message"] == (
        "2 instance(s) patched, 1 failed (MaxErrors=1). 1 skipped (already compliant, SSM agent"
        " offline, launched from the image the run baked, or patched recently: each says why)."
    )
    # and the summary is kept in the run's report, where the output points
    assert first["ReportLocation"] == f"s3://{report_bucket}/runs/{RUN_ID}/summary.json"
    body = aws.client("s3").get_object(Bucket=report_bucket, Key=f"runs/{RUN_ID}/summary.json")["Body"]
    assert json.loads(body.read()) == {k: v for k, v in first.items() if k != "ReportLocation"}


def test_summarize_run_fails_only_when_failures_exceed_max_errors(
    aws, ledger, report_bucket, load_handler, lambda_context
):
    # Given a plan of two instances, the first Failed, MaxErrors 0
    put_report(
        aws,
        report_bucket,
        "plan.json",
        {"Groups": [{"GroupName": "web", "Instances": ["i-01", "i-02"]}], "Skipped": []},
    )
    put_report(aws, report_bucket, "results-00001.json", [result("i-01", "web", "Failed", "c-1")])
    app = load_handler("summarize_run")
    # When the run is summarized
    summary = app.lambda_handler(summary_event(), lambda_context)
    # Then it failed, and says how many were left untouched
    assert summary["Status"] == "Failed"
    assert summary["Message"] == "1 instance(s) failed, more than MaxErrors=0: 1 instance(s) were left untouched."


def test_summarize_run_reports_why_the_gate_stopped_the_run(
    aws, fleet, ledger, held, report_bucket, alert_topic, load_handler, lambda_context
):
    # Given a run the gate stopped before its first instance because another one, the run's own, was in Standby
    put_report(
        aws,
        report_bucket,
        "plan.json",
        {"Groups": [{"GroupName": "web", "Instances": fleet.instance_ids}], "Skipped": []},
    )
    runs_own_standby(load_handler, lambda_context, fleet.instance_ids[1])
    stopped = load_handler("check_safe_to_continue").lambda_handler(gate_event(fleet.instance_ids[0]), lambda_context)
    app = load_handler("summarize_run")
    # When the run is summarized
    summary = app.lambda_handler(summary_event(), lambda_context)
    # Then it is Stopped, with the gate's reason
    assert summary["Status"] == "Stopped"
    assert summary["Message"] == f"The run stopped: {stopped['Reason']}. 3 instance(s) were left untouched."


def test_summarize_run_reports_a_paused_group_and_the_recovered_instances(
    aws, fleet, ledger, report_bucket, alert_topic, load_handler, lambda_context
):
    # Given a run whose gate paused "web" (tagged AutoPatch=paused) before its first instance
    put_report(
        aws,
        report_bucket,
        "plan.json",
        {"Groups": [{"GroupName": "web", "Instances": fleet.instance_ids}], "Skipped": []},
    )
    set_group_tag(aws, "web", "AutoPatch", "paused")
    load_handler("check_safe_to_continue").lambda_handler(gate_event(fleet.instance_ids[0]), lambda_context)
    recovered = [{"InstanceId": "i-0abcdef01", "GroupName": "web", "Deadline": NOW}]
    app = load_handler("summarize_run")
    # When the run is summarized
    summary = app.lambda_handler(summary_event(recovered=recovered), lambda_context)
    # Then it succeeded with "web" paused and its instances left, and lists the recovered instance
    assert summary["Status"] == "Succeeded"
    assert summary["PausedGroups"] == ["web"]
    assert summary["Recovered"] == ["i-0abcdef01"]
    assert summary["Message"].endswith("Paused before finishing: web (3 instance(s) were left untouched.)")


def test_summarize_run_of_a_large_run_points_at_the_report_for_the_list(
    aws, ledger, report_bucket, load_handler, lambda_context
):
    # Given a plan of 201 instances, all completed
    instances = [f"i-{n:08x}" for n in range(201)]
    put_report(
        aws, report_bucket, "plan.json", {"Groups": [{"GroupName": "web", "Instances": instances}], "Skipped": []}
    )
    put_report(aws, report_bucket, "results-00001.json", [result(i, "web", "Completed", "c") for i in instances])
    app = load_handler("summarize_run")
    # When the run is summarized
    summary = app.lambda_handler(summary_event(), lambda_context)
    # Then the output counts them and points at the report, which lists all 201
    assert summary["Instances"] == "201 instances: see ReportLocation"
    assert summary["Counts"]["Completed"] == 201
    body = aws.client("s3").get_object(Bucket=report_bucket, Key=f"runs/{RUN_ID}/summary.json")["Body"]
    assert len(json.loads(body.read())["Instances"]) == 201


@pytest.mark.parametrize("notify", ["true", "false"])
def test_summarize_run_sends_the_run_finished_notification_only_when_the_stack_asks(
    aws, ledger, report_bucket, alert_topic, load_handler, lambda_context, monkeypatch, notify
):
    # Given a finished run of two completed instances, and the stack parameter NotifyRunFinished
    monkeypatch.setenv("NOTIFY_RUN_FINISHED", notify)
    plan = {"Groups": [{"GroupName": "web", "Instances": ["i-01", "i-02"]}], "Skipped": []}
    put_report(aws, report_bucket, "plan.json", plan)
    put_report(aws, report_bucket, "results-00001.json", [result(i, "web", "Completed", "c") for i in ("i-01", "i-02")])
    app = load_handler("summarize_run")
    # When the run is summarized
    summary = app.lambda_handler(summary_event(), lambda_context)
    # Then with "true" one run-finished notification tells the result, counts, report and execution
    if notify == "false":
        assert sent_messages(alert_topic) == []
        return
    [(_, body, subject)] = sent_messages(alert_topic)
    assert sent_kinds(alert_topic) == ["run-finished"]
    assert subject == f"Patch run {RUN_ID} finished: Succeeded"
    assert body.splitlines()[0] == summary["Message"]
    assert "Instances:  2 Completed" in body
    assert f"Report:     {summary['ReportLocation']}" in body
    assert f"#/v2/executions/details/{EXECUTION_ARN}" in body
