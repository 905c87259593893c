"""Start the run's next execution, which patches the next slice. Starting it twice starts it once: the name
is derived from the run and the part, and Step Functions refuses a second execution of that name."""

import json

from aws_lambda_powertools import Logger, Tracer
from botocore.exceptions import ClientError

from autopatch import runs
from autopatch.clients import client, named_aws_errors
from autopatch.event import field
from autopatch.observability import run_context

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    run_id, part = field(event, "RunId", str), field(event, "Part", int) + 1
    name = runs.continuation_name(run_id, part)
    continuation = {
        "RunId": run_id,
        "Part": part,
        "Offset": field(event, "Offset", int),
        "PreviousExecutionArn": field(event, "ExecutionArn", str),
        "SnapshotId": field(event, "SnapshotId", str),
        "Settings": field(event, "Settings", dict),
        "GroupNames": field(event, "GroupNames", list),
        "Recovered": field(event, "Recovered", list, []),
    }
    machine = field(event, "StateMachineArn", str)
    try:
        started = client("stepfunctions").start_execution(
            stateMachineArn=machine, name=name, input=json.dumps({"Continuation": continuation})
        )
        arn = started["executionArn"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        arn = f"{machine.replace(':stateMachine:', ':execution:')}:{name}"
    logger.info("Run continues in a new execution", extra={"execution": name, "offset": continuation["Offset"]})
    return {"ContinuedAs": name, "ExecutionArn": arn}
