"""Read the instance's patch compliance after a command. After an Install, failed patches are a failure
(PatchesFailed), even though the command itself succeeded."""

from aws_lambda_powertools import Logger, Tracer

from autopatch import compliance
from autopatch.clients import named_aws_errors
from autopatch.errors import InvalidInput
from autopatch.event import field, instance_id
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    instance, operation = instance_id(event), field(event, "Operation", str)
    if operation not in ("Install", "Scan"):
        raise InvalidInput("Operation must be Install or Scan.")
    state = compliance.patch_state(instance)
    logger.info("Compliance", extra={"instance_id": instance, "compliance": state})
    if operation == "Install":
        compliance.check_install(instance, state)
    return {"Compliance": state, "Compliant": compliance.compliant(state)}
