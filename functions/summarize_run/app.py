"""Summarize the run: per instance its group, result and command id (and for an instance that joined a group too
late to be patched, why); counts per result; why it stopped. A run its window ended sends one notice saying how
many instances are left for the next run."""

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from autopatch import alerts, newcomers, runs, window
from autopatch.step import step
from autopatch.steps import SummarizeRunEvent

logger = Logger()
metrics = Metrics()
BAKE_METRICS = {"Baked": "ImagesBaked", "Failed": "ImageBakesFailed"}


@step(SummarizeRunEvent, logger, metrics)
def lambda_handler(event: SummarizeRunEvent, context):
    stopped = runs.stopped(event.run_id, event.max_errors)
    late = newcomers.left_unpatched(event.run_id, event.group_names, event.bake_ami, os.environ["STACK_NAME"], stopped)
    summary = runs.summarize_run(
        event.run_id, event.max_errors, event.group_names, event.recovered, event.bake_ami, late, event.end_by
    )
    if summary["Status"] == "WindowEnded":
        # the one notice that the window ended the run (it stands for the "run finished" one), sent once
        if window.claim_notice(event.run_id):
            alerts.publish_window_ended(os.environ["ALERT_TOPIC_ARN"], summary, event.execution_arn)
            window.notice_sent(event.run_id)
    elif os.environ.get("NOTIFY_RUN_FINISHED") == "true":
        alerts.publish_summary(os.environ["ALERT_TOPIC_ARN"], summary, event.execution_arn)
    metrics.add_metric(name="InstancesSkipped", unit=MetricUnit.Count, value=summary["Counts"]["Skipped"])
    if "Bakes" in summary:
        for status, name in BAKE_METRICS.items():
            baked = sum(b["Status"] == status for b in summary["Bakes"])
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=baked)
    logger.info(summary["Message"], extra={"counts": summary["Counts"], "report": summary["ReportLocation"]})
    if len(summary["Instances"]) > runs.SUMMARY_INLINE_LIMIT:
        summary["Instances"] = f"{len(summary['Instances'])} instances: see ReportLocation"
    return summary
