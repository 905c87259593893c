"""Tag an instance with its patch state (InProgress, Completed or Failed) and the run id. A Failed instance
is also counted in the run ledger, against the run's MaxErrors; unless, with GroupName, it is gone from its group
(left it, leaving it, terminated by EC2): then nothing failed, and InstanceGone says why. A Completed one is also
tagged with when this run patched it (SkipPatchedWithinHours), and, with GroupName, how long it took is kept for
the window's estimate."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from autopatch import groups, ledger, tags, window
from autopatch.errors import InstanceGone
from autopatch.step import step
from autopatch.steps import TagInstanceEvent

logger = Logger()
metrics = Metrics()
RESULT_METRICS = {"Completed": "InstancesPatched", "Failed": "InstancesFailed"}


@step(TagInstanceEvent, logger, metrics)
def lambda_handler(event: TagInstanceEvent, context):
    gone = event.value == "Failed" and event.group and groups.gone_reason(event.group, event.instance)
    if gone:
        raise InstanceGone(gone)
    tags.tag_instance(event.instance, event.value, event.run_id)
    if event.value == "Failed":
        ledger.record_failure(event.run_id, event.instance, event.reason)
    if event.value == "Completed" and event.group:
        window.patched(event.run_id, event.group, event.instance)
    if event.value in RESULT_METRICS:
        metrics.add_metric(name=RESULT_METRICS[event.value], unit=MetricUnit.Count, value=1)
    logger.info("Tagged", extra={"instance_id": event.instance, "value": event.value})
    return {"Tag": event.value}
