"""Read the instance's patch compliance after a command. After an Install, failed patches are a failure
(PatchesFailed), even though the command itself succeeded."""

from aws_lambda_powertools import Logger

from autopatch import compliance
from autopatch.step import step
from autopatch.steps import ReadComplianceEvent

logger = Logger()


@step(ReadComplianceEvent, logger)
def lambda_handler(event: ReadComplianceEvent, context):
    state = compliance.patch_state(event.instance)
    logger.info("Compliance", extra={"instance_id": event.instance, "compliance": state})
    if event.operation == "Install":
        compliance.check_install(event.instance, state)
    return {"Compliance": state, "Compliant": compliance.compliant(state)}
