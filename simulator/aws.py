"""AWS behaviour that moto does not model, played by the simulator (see the README's simulator section).

Calls from the project's code pass through a botocore hook. Standby transitions, load balancer target
health, the SSM agent, images and launch template versions are answered here, with the timing and the errors
AWS has; everything else (tags, groups, capacity, SNS) is moto's. Every mutating call the project makes is
recorded.
"""

import copy
import datetime as dt
import re
import threading
import uuid
from dataclasses import dataclass, field

from botocore.awsrequest import AWSResponse
from moto.core.exceptions import ServiceException

# Seconds an instance spends in Pending after ExitStandby before it is InService.
PENDING_SECONDS = 10
# Seconds after SendCommand before GetCommandInvocation knows the invocation (InvocationDoesNotExist).
INVOCATION_VISIBLE_AFTER = 2
# Seconds an online agent takes to pick a command up (Pending -> InProgress).
DELIVERY_SECONDS = 3
# Seconds a new image stays pending before it is available (or failed).
IMAGE_SECONDS = 240
# CreateImage's Name constraint (CreateImage API reference).
AMI_NAME = re.compile(r"[A-Za-z0-9()\[\] ./\-'@_]{3,128}")

MUTATING_PREFIXES = ("Describe", "Get", "List")
# The error a throttled call gets, by service (ResourceContention for Auto Scaling's standby calls).
THROTTLE_CODES = {
    "autoscaling": "Throttling",
    "ec2": "RequestLimitExceeded",
    "ssm": "ThrottlingException",
    "elbv2": "Throttling",
    "cloudwatch": "Throttling",
}
CONTENDED = ("EnterStandby", "ExitStandby", "UpdateAutoScalingGroup")


class AwsError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class Invocation:
    command_id: str
    instance_id: str
    document: str
    comment: str
    parameters: dict
    sent_at: float
    timeout: int
    status: str = "Pending"
    details: str = "Pending"
    response_code: int = -1
    start_at: float | None = None
    end_at: float | None = None
    outcome: str = "Success"


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


