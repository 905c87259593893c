"""Run a hook's SSM document on the instance (BeforeStandby or AfterHealthy), once per run and phase, and follow it
within this invocation until it ends or its TimeoutSeconds passes. Done false: called again. A document that ends
other than Success is HookCommandFailed, one past its time HookTimedOut (cancelled): the state machine fails the
instance with HookFailed; an instance that leaves its group meanwhile is InstanceGone. A hook that is a Lambda
function is called by the state machine itself."""

from aws_lambda_powertools import Logger

from autopatch import hooks
from autopatch.step import step
from autopatch.steps import RunHookEvent

logger = Logger()


@step(RunHookEvent, logger)
def lambda_handler(event: RunHookEvent, context):
    run = (event.run_id, event.deadline, event.poll_interval)
    found = hooks.run_document(event.phase, event.hook, event.group, event.instance, run, context)
    logger.info("Hook", extra={"phase": event.phase, "instance_id": event.instance, **found})
    return {"Done": found["Done"], "Deadline": found["Deadline"]}
