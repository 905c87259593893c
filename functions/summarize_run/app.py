"""Summarize the run: per instance its group, result and command id; counts per result; why it stopped."""

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from autopatch import alerts, ledger, runs
from autopatch.clients import named_aws_errors
from autopatch.event import arn, field, group_names, objects
from autopatch.observability import run_context
from autopatch.summary import summarize

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@metrics.log_metrics
@named_aws_errors
def lambda_handler(event, context):
    run_id, execution_arn, max_errors = (
        field(event, "RunId", str),
        arn(event, "ExecutionArn", "states"),
        field(event, "MaxErrors", int),
    )
    names, recovered = group_names(event), objects(event, "Recovered", ("InstanceId", "GroupName"), [])
    paused = [name for name in names if ledger.stop_reason(f"{run_id}#{name}")]
    summary = summarize(
        run_id,
        max_errors,
        runs.all_results(run_id),
        planned=runs.plan(run_id),
        recovered=recovered,
        stop_reason=ledger.stop_reason(run_id),
        paused=paused,
        bake=field(event, "BakeAmi", bool, False),
    )
    summary["ReportLocation"] = runs.save_summary(run_id, summary)
    if os.environ.get("NOTIFY_RUN_FINISHED") == "true":
        alerts.publish_summary(os.environ["ALERT_TOPIC_ARN"], summary, execution_arn)
    metrics.add_metric(name="InstancesSkipped", unit=MetricUnit.Count, value=summary["Counts"]["Skipped"])
    if "Bakes" in summary:
        for name, status in (("ImagesBaked", "Baked"), ("ImageBakesFailed", "Failed")):
            baked = sum(b["Status"] == status for b in summary["Bakes"])
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=baked)
    logger.info(summary["Message"], extra={"counts": summary["Counts"], "report": summary["ReportLocation"]})
    if len(summary["Instances"]) > runs.SUMMARY_INLINE_LIMIT:
        summary["Instances"] = f"{len(summary['Instances'])} instances: see ReportLocation"
    return summary
