"""EC2 Auto Scaling as the project sees it: standby and its timing, capacity, launch sources, scale-out.

EnterStandby only from InService and never below MinSize; InService -> EnteringStandby (for the target groups'
deregistration delay) -> Standby -> Pending -> InService; ExitStandby raises the desired capacity by one:
- https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_EnterStandby.html
- https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_ExitStandby.html
- https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-enter-exit-standby.html
- https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_UpdateAutoScalingGroup.html
- https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeInstanceRefreshes.html
"""

import copy
import uuid

from moto.core.exceptions import ServiceException

from .common import AwsError, ModelState

# Seconds an instance spends in Pending after ExitStandby before it is InService.
PENDING_SECONDS = 10


class AutoScaling(ModelState):
    """The Auto Scaling calls answered here, on moto's groups (self.asg); the launch template lookups are Ec2's."""

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
            # moto declares launch_config never None, but sets it None itself for a group launched from a template
            group.launch_config = group.mixed_instances_policy = None  # type: ignore[assignment]
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
        return {"InstanceRefreshes": [dict(r) for r in group.refreshes] if group else []}

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
        assert group.desired_capacity is not None  # moto sets it when it creates a group (MinSize if none is given)
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
