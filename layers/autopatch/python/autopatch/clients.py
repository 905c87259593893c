"""boto3 clients, created once per process and reused across invocations."""

import functools
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .errors import AwsThrottled, ResourceContention

# Standard mode retries throttling with exponential backoff and jitter inside the SDK;
# errors that survive it reach the state machine, whose Retry blocks take over.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


@functools.cache
def client(service: str) -> Any:
    # boto3-stubs type boto3.client per literal service name only; the service here is any name
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]


THROTTLING_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "ProvisionedThroughputExceededException",
}


def named_aws_errors(handler):
    """Turn throttling and ResourceContention into named errors the state machine retries."""

    @functools.wraps(handler)
    def wrapper(event, context):
        try:
            return handler(event, context)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in THROTTLING_CODES:
                raise AwsThrottled(f"{error.operation_name} throttled: {code}") from error
            if code == "ResourceContention":
                raise ResourceContention(f"{error.operation_name}: {error.response['Error']['Message']}") from error
            raise

    return wrapper
