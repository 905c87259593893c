"""Start the run's next execution, which patches the next slice. Starting it twice starts it once: the name
is derived from the run and the part, and Step Functions refuses a second execution of that name."""

import json

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from autopatch import runs
from autopatch.clients import client
from autopatch.step import step
from autopatch.steps import ContinueRunEvent

logger = Logger()


@step(ContinueRunEvent, logger)
def lambda_handler(event: ContinueRunEvent, context):
    part = event.part + 1
    name = runs.continuation_name(event.run_id, part)
    continuation = {
        "RunId": event.run_id,
        "Part": part,
        "Offset": event.offset,
        "PreviousExecutionArn": event.execution_arn,
        "SnapshotId": event.snapshot_id,
        "Settings": event.settings,
        "GroupNames": event.group_names,
        "Recovered": event.recovered,
    }
    machine = event.state_machine_arn
    try:
        started = client("stepfunctions").start_execution(
            stateMachineArn=machine, name=name, input=json.dumps({"Continuation": continuation})
        )
        execution = started["executionArn"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        execution = f"{machine.replace(':stateMachine:', ':execution:')}:{name}"
    logger.info("Run continues in a new execution", extra={"execution": name, "offset": continuation["Offset"]})
    return {"ContinuedAs": name, "ExecutionArn": execution}
