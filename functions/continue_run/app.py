"""Start the run's next execution, which patches the next slice (once, however often it is called)."""

from aws_lambda_powertools import Logger

from autopatch import runs
from autopatch.step import step
from autopatch.steps import ContinueRunEvent

logger = Logger()


@step(ContinueRunEvent, logger)
def lambda_handler(event: ContinueRunEvent, context):
    continuation = {
        "RunId": event.run_id,
        "Part": event.part + 1,
        "Pass": event.pass_number,
        "Offset": event.offset,
        "PreviousExecutionArn": event.execution_arn,
        "SnapshotId": event.snapshot_id,
        "Settings": event.settings,
        "GroupNames": event.group_names,
        "Recovered": event.recovered,
    }
    name, execution = runs.start_continuation(event.state_machine_arn, continuation)
    logger.info(
        "Run continues in a new execution", extra={"execution": name, "pass": event.pass_number, "offset": event.offset}
    )
    return {"ContinuedAs": name, "ExecutionArn": execution}
