"""Start the run's next execution, which patches the next slice. Starting it twice starts it once: the name
is derived from the run and the part, and Step Functions refuses a second execution of that name."""

import json

from aws_lambda_powertools import Logger, Tracer
from botocore.exceptions import ClientError

from autopatch import runs
from autopatch.clients import client, named_aws_errors
from autopatch.errors import InvalidInput
from autopatch.event import arn, field, group_names, objects
from autopatch.observability import run_context
from autopatch.run_input import parse_continuation_settings

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@run_context(logger)
@tracer.capture_lambda_handler
@named_aws_errors
def lambda_handler(event, context):
    run_id, part = field(event, "RunId", str), field(event, "Part", int) + 1
    if part < 2:
        raise InvalidInput("Part must be at least 1.")
    name = runs.continuation_name(run_id, part)
    continuation = {
        "RunId": run_id,
        "Part": part,
        "Offset": field(event, "Offset", int),
        "PreviousExecutionArn": arn(event, "ExecutionArn", "states"),
        "SnapshotId": field(event, "SnapshotId", str),
        "Settings": parse_continuation_settings(field(event, "Settings", dict)),
        "GroupNames": group_names(event),
        "Recovered": objects(event, "Recovered", ("InstanceId", "GroupName"), []),
    }
    machine = arn(event, "StateMachineArn", "states")
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
