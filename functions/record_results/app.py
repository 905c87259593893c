"""Keep this execution's per-instance results in the run's report (S3), where the summary reads them,
and say whether the run has stopped."""

from autopatch import runs
from autopatch.step import step
from autopatch.steps import RecordResultsEvent


@step(RecordResultsEvent)
def lambda_handler(event: RecordResultsEvent, context):
    runs.save_part(event.run_id, event.part, event.results)
    # a run that has stopped does not continue: its summary reports the rest as NotStarted
    return {"Recorded": len(event.results), "Stopped": runs.stopped(event.run_id, event.max_errors)}