class AwsModel:
    def __init__(self, clock, backends, log, emit, on_publish):
        self.clock = clock
        self.asg = backends["autoscaling"]
        self.cloudwatch = backends["cloudwatch"]
        self.ec2 = backends["ec2"]
        self._throttled: set = set()
        self.out_of_service: dict[str, set] = {}
        self.max_out_of_service: dict[str, int] = {}
        self.log = log  # callable(t, group, instance, text)
        self.emit = emit  # callable(detail_type, source, detail, resources): an AWS event for EventBridge
        self.on_publish = on_publish  # callable(params): SNS delivers a publish to its subscribers
        self.lock = threading.RLock()
        self.instances: dict[str, SimInstance] = {}
        self.groups: dict[str, SimGroup] = {}
        self.invocations: dict[tuple[str, str], Invocation] = {}
        self.commands: dict[str, list[str]] = {}
        self.api_calls: list[dict] = []
        self.deregistered_images: list[str] = []
        self.deleted_snapshots: list[str] = []
        # moto numbers a template's versions by their place in its list: deleted ones stay there, named here
        self.deleted_versions: set[tuple[str, int]] = set()
        self.client_tokens: dict[str, tuple[dict, object]] = {}  # CreateLaunchTemplateVersion's, to its version
        self.local = threading.local()  # .in_handler is set while project code runs

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

    # Auto Scaling ---------------------------------------------------------------------------------------
    def _state(self, group_name: str, instance_id: str):
        group = self.asg.autoscaling_groups.get(group_name)
        if group is None:
            raise AwsError("ValidationError", f"AutoScalingGroup name not found - no such group: {group_name}")
        for state in group.instance_states:
            if state.instance.id == instance_id:
                return group, state
        raise AwsError("ValidationError", f"The instance {instance_id} is not part of Auto Scaling group {group_name}.")

    def _autoscaling_EnterStandby(self, params):
        name = params["AutoScalingGroupName"]
        activities = []
        for instance_id in params["InstanceIds"]:
            group, state = self._state(name, instance_id)
            if state.lifecycle_state != "InService":
                raise AwsError("ValidationError", f"The instance {instance_id} is not in InService.")
            if params["ShouldDecrementDesiredCapacity"] and group.desired_capacity - 1 < group.min_size:
                # Wording not confirmed against AWS; the rule is (EnterStandby API reference).
                raise AwsError(
                    "ValidationError",
                    f"AutoScalingGroup {name} has min-size={group.min_size}, max-size={group.max_size}, and "
                    f"desired-capacity={group.desired_capacity}. The instance {instance_id} cannot enter standby: "
                    "the desired capacity would fall below the minimum size.",
                )
            before = group.desired_capacity
            if params["ShouldDecrementDesiredCapacity"]:
                group.desired_capacity -= 1
            sim, sim_group = self.instances[instance_id], self.groups[name]
            self.set_lifecycle(self.clock.now(), sim, "EnteringStandby")
            for arn in sim.targets:
                sim.targets[arn] = ("draining", "Target.DeregistrationInProgress")
            self.log(
                self.clock.now(), name, instance_id, f"EnteringStandby (desired {before} -> {group.desired_capacity})"
            )
            self.at(sim_group.deregistration_delay, lambda t, s=state, i=sim: self._reach_standby(t, s, i))
            activities.append(
                self._activity(instance_id, name, "Moving EC2 instance to Standby", before, group.desired_capacity)
            )
        return {"Activities": activities}

    # The describe calls are answered from moto's own objects, without its XML round trip: the data is
    # moto's, and a 500-instance group is described in microseconds instead of milliseconds.
    def _autoscaling_DescribeAutoScalingGroups(self, params):
        names = params.get("AutoScalingGroupNames")
        found = [g for name, g in self.asg.autoscaling_groups.items() if not names or name in names]
        return {"AutoScalingGroups": [self._group_view(g) for g in found]}

    def _group_view(self, group) -> dict:
        return {
            "AutoScalingGroupName": group.name,
            "AutoScalingGroupARN": group.arn,
            **self._launch_view(group),
            "MinSize": group.min_size,
            "MaxSize": group.max_size,
            "DesiredCapacity": group.desired_capacity,
            "DefaultCooldown": group.default_cooldown,
            "AvailabilityZones": list(group.availability_zones),
            "LoadBalancerNames": list(group.load_balancer_names or []),
            "TargetGroupARNs": list(group.target_group_arns or []),
            "HealthCheckType": group.health_check_type,
            "HealthCheckGracePeriod": group.health_check_grace_period,
            "Instances": [
                {
                    "InstanceId": state.instance.id,
                    "AvailabilityZone": state.availability_zone,
                    "LifecycleState": state.lifecycle_state,
                    "HealthStatus": state.health_status,
                    "ProtectedFromScaleIn": bool(state.protected_from_scale_in),
                }
                for state in group.instance_states
            ],
            "SuspendedProcesses": [
                {"ProcessName": p["ProcessName"] if isinstance(p, dict) else p, "SuspensionReason": "User suspended"}
                for p in group.suspended_processes  # moto keeps names or {"ProcessName": ...}
            ],
            "Tags": [
                {
                    "ResourceId": group.name,
                    "ResourceType": "auto-scaling-group",
                    "Key": tag["Key"],
                    "Value": tag.get("Value", ""),
                    "PropagateAtLaunch": str(tag.get("PropagateAtLaunch", False)).lower() == "true",
                }
                for tag in group.tags
            ],
            "VPCZoneIdentifier": group.vpc_zone_identifier or "",
            "CreatedTime": self.clock.start,
        }

    @staticmethod
    def _launch_view(group) -> dict:
        """What the group launches from, as DescribeAutoScalingGroups shows it: only the key that applies."""
        if group.mixed_instances_policy:
            return {"MixedInstancesPolicy": copy.deepcopy(group.mixed_instances_policy)}
        if group.ec2_launch_template:
            template = {
                "LaunchTemplateId": group.ec2_launch_template.id,
                "LaunchTemplateName": group.ec2_launch_template.name,
            }
            if group.provided_launch_template_version:  # shown as the group was given it, if it was
                template["Version"] = group.provided_launch_template_version
            return {"LaunchTemplate": template}
        if group.launch_config:
            return {"LaunchConfigurationName": group.launch_config.name}
        return {}

    def _autoscaling_DescribeAutoScalingInstances(self, params):
        found = []
        for instance_id in params.get("InstanceIds", []):
            sim = self.instances.get(instance_id)
            if sim is None:
                continue
            state = self.state_of(sim)
            found.append(
                {
                    "InstanceId": instance_id,
                    "AutoScalingGroupName": sim.group,
                    "AvailabilityZone": state.availability_zone,
                    "LifecycleState": state.lifecycle_state,
                    "HealthStatus": state.health_status.upper(),
                    "ProtectedFromScaleIn": bool(state.protected_from_scale_in),
                }
            )
        return {"AutoScalingInstances": found}

    def state_of(self, sim):
        """moto's InstanceState of a simulated instance (kept on it, so finding it costs nothing)."""
        if sim.state is None:
            group = self.asg.autoscaling_groups[sim.group]
            sim.state = next(s for s in group.instance_states if s.instance.id == sim.instance_id)
        return sim.state

    def set_lifecycle(self, t, sim, state_name: str) -> None:
        """Every lifecycle change of a simulated instance goes here, so out-of-service counts stay exact."""
        self.state_of(sim).lifecycle_state = state_name
        out = self.out_of_service.setdefault(sim.group, set())
        if state_name == "InService":
            out.discard(sim.instance_id)
        else:
            out.add(sim.instance_id)
        self.max_out_of_service[sim.group] = max(self.max_out_of_service.get(sim.group, 0), len(out))

    def _autoscaling_UpdateAutoScalingGroup(self, params):
        name = params["AutoScalingGroupName"]
        group = self.asg.autoscaling_groups.get(name)
        if group is None:
            raise AwsError("ValidationError", f"AutoScalingGroup name not found - no such group: {name}")
        min_size = params.get("MinSize", group.min_size)
        max_size = params.get("MaxSize", group.max_size)
        desired = params.get("DesiredCapacity", group.desired_capacity)
        if not min_size <= desired <= max_size:
            raise AwsError(
                "ValidationError",
                f"Desired capacity:{desired} must be between the specified min size:{min_size} and max size:{max_size}",
            )
        if "LaunchTemplate" in params:
            template, version = self._group_launch_template(params["LaunchTemplate"])
            # the group now launches from this template alone (no launch configuration, no mixed instances policy)
            group.launch_config = group.mixed_instances_policy = None
            group.ec2_launch_template, group.provided_launch_template_version = template, version
            group.launch_template_version = version or "$Default"
            self.log(self.clock.now(), name, "", f"launch template -> {template.id} version {version or '$Default'}")
        if min_size != group.min_size:
            self.log(self.clock.now(), name, "", f"MinSize {group.min_size} -> {min_size}")
        group.min_size, group.max_size, group.desired_capacity = min_size, max_size, desired
        return {}

    def _group_launch_template(self, spec: dict):
        """The template and version (None: $Default) a LaunchTemplate parameter names, as Auto Scaling checks them."""
        if bool(spec.get("LaunchTemplateId")) == bool(spec.get("LaunchTemplateName")):
            raise AwsError(
                "ValidationError", "Valid requests must contain either launchTemplateId or LaunchTemplateName"
            )
        version = spec.get("Version")
        if version is not None and version not in ("$Latest", "$Default") and not version.isdigit():
            raise AwsError(
                "ValidationError",
                "Invalid launch template version: either '$Default', '$Latest', or a numeric version are allowed.",
            )
        try:
            template = self._launch_template(spec)
            self._template_version(template, version or "$Default")
        except (AwsError, ServiceException) as error:
            # Auto Scaling refuses a template or version EC2 does not know; this wording is not confirmed.
            raise AwsError(
                "ValidationError", f"You must use a valid fully-formed launch template. {error.message}"
            ) from None
        return template, version

    def _autoscaling_DescribeInstanceRefreshes(self, params):
        group = self.groups.get(params["AutoScalingGroupName"])
        refreshes = []
        if group and group.instance_refresh:
            refreshes.append(
                {
                    "InstanceRefreshId": "11111111-2222-3333-4444-555555555555",
                    "AutoScalingGroupName": group.name,
                    "Status": "InProgress",
                    "PercentageComplete": 40,
                }
            )
        return {"InstanceRefreshes": refreshes}

    def _reach_standby(self, t, state, sim):
        if state.lifecycle_state != "EnteringStandby":
            return
        self.set_lifecycle(t, sim, "Standby")
        for arn in sim.targets:
            sim.targets[arn] = ("unused", "Target.NotRegistered")
        self.log(t, sim.group, sim.instance_id, "Standby (deregistered from its target groups)")

    def _autoscaling_ExitStandby(self, params):
        name = params["AutoScalingGroupName"]
        activities = []
        for instance_id in params["InstanceIds"]:
            group, state = self._state(name, instance_id)
            if state.lifecycle_state != "Standby":
                raise AwsError("ValidationError", f"The instance {instance_id} is not in Standby.")
            before = group.desired_capacity
            group.desired_capacity += 1
            self.set_lifecycle(self.clock.now(), self.instances[instance_id], "Pending")
            self.log(self.clock.now(), name, instance_id, f"Pending (desired {before} -> {group.desired_capacity})")
            self.at(PENDING_SECONDS, lambda t, s=state, i=self.instances[instance_id]: self._reach_in_service(t, s, i))
            activities.append(
                self._activity(instance_id, name, "Moving EC2 instance out of Standby", before, group.desired_capacity)
            )
        return {"Activities": activities}

    def _reach_in_service(self, t, state, sim):
        if state.lifecycle_state != "Pending":
            return
        self.set_lifecycle(t, sim, "InService")
        for arn in sim.targets:
            sim.targets[arn] = ("initial", "Elb.RegistrationInProgress")
        self.log(t, sim.group, sim.instance_id, "InService (target registered, health check initial)")
        self.at(self.groups[sim.group].warmup_seconds, lambda t2, i=sim: self._warm_up(t2, i))

    def _warm_up(self, t, sim):
        healthy = "unhealthy_after_patch" not in sim.faults
        for arn, (target_state, _) in sim.targets.items():
            if target_state == "initial":
                sim.targets[arn] = ("healthy", None) if healthy else ("unhealthy", "Target.FailedHealthChecks")
        self.log(
            t,
            sim.group,
            sim.instance_id,
            "healthy in its target groups" if healthy else "UNHEALTHY in its target groups",
        )

    def _activity(self, instance_id, group_name, description, before, after):
        return {
            "ActivityId": str(uuid.uuid4()),
            "AutoScalingGroupName": group_name,
            "Description": f"{description}: {instance_id}",
            "Cause": f"At {self._iso()} instance {instance_id} was moved in response to a user request, "
            f"changing the capacity from {before} to {after}.",
            "StartTime": self.clock.now_datetime(),
            "StatusCode": "InProgress",
            "Progress": 50,
        }

    def _iso(self) -> str:
        return self.clock.now_datetime().strftime("%Y-%m-%dT%H:%M:%SZ")

    def launch_image(self, group_name: str) -> str | None:
        """The image the group launches new instances from (None if its launch template version is gone)."""
        try:
            return self._launch_source(self.asg.autoscaling_groups[group_name])[0]
        except AwsError:
            return None

    def _launch_source(self, group):
        """(image id, launch template version or None) the group launches from: its launch configuration, or its
        template at the version it follows, resolved as EC2 resolves it."""
        if group.ec2_launch_template is None:
            return group.launch_config.image_id, None
        version = self._template_version(group.ec2_launch_template, group.launch_template_version)
        return version.image_id, version

    def scale_out(self, group_name: str, count: int) -> list[dict]:
        """The group's desired capacity rises by count, and it launches that many instances from its launch
        source; a launch from an image that is not available fails, as on AWS."""
        group = self.asg.autoscaling_groups[group_name]
        group.desired_capacity += count
        now = self.clock.now()
        try:
            image_id, version = self._launch_source(group)
        except AwsError as error:
            self.log(now, group_name, "", f"scale-out failed: {error.message}")
            return []
        image = self.ec2.amis.get(image_id)
        if image is None or image.state != "available":
            self.log(now, group_name, "", f"scale-out failed: image {image_id} is {image.state if image else 'gone'}")
            return []
        before = {state.instance.id for state in group.instance_states}
        if version:  # moto's $Latest is the last version ever made, even a deleted one: launch from the one resolved
            followed, group.launch_template_version = group.launch_template_version, str(version.number)
        group.replace_autoscaling_group_instances(count, group.get_propagated_tags())
        if version:
            group.launch_template_version = followed
        launched = [state.instance for state in group.instance_states if state.instance.id not in before]
        for instance in launched:
            self.log(now, group_name, instance.id, f"scaled out: launched {instance.id} from {instance.image_id}")
        return [{"instance_id": instance.id, "image_id": instance.image_id} for instance in launched]

    # EC2: images and launch templates -------------------------------------------------------------------
    def make_image(self, instance_id: str, name: str, description: str, image_tags: dict, snapshot_tags: dict):
        """An image of the instance in moto, with its snapshot, each tagged (moto cannot tag the snapshot)."""
        spec = [{"ResourceType": "image", "Tags": [{"Key": k, "Value": v} for k, v in image_tags.items()]}]
        image = self.ec2.create_image(instance_id, name, description, tag_specifications=spec)
        if snapshot_tags:
            self.ec2.create_tags([image.ebs_snapshot.id], snapshot_tags)
        return image

    def _ec2_CreateImage(self, params):
        tags = {"image": {}, "snapshot": {}}
        for spec in params.get("TagSpecifications", []):
            if spec["ResourceType"] not in tags:
                # The rule is CreateImage's; the wording is not confirmed.
                raise AwsError(
                    "InvalidParameterValue",
                    f"'{spec['ResourceType']}' is not a valid taggable resource type for this operation.",
                )
            tags[spec["ResourceType"]].update({t["Key"]: t["Value"] for t in spec.get("Tags", [])})
        name = params["Name"]
        if not AMI_NAME.fullmatch(name):
            raise AwsError(
                "InvalidAMIName.Malformed",
                "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, "
                "'(', ')', '.', '-', '/' and '_'",
            )
        taken = next((i for i in self.ec2.amis.values() if i.name == name and i.owner_id == self.ec2.account_id), None)
        if taken:
            raise AwsError("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {taken.id}")
        instance_id = params["InstanceId"]
        image = self.make_image(instance_id, name, params.get("Description", ""), tags["image"], tags["snapshot"])
        image.state = "pending"
        sim = self.instances.get(instance_id)
        group, faults = (sim.group, sim.faults) if sim else ("", set())
        if not params.get("NoReboot"):
            # EC2 shuts the instance down and reboots it; one InService would drop out of its target groups.
            self.log(self.clock.now(), group, instance_id, f"rebooting for image {image.id}")
        if "bake_timeout" not in faults:
            failed = "bake_failed" in faults
            self.at(IMAGE_SECONDS, lambda t: self._image_ready(t, image, group, instance_id, failed))
        return {"ImageId": image.id}

    def _image_ready(self, t, image, group, instance_id, failed):
        if image.id not in self.ec2.amis:
            return  # deregistered while pending
        if failed:
            # Code as AWS reports an internal failure; the message is not confirmed.
            image.state, image.state_reason = "failed", {"Code": "Server.InternalError", "Message": "Internal error"}
        else:
            image.state = "available"
        self.log(t, group, instance_id, f"image {image.id} {image.state}")

    def _ec2_DeregisterImage(self, params):
        self.ec2.deregister_image(params["ImageId"])
        self.deregistered_images.append(params["ImageId"])
        self.log(self.clock.now(), "", "", f"deregistered {params['ImageId']}")
        return {"Return": True}

    def _ec2_DeleteSnapshot(self, params):
        self.ec2.delete_snapshot(params["SnapshotId"])  # InvalidSnapshot.InUse while a registered image uses it
        self.deleted_snapshots.append(params["SnapshotId"])
        self.log(self.clock.now(), "", "", f"deleted snapshot {params['SnapshotId']}")
        return {}

    def _launch_template(self, params: dict):
        if params.get("LaunchTemplateId"):
            return self.ec2.get_launch_template(params["LaunchTemplateId"])
        return self.ec2.get_launch_template_by_name(params.get("LaunchTemplateName"))

    def _live_versions(self, template) -> list:
        return [v for v in template.versions if (template.id, v.number) not in self.deleted_versions]

    def _template_version(self, template, version):
        """A version as EC2 resolves "$Latest", "$Default" or a number: never a deleted one."""
        live = self._live_versions(template)
        if version == "$Latest":
            return live[-1]
        if version == "$Default":
            return template.default_version()
        found = next((v for v in live if str(v.number) == str(version)), None)
        if found is None:
            raise AwsError(
                "InvalidLaunchTemplateId.VersionNotFound",
                f"Could not find the specified version {version} for the launch template with ID {template.id}.",
            )
        return found

    def _version_view(self, version) -> dict:
        template = version.template
        view = {
            "LaunchTemplateId": template.id,
            "LaunchTemplateName": template.name,
            "VersionNumber": version.number,
            "CreateTime": version.create_time.replace(tzinfo=dt.UTC),
            "CreatedBy": f"arn:aws:iam::{self.ec2.account_id}:root",
            "DefaultVersion": template.is_default(version),
            "LaunchTemplateData": launch_data(version),
        }
        if version.description:
            view["VersionDescription"] = version.description
        return view

    def _template_view(self, template) -> dict:
        return {
            "LaunchTemplateId": template.id,
            "LaunchTemplateName": template.name,
            "CreateTime": template.create_time.replace(tzinfo=dt.UTC),
            "CreatedBy": f"arn:aws:iam::{self.ec2.account_id}:root",
            "DefaultVersionNumber": template.default_version_number,
            "LatestVersionNumber": self._live_versions(template)[-1].number,
            "Tags": [{"Key": t["key"], "Value": t["value"]} for t in template.get_tags()],
        }

    def _template_group(self, template) -> str:
        """The group that launches from the template, for the timeline."""
        return next((g.name for g in self.asg.autoscaling_groups.values() if g.ec2_launch_template is template), "")

    def _ec2_CreateLaunchTemplateVersion(self, params):
        token = params.get("ClientToken")
        if token in self.client_tokens:  # the same request again: the version it created
            first, version = self.client_tokens[token]
            if first != params:
                raise AwsError(
                    "IdempotentParameterMismatch",
                    "The client token you have provided is associated with a resource that is already deleted "
                    "or has different parameters.",
                )
            return {"LaunchTemplateVersion": self._version_view(version)}
        template = self._launch_template(params)
        data = copy.deepcopy(params["LaunchTemplateData"])
        if "SourceVersion" in params:  # inherited, but for the top-level keys given
            data = {**launch_data(self._template_version(template, params["SourceVersion"])), **data}
        version = template.create_version(data, params.get("VersionDescription"))
        if token:
            self.client_tokens[token] = (copy.deepcopy(params), version)
        self.log(
            self.clock.now(),
            self._template_group(template),
            "",
            f"launch template {template.name} version {version.number}: image {version.image_id}",
        )
        return {"LaunchTemplateVersion": self._version_view(version)}

    def _ec2_ModifyLaunchTemplate(self, params):
        template = self._launch_template(params)
        if "DefaultVersion" in params:
            template.default_version_number = self._template_version(template, params["DefaultVersion"]).number
            self.log(
                self.clock.now(),
                self._template_group(template),
                "",
                f"launch template {template.name} default version -> {template.default_version_number}",
            )
        return {"LaunchTemplate": self._template_view(template)}

    def _ec2_DeleteLaunchTemplateVersions(self, params):
        template = self._launch_template(params)
        live = {v.number for v in self._live_versions(template)}
        deleted, refused = [], []
        for text in params["Versions"]:
            number = int(text) if str(text).isdigit() else None
            item = {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name, "VersionNumber": number}
            # The codes: botocore's LaunchTemplateErrorCode for a version that does not exist; for the default
            # version (refused, per DeleteLaunchTemplateVersions) not confirmed. The messages are not confirmed.
            if number not in live:
                error = {"Code": "launchTemplateVersionDoesNotExist", "Message": "The version does not exist."}
                refused.append({**item, "ResponseError": error})
            elif number == template.default_version_number:
                error = {"Code": "launchTemplateVersionIsDefaultVersion", "Message": "The version is the default."}
                refused.append({**item, "ResponseError": error})
            else:
                self.deleted_versions.add((template.id, number))
                live.discard(number)
                deleted.append(item)
                self.log(
                    self.clock.now(),
                    self._template_group(template),
                    "",
                    f"launch template {template.name} version {number} deleted",
                )
        return {
            "SuccessfullyDeletedLaunchTemplateVersions": deleted,
            "UnsuccessfullyDeletedLaunchTemplateVersions": refused,
        }

    def _ec2_DescribeLaunchTemplateVersions(self, params):
        named = params.get("LaunchTemplateId") or params.get("LaunchTemplateName")
        templates = [self._launch_template(params)] if named else list(self.ec2.launch_templates.values())
        low, high = int(params.get("MinVersion", 1)), int(params.get("MaxVersion", 2**63))
        found = []
        for template in templates:
            if params.get("Versions"):
                versions = [self._template_version(template, v) for v in params["Versions"]]
            else:
                versions = [v for v in self._live_versions(template) if low <= v.number <= high]
            found += [self._version_view(v) for v in versions]
        return {"LaunchTemplateVersions": found}

    def _ec2_DescribeLaunchTemplates(self, params):
        filters = {f["Name"]: f["Values"] for f in params.get("Filters", [])}
        templates = self.ec2.describe_launch_templates(
            params.get("LaunchTemplateNames"), params.get("LaunchTemplateIds"), filters
        )
        return {"LaunchTemplates": [self._template_view(t) for t in templates]}

    # Elastic Load Balancing v2 ----------------------------------------------------------------------
    def _elbv2_DescribeTargetHealth(self, params):
        arn = params["TargetGroupArn"]
        wanted = [t["Id"] for t in params.get("Targets", [])] or [
            i.instance_id for i in self.instances.values() if arn in i.targets
        ]
        descriptions = []
        for instance_id in wanted:
            sim = self.instances.get(instance_id)
            state, reason = (
                sim.targets.get(arn, ("unused", "Target.NotRegistered")) if sim else ("unused", "Target.NotRegistered")
            )
            health = {"State": state}
            if reason:
                health["Reason"] = reason
            descriptions.append({"Target": {"Id": instance_id, "Port": 80}, "TargetHealth": health})
        return {"TargetHealthDescriptions": descriptions}

    # Systems Manager ------------------------------------------------------------------------------------
    def _ssm_SendCommand(self, params):
        document = params["DocumentName"]
        if document != "AWS-RunPatchBaseline":
            raise AwsError("InvalidDocument", f"Document {document} does not exist in the simulated account.")
        operation = params.get("Parameters", {}).get("Operation", [None])[0]
        if operation not in ("Scan", "Install"):
            raise AwsError("InvalidParameters", "Operation must be Scan or Install.")
        for instance_id in params["InstanceIds"]:
            if instance_id not in self.instances:
                raise AwsError("InvalidInstanceId", "Instances not in a valid state for account")
        command_id = str(uuid.uuid4())
        now = self.clock.now()
        timeout = params.get("TimeoutSeconds", 3600)
        for instance_id in params["InstanceIds"]:
            sim = self.instances[instance_id]
            invocation = Invocation(
                command_id, instance_id, document, params.get("Comment", ""), params.get("Parameters", {}), now, timeout
            )
            self.invocations[(command_id, instance_id)] = invocation
            self.commands.setdefault(instance_id, []).append(command_id)
            self.log(now, sim.group, instance_id, f"AWS-RunPatchBaseline {operation} sent ({command_id[:8]})")
            if sim.agent_online:
                self.at(DELIVERY_SECONDS, lambda t, inv=invocation, s=sim: self._start_command(t, inv, s))
            self.at(timeout, lambda t, inv=invocation: self._delivery_timeout(t, inv))
        return {
            "Command": {
                "CommandId": command_id,
                "DocumentName": document,
                "Status": "Pending",
                "InstanceIds": params["InstanceIds"],
                "Comment": params.get("Comment", ""),
            }
        }

    def _start_command(self, t, invocation, sim):
        if invocation.status != "Pending":
            return
        invocation.status = invocation.details = "InProgress"
        invocation.start_at = t
        if "patch_timeout" in sim.faults:
            return  # never ends
        invocation.outcome = "Failed" if "patch_failed" in sim.faults else "Success"
        self.at(
            sim.patch_seconds if invocation.parameters.get("Operation") == ["Install"] else 60,
            lambda t2, inv=invocation, s=sim: self._finish_command(t2, inv, s),
        )

    def _finish_command(self, t, invocation, sim):
        if invocation.status != "InProgress":
            return
        sim.last_operation = invocation.parameters.get("Operation", ["Scan"])[0]
        if invocation.outcome == "Success" and sim.last_operation == "Install":
            patches, missing = sim.patches, sim.patches["missing"]
            failed = min(missing, 2) if "failed_patches" in sim.faults else 0
            installed = missing - failed
            if invocation.parameters.get("RebootOption") == ["NoReboot"]:
                patches["pending_reboot"] += installed
            else:
                patches["installed"] += installed
            patches.update(missing=failed, failed=failed)
        invocation.status = invocation.details = invocation.outcome
        invocation.response_code = 0 if invocation.outcome == "Success" else 1
        self._ended(t, invocation)
        self.log(t, sim.group, sim.instance_id, f"AWS-RunPatchBaseline {invocation.outcome}")
        if "paused_after_patch" in sim.faults:
            group = self.asg.autoscaling_groups[sim.group]
            group.tags = [{**t, "Value": "paused"} if t["Key"] == "AutoPatch" else t for t in group.tags]
            self.log(t, sim.group, "", "group tagged AutoPatch=paused by an operator")
        alarm = self.groups[sim.group].alarm
        if "alarm_after_patch" in sim.faults and alarm:
            self.cloudwatch.set_alarm_state(alarm, "Threshold crossed after patching", "{}", "ALARM")
            self.log(t, sim.group, sim.instance_id, f"alarm {alarm} -> ALARM")

    def _delivery_timeout(self, t, invocation):
        if invocation.status == "Pending":
            invocation.status, invocation.details = "TimedOut", "Delivery Timed Out"
            self._ended(t, invocation)

    def _ended(self, t, invocation):
        """An invocation reached a terminal status: SSM sends its status-change event to EventBridge."""
        invocation.end_at = t
        self.emit(
            "EC2 Command Invocation Status-change Notification",
            "aws.ssm",
            {
                "command-id": invocation.command_id,
                "document-name": invocation.document,
                "instance-id": invocation.instance_id,
                "requested-date-time": self.clock.start_plus(invocation.sent_at),
                "status": invocation.status,
            },
            [f"arn:aws:ec2:us-east-1:123456789012:instance/{invocation.instance_id}"],
        )

    def _invocation(self, params) -> Invocation:
        invocation = self.invocations.get((params["CommandId"], params["InstanceId"]))
        if invocation is None or self.clock.now() - invocation.sent_at < INVOCATION_VISIBLE_AFTER:
            raise AwsError("InvocationDoesNotExist", "")
        return invocation

    def _ssm_GetCommandInvocation(self, params):
        inv = self._invocation(params)
        return {
            "CommandId": inv.command_id,
            "InstanceId": inv.instance_id,
            "Comment": inv.comment,
            "DocumentName": inv.document,
            "Status": inv.status,
            "StatusDetails": inv.details,
            "ResponseCode": inv.response_code,
        }

    def _ssm_ListCommands(self, params):
        instance_id = params.get("InstanceId")
        ids = (
            self.commands.get(instance_id, [])
            if instance_id
            else list({inv.command_id for inv in self.invocations.values()})
        )
        commands = []
        for command_id in ids:
            invs = [inv for (cid, _), inv in self.invocations.items() if cid == command_id]
            first = invs[0]
            commands.append(
                {
                    "CommandId": command_id,
                    "DocumentName": first.document,
                    "Comment": first.comment,
                    "Status": first.status,
                    "InstanceIds": [inv.instance_id for inv in invs],
                }
            )
        return {"Commands": commands}

    def _ssm_CancelCommand(self, params):
        for (command_id, instance_id), inv in self.invocations.items():
            wanted = command_id == params["CommandId"] and instance_id in params.get("InstanceIds", [instance_id])
            if wanted and inv.status in ("Pending", "InProgress", "Delayed"):
                inv.status, inv.details = "Cancelled", "Cancelled"
                self._ended(self.clock.now(), inv)
                self.log(inv.end_at, self.instances[instance_id].group, instance_id, "AWS-RunPatchBaseline Cancelled")
        return {}

    def _ssm_DescribeInstancePatchStates(self, params):
        states = []
        for instance_id in params["InstanceIds"]:
            sim = self.instances.get(instance_id)
            if sim is None:
                continue
            p = sim.patches
            states.append(
                {
                    "InstanceId": instance_id,
                    "PatchGroup": "",
                    "BaselineId": "pb-0simulated",
                    "Operation": sim.last_operation,
                    "OperationStartTime": self.clock.now_datetime(),
                    "OperationEndTime": self.clock.now_datetime(),
                    "InstalledCount": p["installed"],
                    "MissingCount": p["missing"],
                    "FailedCount": p["failed"],
                    "InstalledPendingRebootCount": p["pending_reboot"],
                    "InstalledOtherCount": 0,
                    "InstalledRejectedCount": 0,
                    "NotApplicableCount": 12,
                }
            )
        return {"InstancePatchStates": states}

    def _ssm_DescribeInstanceInformation(self, params):
        return {
            "InstanceInformationList": [
                {
                    "InstanceId": i.instance_id,
                    "PingStatus": "Online" if i.agent_online else "ConnectionLost",
                    "PlatformType": "Linux",
                    "ResourceType": "EC2Instance",
                }
                for i in self.instances.values()
            ]
        }


def named_instances(params: dict) -> list[str]:
    """The instance ids a call's parameters name."""
    found = list(params.get("InstanceIds") or []) + list(params.get("Resources") or [])
    if isinstance(params.get("InstanceId"), str):
        found.append(params["InstanceId"])
    found += [t["Id"] for t in params.get("Targets") or [] if isinstance(t, dict) and "Id" in t]
    return [i for i in found if isinstance(i, str) and i.startswith("i-")]


def launch_data(version) -> dict:
    """A launch template version's data as EC2 returns it (moto keeps a UserData never given as None)."""
    return {key: copy.deepcopy(value) for key, value in version.data.items() if value is not None}


def error_response(error: AwsError):
    http = AWSResponse("https://simulated", error.status, {}, None)
    return http, {
        "Error": {"Code": error.code, "Message": error.message},
        "ResponseMetadata": {"HTTPStatusCode": error.status},
    }


def ok_response(parsed: dict):
    parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": 200})
    return AWSResponse("https://simulated", 200, {}, None), parsed
