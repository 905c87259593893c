"""Keep this execution's per-instance results in the run's report (S3), where the summary reads them,
and say whether the run has stopped."""

from aws_lambda_powertools import Logger, Tracer

from autopatch import runs
from autopatch.clients import named_aws_errors
from autopatch.errors import InvalidInput
from autopatch.event import field, objects
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()
RESULT_FIELDS = ("InstanceId", "GroupName", "Result")


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    run_id, part, max_errors = field(event, "RunId", str), field(event, "Part", int), field(event, "MaxErrors", int)
    groups = field(event, "Results", list)  # the Map's output: per group, the results of its instances
    if not all(isinstance(group, list) for group in groups):
        raise InvalidInput("Results must be a list (per group) of lists of instance results.")
    results = objects({"Results": [item for group in groups for item in group]}, "Results", RESULT_FIELDS)
    runs.save_part(run_id, part, results)
    # a run that has stopped does not continue: its summary reports the rest as NotStarted
    return {"Recorded": len(results), "Stopped": runs.stopped(run_id, max_errors)}
