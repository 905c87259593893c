"""Release the run's hold on its groups (at the end of the run, whatever its outcome), first giving back what the
run still has changed on them: the instance it added (KeepCapacity), a MaxSize it raised, AZRebalance it
suspended."""

from autopatch import groups, ledger, surge
from autopatch.step import step
from autopatch.steps import ReleaseLocksEvent


@step(ReleaseLocksEvent)
def lambda_handler(event: ReleaseLocksEvent, context):
    try:
        for name in event.group_names:
            surge.give_back(name, event.run_id)
        groups.let_go(event.group_names, event.run_id)
    finally:  # a group that cannot be given back is still released: the next run's recovery gives it back
        ledger.release_locks(event.group_names, event.execution_arn)
    return {"Released": event.group_names}
