"""The hook's side of the fake AWS: which calls are answered here, throttling, and the record of every call.

A call is answered by the method `_<service>_<Operation>` of one of the service mixins (autoscaling.py, ec2.py,
elbv2.py, ssm.py) if there is one; moto answers the rest. capacity.py holds what Auto Scaling does on its own
while the fleet moves. The state they share (the simulated instances and groups, the virtual clock, moto's
backends) is set up here.
"""

import threading

from moto.core.exceptions import ServiceException

from .autoscaling import AutoScaling
from .capacity import Capacity
from .common import AwsError, SimGroup, SimInstance
from .ec2 import Ec2
from .ecs import Ecs
from .elbv2 import Elbv2
from .ssm import Invocation, Ssm

MUTATING_PREFIXES = ("Describe", "Get", "List", "Query", "Scan")
# The error a throttled call gets, by service (ResourceContention for Auto Scaling's standby calls).
THROTTLE_CODES = {
    "autoscaling": "Throttling",
    "ec2": "RequestLimitExceeded",
    "ssm": "ThrottlingException",
    "elbv2": "Throttling",
    "cloudwatch": "Throttling",
    "ecs": "ThrottlingException",
}
CONTENDED = ("EnterStandby", "ExitStandby", "UpdateAutoScalingGroup")


class AwsModel(AutoScaling, Capacity, Ec2, Ecs, Elbv2, Ssm):
    def __init__(self, clock, backends, log, emit, on_publish):
        self.clock = clock
        self.asg = backends["autoscaling"]
        self.cloudwatch = backends["cloudwatch"]
        self.ec2 = backends["ec2"]
        self._throttled: set = set()
        self.log = log  # callable(t, group, instance, text)
        self.emit = emit  # callable(detail_type, source, detail, resources): an AWS event for EventBridge
        self.on_publish = on_publish  # callable(params): SNS delivers a publish to its subscribers
        self.lock = threading.RLock()
        self.instances: dict[str, SimInstance] = {}
        self.groups: dict[str, SimGroup] = {}
        self.api_calls: list[dict] = []
        self.local = threading.local()  # .in_handler is set while project code runs
        # Auto Scaling (autoscaling.py)
        self.out_of_service: dict[str, set] = {}
        self.max_out_of_service: dict[str, int] = {}
        # Capacity (capacity.py)
        # the scenario has fleet events, or a call changed a desired capacity or terminated an instance: Auto
        # Scaling keeps every group's capacity and balance
        self.fleet_moves = False
        self.serving: dict[str, set] = {}  # group -> its instances InService and healthy in every target group
        self.min_healthy: dict[str, int] = {}  # group -> the fewest of them at once, once counting started
        self.serving_counts: dict[str, list] = {}  # group -> [(t, how many serve)] from the start, at each change
        # Systems Manager (ssm.py)
        self.invocations: dict[tuple[str, str], Invocation] = {}
        self.commands: dict[str, list[str]] = {}
        self.hook_documents: set[str] = set()  # the simulated account's own documents (HookDocumentNames)
        # ECS (ecs.py): cluster ARN -> the cluster whose capacity a group is
        self.clusters = {}
        self.ecs_calls: list[dict] = []
        # EC2 (ec2.py)
        self.deregistered_images: list[str] = []
        self.deleted_snapshots: list[str] = []
        # moto numbers a template's versions by their place in its list: deleted ones stay there, named here
        self.deleted_versions: set[tuple[str, int]] = set()
        self.client_tokens: dict[str, tuple[dict, object]] = {}  # CreateLaunchTemplateVersion's, to its version

    # time -------------------------------------------------------------------------------------
    def at(self, delay: float, action) -> None:
        """Schedule action(t) at now + delay on the virtual clock (AWS doing something on its own)."""

        def run(when):
            with self.lock:
                action(when)

        self.clock.call_later(delay, run)

    # the hook -----------------------------------------------------------------------------------
    def handle(self, service: str, operation: str, params: dict):
        """Return a response dict for calls answered here, or None to let moto answer."""
        with self.lock:
            call = None
            if getattr(self.local, "in_handler", False) and not operation.startswith(MUTATING_PREFIXES):
                call = {
                    "t": round(self.clock.elapsed(), 3),
                    "service": service,
                    "operation": operation,
                    "params": params,
                    "execution": getattr(self.local, "execution", None),
                }
                self.api_calls.append(call)
            if service == "ecs" and getattr(self.local, "in_handler", False):
                self.ecs_calls.append({"operation": operation, "params": params})  # reads too: the report's
            try:
                self._throttle(service, operation, params)
                answer = getattr(self, f"_{service}_{operation}", None)
                response = answer(params) if answer else None
            except (AwsError, ServiceException) as error:
                if call:
                    call["error"] = error.code
                if isinstance(error, ServiceException):  # moto's EC2 backend refused a call answered here
                    raise AwsError(error.code, error.message) from None
                raise
            if call:
                self._log_call(operation, params)
            if service == "sns" and operation == "Publish":
                self.on_publish(params)
            return response

    def _throttle(self, service, operation, params):
        """Fault "throttled": the first call of each kind naming the instance is refused."""
        for instance_id in named_instances(params):
            sim = self.instances.get(instance_id)
            if sim and "throttled" in sim.faults and (operation, instance_id) not in self._throttled:
                self._throttled.add((operation, instance_id))
                if service == "autoscaling" and operation in CONTENDED:
                    raise AwsError(
                        "ResourceContention",
                        "You already have a pending update to an Auto Scaling "
                        "resource (for example, a group, instance, or load balancer).",
                        500,
                    )
                code = THROTTLE_CODES.get(service, "Throttling")
                self.log(self.clock.now(), sim.group, instance_id, f"{operation} refused: {code}")
                raise AwsError(code, "Rate exceeded", 400)

    def _log_call(self, operation, params):
        if operation == "CreateTags":
            tags = ", ".join(f"{t['Key']}={t['Value']}" for t in params["Tags"] if t["Key"] == "AutoPatchInstanceInASG")
            for instance_id in params["Resources"]:
                sim = self.instances.get(instance_id)
                self.log(self.clock.now(), sim.group if sim else "", instance_id, f"tagged {tags}")
        elif operation == "Publish":
            self.log(self.clock.now(), "", "", f"ALERT published: {params.get('Subject')}")


def named_instances(params: dict) -> list[str]:
    """The instance ids a call's parameters name."""
    found = list(params.get("InstanceIds") or []) + list(params.get("Resources") or [])
    if isinstance(params.get("InstanceId"), str):
        found.append(params["InstanceId"])
    found += [t["Id"] for t in params.get("Targets") or [] if isinstance(t, dict) and "Id" in t]
    return [i for i in found if isinstance(i, str) and i.startswith("i-")]
