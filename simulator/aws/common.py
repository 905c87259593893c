"""What every simulated service shares: the error a call gets, the simulated fleet's records, and the
responses handed back to botocore in place of moto's."""

from dataclasses import dataclass, field

from botocore.awsrequest import AWSResponse


class AwsError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class SimInstance:
    instance_id: str
    group: str
    index: int
    faults: set = field(default_factory=set)
    agent_online: bool = True
    state: object = None  # moto's InstanceState, found once
    # what the agent last reported to Patch Manager (DescribeInstancePatchStates)
    patches: dict = field(default_factory=lambda: {"installed": 40, "missing": 0, "failed": 0, "pending_reboot": 0})
    last_operation: str = "Scan"
    patch_seconds: int = 300
    # target group arn -> (state, reason)
    targets: dict = field(default_factory=dict)


@dataclass
class SimGroup:
    name: str
    target_groups: list
    deregistration_delay: int
    warmup_seconds: int
    alarm: str | None = None
    instance_refresh: bool = False


def error_response(error: AwsError):
    http = AWSResponse("https://simulated", error.status, {}, None)
    return http, {
        "Error": {"Code": error.code, "Message": error.message},
        "ResponseMetadata": {"HTTPStatusCode": error.status},
    }


def ok_response(parsed: dict):
    parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": 200})
    return AWSResponse("https://simulated", 200, {}, None), parsed
