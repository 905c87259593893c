"""Operating it: alerts that always fire (SNS, EventBridge, Slack), compliance, and what the person on call sees."""

import pytest
from simulation_checks import calls_on, fleet_calls, simulate

from autopatch import FOOTER, slack
from simulator.engine import SIMULATED_WEBHOOK

pytestmark = pytest.mark.simulation

SLACK = {"SlackWebhookSecretName": "slack/patching", "NotifyRunFinished": "true"}


def group(name="web", instances=3, **extra):
    return {"name": name, "instances": instances, "min_size": 1, "max_size": 6, "patch_seconds": 300, **extra}


def test_a_run_stopped_by_hand_is_alerted_by_email_and_slack():
    # Given a run that an operator stops in the middle of the second instance's patch
    scenario = {"groups": [group()], "input": {}, "parameters": SLACK, "stop_at": 600}

    # (the invariants hold: the clean-up returned that instance to service)
    report = simulate(scenario)

    assert report["status"] == "ABORTED"
    (alert,) = [n for n in report["notifications"] if n["source"] == "eventbridge"]
    assert "ended ABORTED" in alert["message"]
    assert "#/v2/executions/details/arn:aws:states:" in alert["message"]
    assert "its clean-up returns that instance to service within minutes" in alert["message"]
    texts = [m["payload"]["text"] for m in report["slack"]]
    assert any("ended ABORTED" in t for t in texts)
    assert any(t.startswith(":broom: Patch run run-20260104T0300 cleaned up after it ended ABORTED") for t in texts)


def test_every_alert_reaches_slack_formatted_for_people_and_the_url_is_never_logged():
    # Given a run with a failed instance, then an alarm that stops the run, with Slack and summaries on
    scenario = {
        "groups": [group(alarm="web-5xx", faults={"0": "patch_failed", "1": "alarm_after_patch"})],
        "input": {"MaxErrors": 1},
        "parameters": SLACK,
    }

    report = simulate(scenario)

    texts = [m["payload"]["text"] for m in report["slack"]]
    assert any(t.startswith(":x: Patching failed") for t in texts)  # the instance
    assert any(t.startswith(":octagonal_sign: Patching stopped") for t in texts)  # the gate
    assert any("finished: Stopped" in t for t in texts)  # the run's summary
    assert any("ended FAILED" in t for t in texts)  # EventBridge: the execution
    for message in report["slack"]:
        blocks = message["payload"]["blocks"]
        assert blocks[0]["type"] == "header"
        assert any("What to do:" in b.get("text", {}).get("text", "") for b in blocks)
    # a link to the execution on every message that names one, then the version that sent it, last
    assert all([b["type"] for b in m["payload"]["blocks"]][-2:] == ["actions", "context"] for m in report["slack"])
    assert {m["payload"]["blocks"][-1]["elements"][0]["text"] for m in report["slack"]} == {FOOTER}
    assert report["logs"], "the functions log"
    assert not [line for line in report["logs"] if SIMULATED_WEBHOOK in line or "hooks.slack.com" in line]


def test_slack_is_not_touched_when_the_stack_has_no_webhook():
    report = simulate({"groups": [group(faults={"0": "patch_failed"})], "input": {}})

    assert report["slack"] == []
    assert len(report["notifications"]) == 2  # the instance's alert, and the execution that ended FAILED


@pytest.mark.parametrize("kind", slack.KINDS)
def test_a_slack_message_is_built_for_each_alert_kind(kind):
    body = "Patch run x ended FAILED.\nExecution: https://us-east-1.console.aws.amazon.com/states/home#/v2/x"

    message = slack.message("Patch run alert", body, kind)

    assert message["text"].endswith("Patch run alert")
    [actions] = [b for b in message["blocks"] if b["type"] == "actions"]
    assert actions["elements"][0]["url"].startswith("https://us-east-1.console.aws.amazon.com")
    assert slack.WHAT_TO_DO[kind] in message["blocks"][2]["text"]["text"]


def test_scan_reports_compliance_and_touches_no_lifecycle_state():
    scenario = {"groups": [group(instances=3, compliant=[1])], "input": {"Operation": "Scan"}}

    report = simulate(scenario)

    assert report["status"] == "SUCCEEDED"
    assert {c["operation"] for c in fleet_calls(report)} == {"SendCommand"}
    assert report["groups"][0]["max_out_of_service"] == 0
    assert [i["compliance"]["missing"] for i in report["instances"]] == [6, 0, 6]
    assert all(i["compliance"]["installed"] == 40 for i in report["instances"])


def test_skip_compliant_patches_only_the_instances_that_miss_patches():
    scenario = {"groups": [group(instances=4, compliant=[0, 2])], "input": {"SkipCompliant": True}}

    report = simulate(scenario)

    assert report["status"] == "SUCCEEDED"
    assert [i["result"] for i in report["instances"]] == ["Skipped", "Completed", "Skipped", "Completed"]
    for skipped in (report["instances"][0], report["instances"][2]):
        operations = [c["operation"] for c in calls_on(report, skipped["instance_id"])]
        assert operations == ["SendCommand"]  # the scan, in place: never out of service
    patched = report["instances"][1]
    assert patched["compliance"] == {"installed": 46, "missing": 0, "failed": 0, "pending_reboot": 0}


def test_an_install_that_succeeds_but_leaves_failed_patches_is_a_failure():
    report = simulate({"groups": [group(faults={"0": "failed_patches"})], "input": {}})

    assert report["status"] == "FAILED"
    assert report["instances"][0]["result"] == "Failed"
    alert = next(n for n in report["notifications"] if n["source"] == "run")
    assert "PatchesFailed" in alert["message"]


def test_no_reboot_leaves_patches_pending_reboot_in_the_report():
    report = simulate({"groups": [group(instances=2)], "input": {"RebootOption": "NoReboot"}})

    assert report["status"] == "SUCCEEDED"
    assert [i["compliance"]["pending_reboot"] for i in report["instances"]] == [6, 6]


def test_every_log_line_names_its_run_and_metrics_count_the_results():
    import json

    report = simulate({"groups": [group(instances=3, faults={"2": "patch_failed"})], "input": {"MaxErrors": 1}})

    # JSON lines (Powertools' logs and EMF metrics); a Python warning is plain text, as in CloudWatch Logs
    lines = [json.loads(line) for line in report["logs"] if line.startswith("{")]
    logged = [line for line in lines if "level" in line]
    emf = [line for line in lines if "_aws" in line]
    assert logged and all(line.get("run_id") == "run-20260104T0300" for line in logged)
    per_instance = [line for line in logged if line["function_name"] in ("TagInstanceFunction", "EnterStandbyFunction")]
    assert per_instance and all(line.get("instance_id", "").startswith("i-") for line in per_instance)
    assert all(line.get("group") == "web" for line in per_instance if line["function_name"] == "EnterStandbyFunction")

    def total(name):
        return sum(sum(line.get(name, [])) if isinstance(line.get(name), list) else line.get(name, 0) for line in emf)

    assert total("InstancesPatched") == 2
    assert total("InstancesFailed") == 1
    assert total("PatchDuration") > 0
