"""What every simulated service shares: the error a call gets, the simulated fleet's records, the responses
handed back to botocore in place of moto's, and the botocore sessions its clients are made in."""

import pathlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import botocore.session
import moto
import moto.ec2.models.amis
from botocore.awsrequest import AWSResponse
from moto.autoscaling.models import AutoScalingBackend
from moto.cloudwatch.models import CloudWatchBackend
from moto.ec2.models import EC2Backend

if TYPE_CHECKING:
    from simulator.clock import VirtualClock

    from .ssm import Invocation


# With MOTO_AMIS_PATH set, moto's EC2 backend loads only its base list of 44 Amazon-owned AMIs instead of also
# parsing ~1,300 region-specific ones at every reset (about 0.2 s each time). That list is read when
# moto.ec2.models.amis is first imported, which the import above does before the variable is ever set; after
# that only the variable's presence counts. It names the file the list came from.
BASE_AMIS = {"MOTO_AMIS_PATH": str(pathlib.Path(moto.__file__).parent / "ec2" / "resources" / "amis.json.gz")}

_loader = botocore.session.get_session().get_component("data_loader")


def botocore_session() -> botocore.session.Session:
    """A new botocore session sharing one loader: each service's model (EC2's is large: about 0.1 s) is read
    once per process, not once for every run or test that makes a client."""
    session = botocore.session.get_session()
    session.register_component("data_loader", _loader)
    return session


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
    agent_online: bool = True  # PingStatus Online, else ConnectionLost
    registered: bool = True  # with Systems Manager: DescribeInstanceInformation lists it
    state: object = None  # moto's InstanceState, found once
    # what the agent last reported to Patch Manager (DescribeInstancePatchStates)
    patches: dict = field(default_factory=lambda: {"installed": 40, "missing": 0, "failed": 0, "pending_reboot": 0})
    last_operation: str | None = "Scan"  # None: Patch Manager has no state for it yet
    patch_seconds: int = 300
    # target group arn -> (state, reason)
    targets: dict = field(default_factory=dict)
    launched_during_run: bool = False
    launching: bool = False  # launched during the run and not yet InService
    launched_at: float | None = None  # virtual epoch seconds; None: before the run
    ec2_terminated: bool = False  # EC2 terminated it (it may still be listed in Standby)
    # put in Standby by a fleet event (another tool, a person), not by the run: until it is back InService (or
    # gone), not counted among the instances the run took out of service
    out_by_another: bool = False


@dataclass
class SimGroup:
    name: str
    target_groups: list
    deregistration_delay: int
    warmup_seconds: int
    alarm: str | None = None
    instance_refresh: bool = False  # one InProgress, from before the run
    refreshes: list = field(default_factory=list)  # what DescribeInstanceRefreshes lists, newest first
    patch_seconds: int = 300  # what patching an instance launched during the run takes
    missing_patches: int = 0  # what an instance launched during the run misses
    launch_hook_seconds: int = 0  # a launch lifecycle hook holds each new instance in Pending:Wait this long
    launches_unhealthy: bool = False  # what it launches during the run never passes its target groups' checks
    alarm_delay_seconds: int = 0  # alarm_after_patch: the alarm goes off this long after the patch ends
    hook_seconds: int = 10  # what a hook (a document run on an instance, a hook function) takes
    rebalancing: str | None = None  # the instance launched to rebalance the AZs, until it is InService
    desired_moved_by_events: int = 0  # the desired capacity the scenario's fleet events added or took
    warm_instances: list = field(default_factory=list)  # the warm pool's, as DescribeWarmPool lists them

    def __post_init__(self):
        if self.instance_refresh:
            self.refreshes.append(
                {
                    "InstanceRefreshId": "11111111-2222-3333-4444-555555555555",
                    "AutoScalingGroupName": self.name,
                    "Status": "InProgress",
                    "PercentageComplete": 40,
                }
            )


def error_response(error: AwsError):
    # botocore-stubs want HTTPHeaders; AWSResponse wraps any mapping in its HeadersDict
    http = AWSResponse("https://simulated", error.status, {}, None)  # type: ignore[arg-type]
    return http, {
        "Error": {"Code": error.code, "Message": error.message},
        "ResponseMetadata": {"HTTPStatusCode": error.status},
    }


def ok_response(parsed: dict):
    parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": 200})
    # botocore-stubs want HTTPHeaders; AWSResponse wraps any mapping in its HeadersDict
    return AWSResponse("https://simulated", 200, {}, None), parsed  # type: ignore[arg-type]


class ModelState:
    """The state the service mixins share, for the type checker: AwsModel (model.py) sets it up; annotations only."""

    clock: "VirtualClock"
    asg: AutoScalingBackend
    cloudwatch: CloudWatchBackend
    ec2: EC2Backend
    log: Callable[[float, str, str, str], None]
    emit: Callable[..., None]
    lock: threading.RLock
    local: threading.local
    instances: dict[str, SimInstance]
    groups: dict[str, SimGroup]
    out_of_service: dict[str, set]
    max_out_of_service: dict[str, int]
    fleet_moves: bool
    serving: dict[str, set]
    min_healthy: dict[str, int]
    serving_counts: dict[str, list]
    invocations: "dict[tuple[str, str], Invocation]"
    hook_documents: set[str]  # the user's own documents the stack allows as hooks (HookDocumentNames)
    commands: dict[str, list[str]]
    deregistered_images: list[str]
    deleted_snapshots: list[str]
    deleted_versions: set[tuple[str, int]]
    client_tokens: dict[str, tuple[dict, object]]
    # what one mixin calls of another's: AwsModel.at, Ec2's launch template lookups, Auto Scaling's and
    # Capacity's (capacity.py) lifecycle
    at: Callable[[float, Callable[..., Any]], None]
    state_of: Callable[[SimInstance], Any]
    set_lifecycle: Callable[[float, SimInstance, str], None]
    track: Callable[[SimInstance], None]
    rebooted: Callable[[str], None]  # Ecs's: the instance rebooted after its patch
    settle: Callable[..., None]  # (t, group_name[, why a surplus instance is terminated])
    replace: Callable[[float, SimInstance, str], None]
    _terminate: Callable[[float, SimInstance, str], None]
    _turns_unhealthy: Callable[[float, SimInstance], None]
    launch_instances: Callable[..., list]
    _reach_in_service: Callable[[float, Any, SimInstance], None]
    _autoscaling_StartInstanceRefresh: Callable[[dict], dict]
    _autoscaling_EnterStandby: Callable[[dict], dict]
    _autoscaling_ExitStandby: Callable[[dict], dict]
    _suspended: Callable[[Any, str], bool]
    _launch_source: Callable[[Any], tuple[str, Any]]
    _new_sizes: Callable[..., tuple[int, int, int]]
    _launch_template: Callable[[dict], Any]
    _template_version: Callable[[Any, Any], Any]
