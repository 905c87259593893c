"""Release the run's hold on its groups (at the end of the run, whatever its outcome)."""

from autopatch import ledger
from autopatch.step import step
from autopatch.steps import ReleaseLocksEvent


@step(ReleaseLocksEvent)
def lambda_handler(event: ReleaseLocksEvent, context):
    ledger.release_locks(event.group_names, event.execution_arn)
    return {"Released": event.group_names}
