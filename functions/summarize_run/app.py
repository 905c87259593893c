"""Summarize the run: per instance its group, result and command id; counts per result; why it stopped."""

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from autopatch import alerts, ledger, runs
from autopatch.step import step
from autopatch.steps import SummarizeRunEvent
from autopatch.summary import summarize

logger = Logger()
metrics = Metrics()


@step(SummarizeRunEvent, logger, metrics)
def lambda_handler(event: SummarizeRunEvent, context):
    run_id = event.run_id
    paused = [name for name in event.group_names if ledger.stop_reason(f"{run_id}#{name}")]
    summary = summarize(
        run_id,
        event.max_errors,
        runs.all_results(run_id),
        planned=runs.plan(run_id),
        recovered=event.recovered,
        stop_reason=ledger.stop_reason(run_id),
        paused=paused,
        bake=event.bake_ami,
    )
    summary["ReportLocation"] = runs.save_summary(run_id, summary)
    if os.environ.get("NOTIFY_RUN_FINISHED") == "true":
        alerts.publish_summary(os.environ["ALERT_TOPIC_ARN"], summary, event.execution_arn)
    metrics.add_metric(name="InstancesSkipped", unit=MetricUnit.Count, value=summary["Counts"]["Skipped"])
    if "Bakes" in summary:
        for name, status in (("ImagesBaked", "Baked"), ("ImageBakesFailed", "Failed")):
            baked = sum(b["Status"] == status for b in summary["Bakes"])
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=baked)
    logger.info(summary["Message"], extra={"counts": summary["Counts"], "report": summary["ReportLocation"]})
    if len(summary["Instances"]) > runs.SUMMARY_INLINE_LIMIT:
        summary["Instances"] = f"{len(summary['Instances'])} instances: see ReportLocation"
    return summary
