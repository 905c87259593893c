"""boto3 clients, created once per process and reused across invocations."""

import functools

import boto3
from botocore.config import Config

# Standard mode retries throttling with exponential backoff and jitter inside the SDK;
# errors that survive it reach the state machine, whose Retry blocks take over.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


@functools.cache
def client(service: str):
    return boto3.client(service, config=_CONFIG)
