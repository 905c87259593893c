"""Tag an instance with its patch state (InProgress, Completed or Failed) and the run id. A Failed instance
is also counted in the run ledger, against the run's MaxErrors."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from autopatch import ledger, tags
from autopatch.clients import named_aws_errors
from autopatch.event import field, instance_id
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()
metrics = Metrics()
RESULT_METRICS = {"Completed": "InstancesPatched", "Failed": "InstancesFailed"}


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@metrics.log_metrics
@named_aws_errors
def lambda_handler(event, context):
    instance, run_id = instance_id(event), field(event, "RunId", str)
    value = field(event, "Value", str)
    tags.tag_instance(instance, value, run_id)
    if value == "Failed":
        ledger.record_failure(run_id, instance)
    if value in RESULT_METRICS:
        metrics.add_metric(name=RESULT_METRICS[value], unit=MetricUnit.Count, value=1)
    logger.info("Tagged", extra={"instance_id": instance, "value": value})
    return {"Tag": value}
