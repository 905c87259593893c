"""EC2 Auto Scaling as the project sees it: standby and its timing, capacity, launch sources, scale-out.

EnterStandby only from InService and never below MinSize; InService -> EnteringStandby (for the target groups'
deregistration delay) -> Standby -> Pending -> InService; ExitStandby raises the desired capacity by one, so it is
refused when that would take the desired capacity above MaxSize, which it never exceeds (UpdateAutoScalingGroup):
- https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_EnterStandby.html
- https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_ExitStandby.html
- https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-enter-exit-standby.html
- https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_UpdateAutoScalingGroup.html
- https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeInstanceRefreshes.html

StartInstanceRefresh is refused (InstanceRefreshInProgress) while another refresh of the group is active; a new
one is Pending "while it's initializing", then "quickly" InProgress (here after REFRESH_PENDING_SECONDS, a time
AWS does not state), and is listed first by DescribeInstanceRefreshes. The simulated refresh replaces no
instance: it stays InProgress, and the run must leave the group to it before its next instance.
- https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_StartInstanceRefresh.html
- https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-overview.html
- https://docs.aws.amazon.com/autoscaling/ec2/userguide/check-status-instance-refresh.html

DescribeWarmPool: the group's warm pool configuration (none without a warm pool) and its instances, at most
MaxRecords (50 at most; 50 when not given, not confirmed) a page, then NextToken; moto 5.2.5 lists no instances:
- https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeWarmPool.html

UpdateAutoScalingGroup: MinSize <= DesiredCapacity <= MaxSize, else ValidationError; a new MinSize above the
desired capacity, or a new MaxSize below it, given without a DesiredCapacity, sets the desired capacity to it.
SuspendProcesses/ResumeProcesses keep the group's suspended processes (all of them when none is named; a name
Auto Scaling does not know is a ValidationError); while Launch is suspended, no instance leaves Standby:
https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-suspend-resume-processes.html

A new desired capacity (UpdateAutoScalingGroup, SetDesiredCapacity) must lie within MinSize..MaxSize, and the group
then launches or terminates instances to reach it (capacity.settle):
- https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_SetDesiredCapacity.html
- https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-capacity-limits.html
- https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-scaling-manually.html

TerminateInstanceInAutoScalingGroup "simply makes a termination request": the instance is Terminating, then
Terminated and out of the group; with ShouldDecrementDesiredCapacity the desired capacity falls by one (refused at
MinSize), without it Auto Scaling launches a replacement; never for an instance in a warm pool:
https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_TerminateInstanceInAutoScalingGroup.html
"""

import copy
import uuid

from moto.core.exceptions import ServiceException

from simulator.scenario import SCALING_PROCESSES

from .common import AwsError, ModelState

# Seconds an instance spends in Pending after ExitStandby (or its launch) before it is InService.
PENDING_SECONDS = 10
REFRESH_PENDING_SECONDS = 30  # an instance refresh's Pending, before InProgress
ACTIVE_REFRESH = ("Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking")
WARM_POOL_PAGE = 50  # DescribeWarmPool's MaxRecords: its largest value, and its default here
# The states the run itself takes an instance out of service through (a launch's Pending is not one).
TAKEN_OUT = ("EnteringStandby", "Standby", "Pending")


class AutoScaling(ModelState):
    """The Auto Scaling calls answered here, on moto's groups (self.asg); the launch template lookups are Ec2's."""

    def _group(self, name: str):
        group = self.asg.autoscaling_groups.get(name)
        if group is None:
            raise AwsError("ValidationError", f"AutoScalingGroup name not found - no such group: {name}")
        return group

    def _state(self, group_name: str, instance_id: str):
        group = self._group(group_name)
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
        self.settle(self.clock.now(), name)  # without the decrement, the group launches a replacement
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
                {"ProcessName": name, "SuspensionReason": "User suspended"} for name in self.suspended(group)
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
            if sim is None or self.state_of(sim).lifecycle_state == "Terminated":  # no longer in a group
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
        """Every lifecycle change of a simulated instance goes here, so out-of-service counts stay exact: those
        the run took out of service (a launch, a termination are Auto Scaling's own, a standby by a fleet event
        another tool's)."""
        self.state_of(sim).lifecycle_state = state_name
        out = self.out_of_service.setdefault(sim.group, set())
        sim.out_by_another = sim.out_by_another and state_name in TAKEN_OUT
        if state_name in TAKEN_OUT and not sim.launching and not sim.out_by_another:
            out.add(sim.instance_id)
        else:
            out.discard(sim.instance_id)
        self.max_out_of_service[sim.group] = max(self.max_out_of_service.get(sim.group, 0), len(out))
        self.track(sim)

    @staticmethod
    def suspended(group) -> list[str]:
        """The group's suspended processes (moto keeps names, or {"ProcessName": ...} as it was created)."""
        return sorted(p["ProcessName"] if isinstance(p, dict) else p for p in group.suspended_processes)

    def _suspended(self, group, process: str) -> bool:
        return process in self.suspended(group)

    def _processes(self, params) -> tuple:
        group = self._group(params["AutoScalingGroupName"])
        named = params.get("ScalingProcesses") or list(SCALING_PROCESSES)
        unknown = [p for p in named if p not in SCALING_PROCESSES]
        if unknown:  # wording not confirmed against AWS
            raise AwsError("ValidationError", f"Process {unknown[0]} is not a valid scaling process")
        return group, set(named)

    def _autoscaling_SuspendProcesses(self, params):
        group, named = self._processes(params)
        group.suspended_processes = sorted(set(self.suspended(group)) | named)
        self.log(self.clock.now(), group.name, "", f"suspended processes: {', '.join(self.suspended(group))}")
        return {}

    def _autoscaling_ResumeProcesses(self, params):
        group, named = self._processes(params)
        group.suspended_processes = sorted(set(self.suspended(group)) - named)
        self.log(self.clock.now(), group.name, "", f"resumed {', '.join(sorted(named))}")
        self.settle(self.clock.now(), group.name)
        return {}

    def _new_sizes(self, group, min_size=None, max_size=None, desired=None) -> tuple[int, int, int]:
        """(MinSize, MaxSize, DesiredCapacity) after an update naming these, by UpdateAutoScalingGroup's rules."""
        new_min = group.min_size if min_size is None else min_size
        new_max = group.max_size if max_size is None else max_size
        if desired is None:
            desired = max(group.desired_capacity, new_min) if min_size is not None else group.desired_capacity
            desired = min(desired, new_max) if max_size is not None else desired
        if not new_min <= desired <= new_max:
            raise AwsError(
                "ValidationError",
                f"Desired capacity:{desired} must be between the specified min size:{new_min} and max size:{new_max}",
            )
        return new_min, new_max, desired

    def _autoscaling_UpdateAutoScalingGroup(self, params):
        name = params["AutoScalingGroupName"]
        group = self._group(name)
        min_size, max_size, desired = self._new_sizes(
            group, params.get("MinSize"), params.get("MaxSize"), params.get("DesiredCapacity")
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
        if max_size != group.max_size:
            self.log(self.clock.now(), name, "", f"MaxSize {group.max_size} -> {max_size}")
        group.min_size, group.max_size = min_size, max_size
        self._set_desired(group, desired)
        return {}

    def _autoscaling_SetDesiredCapacity(self, params):
        """Within MinSize..MaxSize (AWS's wording, as the CLI prints it in public reports; not in AWS's
        documentation). HonorCooldown is accepted: the simulated group has no scaling cooldown to honour."""
        group = self._group(params["AutoScalingGroupName"])
        desired = params["DesiredCapacity"]
        if desired > group.max_size:
            raise AwsError(
                "ValidationError",
                f"New SetDesiredCapacity value {desired} is above max value {group.max_size} for the AutoScalingGroup.",
            )
        if desired < group.min_size:
            raise AwsError(
                "ValidationError",
                f"New SetDesiredCapacity value {desired} is below min value {group.min_size} for the AutoScalingGroup.",
            )
        self._set_desired(group, desired)
        return {}

    def _set_desired(self, group, desired: int) -> None:
        """The group's new desired capacity, which Auto Scaling then launches or terminates instances to reach."""
        before = group.desired_capacity
        group.desired_capacity = desired
        if desired != before:
            self.log(self.clock.now(), group.name, "", f"desired capacity {before} -> {desired}")
            # Auto Scaling now launches or terminates on its own for this group, as it does on AWS in every
            # scenario: a scenario without fleet events keeps its fleet still only until a call asks it to move.
            self.fleet_moves = True
        self.settle(self.clock.now(), group.name)

    def _autoscaling_TerminateInstanceInAutoScalingGroup(self, params):
        """One instance by InstanceId (the call's InstanceIds form is not simulated). Refused: an instance in no
        group ("No managed instance found", as a public report quotes it:
        https://github.com/yaybu/touchdown/issues/51), one in a warm pool (API reference; wording not confirmed),
        one entering standby (ScalingActivityInProgress, as reported in
        https://github.com/keikoproj/upgrade-manager/issues/77; wording the API reference's), one already
        terminating (wording not confirmed), and a decrement at MinSize (AWS's wording, quoted in
        https://github.com/aws/aws-cli/issues/47 and https://github.com/buildkite/elastic-ci-stack-for-aws/issues/1261).
        A Pending*, InService or Standby instance is terminated."""
        instance_id = params.get("InstanceId")
        if not instance_id:
            raise AwsError("ValidationError", "The simulator terminates an instance named by InstanceId only.")
        sim = self.instances.get(instance_id)
        warm = any(w["InstanceId"] == instance_id for g in self.groups.values() for w in g.warm_instances)
        if warm:
            raise AwsError("ValidationError", f"The instance {instance_id} is in a warm pool and cannot be terminated.")
        if sim is None or self.state_of(sim).lifecycle_state == "Terminated":
            raise AwsError(
                "ValidationError", f"Instance Id not found - No managed instance found for instance ID {instance_id}"
            )
        group, state = self._state(sim.group, instance_id)
        if state.lifecycle_state == "EnteringStandby":
            raise AwsError(
                "ScalingActivityInProgress",
                "The operation can't be performed because there are scaling activities in progress.",
            )
        if state.lifecycle_state.startswith("Terminating"):
            raise AwsError("ValidationError", f"The instance {instance_id} is already terminating.")
        decrement = params["ShouldDecrementDesiredCapacity"]
        before = group.desired_capacity
        if decrement and before <= group.min_size:
            raise AwsError(
                "ValidationError",
                f"Currently, desiredSize equals minSize ({group.min_size}). Terminating instance without replacement "
                "will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or "
                "lower group's min size.",
            )
        if decrement:
            group.desired_capacity -= 1
        now = self.clock.now()
        self._terminate(now, sim, f"TerminateInstanceInAutoScalingGroup, desired {before} -> {group.desired_capacity}")
        # Auto Scaling launches (or, once the fleet moves, keeps launching) the instances the group is short of
        self.fleet_moves = True
        self.settle(now, group.name)
        shrinking = f", shrinking the capacity from {before} to {group.desired_capacity}" if decrement else ""
        return {
            "Activity": {
                "ActivityId": str(uuid.uuid4()),
                "AutoScalingGroupName": group.name,
                "Description": f"Terminating EC2 instance: {instance_id}",
                "Cause": f"At {self._iso()} instance {instance_id} was taken out of service in response to a user "
                f"request{shrinking}.",
                "StartTime": self.clock.now_datetime(),
                "StatusCode": "InProgress",
                "Progress": 0,
            }
        }

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

    def _autoscaling_StartInstanceRefresh(self, params):
        name = params["AutoScalingGroupName"]
        group, sim_group = self._group(name), self.groups[name]
        active = next((r for r in sim_group.refreshes if r["Status"] in ACTIVE_REFRESH), None)
        if active:  # wording not confirmed against AWS; the error is (StartInstanceRefresh API reference)
            raise AwsError(
                "InstanceRefreshInProgress",
                f"An Instance Refresh is already in progress and blocks the execution of this Instance Refresh "
                f"({active['InstanceRefreshId']}).",
            )
        refresh = {
            "InstanceRefreshId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{self.clock.now()}")),
            "AutoScalingGroupName": name,
            "Status": "Pending",
            "StartTime": self.clock.now_datetime(),
            "PercentageComplete": 0,
            "InstancesToUpdate": len(group.instance_states),
        }
        sim_group.refreshes.insert(0, refresh)
        self.log(self.clock.now(), name, "", f"instance refresh {refresh['InstanceRefreshId']} Pending")
        self.at(REFRESH_PENDING_SECONDS, lambda t: self._refresh_starts(t, name, refresh))
        return {"InstanceRefreshId": refresh["InstanceRefreshId"]}

    def _refresh_starts(self, t, name: str, refresh: dict) -> None:
        if refresh["Status"] == "Pending":
            refresh["Status"] = "InProgress"
            self.log(t, name, "", f"instance refresh {refresh['InstanceRefreshId']} InProgress")

    def _autoscaling_DescribeWarmPool(self, params):
        group = self._group(params["AutoScalingGroupName"])
        size = params.get("MaxRecords") or WARM_POOL_PAGE
        if not 1 <= size <= WARM_POOL_PAGE:  # wording not confirmed against AWS
            raise AwsError("ValidationError", f"MaxRecords must be between 1 and {WARM_POOL_PAGE}")
        token = params.get("NextToken")
        if token is not None and not token.isdigit():
            raise AwsError("InvalidNextToken", "The token is not valid.")
        start = int(token or 0)
        warm = self.groups[group.name].warm_instances
        page: dict = {"Instances": [dict(i) for i in warm[start : start + size]]}
        if group.warm_pool is not None:
            pool = group.warm_pool
            page["WarmPoolConfiguration"] = {
                "MinSize": pool.min_size,
                "PoolState": pool.pool_state,
                **(
                    {"MaxGroupPreparedCapacity": pool.max_group_prepared_capacity}
                    if pool.max_group_prepared_capacity is not None
                    else {}
                ),
            }
        if start + size < len(warm):
            page["NextToken"] = str(start + size)
        return page

    def _reach_standby(self, t, state, sim):
        if state.lifecycle_state != "EnteringStandby":
            return
        self.set_lifecycle(t, sim, "Standby")
        for arn in sim.targets:
            sim.targets[arn] = ("unused", "Target.NotRegistered")
        self.log(t, sim.group, sim.instance_id, "Standby (deregistered from its target groups)")
        self.settle(t, sim.group)  # the group may now be unbalanced across its Availability Zones

    def _autoscaling_ExitStandby(self, params):
        name = params["AutoScalingGroupName"]
        activities = []
        for instance_id in params["InstanceIds"]:
            group, state = self._state(name, instance_id)
            if state.lifecycle_state != "Standby":
                raise AwsError("ValidationError", f"The instance {instance_id} is not in Standby.")
            if self._suspended(group, "Launch"):  # wording not confirmed against AWS; the rule is
                raise AwsError(
                    "ValidationError", f"The instance {instance_id} cannot leave Standby: Launch is suspended."
                )
            if group.desired_capacity + 1 > group.max_size:
                # the rule is AWS's (the module's docstring); the wording is not confirmed
                raise AwsError(
                    "ValidationError",
                    f"The instance {instance_id} cannot exit Standby: desired capacity {group.desired_capacity + 1} "
                    f"would be above max size {group.max_size} of AutoScalingGroup {name}.",
                )
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
        if state.lifecycle_state not in ("Pending", "Pending:Proceed"):
            return
        if sim.ec2_terminated:  # health-checked again once back in service: it is gone, and is replaced
            self.replace(t, sim, "found terminated when it returned to service")
            return
        for arn in sim.targets:
            sim.targets[arn] = ("initial", "Elb.RegistrationInProgress")
        sim.launching = False
        self.set_lifecycle(t, sim, "InService")
        self.log(t, sim.group, sim.instance_id, "InService (target registered, health check initial)")
        self.at(self.groups[sim.group].warmup_seconds, lambda t2, i=sim: self._warm_up(t2, i))
        if self.groups[sim.group].rebalancing != sim.instance_id:
            self.settle(t, sim.group)
            return
        self.groups[sim.group].rebalancing = None
        self.settle(t, sim.group, "AZRebalance: terminating in the zone with the most instances")

    def _warm_up(self, t, sim):
        in_service = self.state_of(sim).lifecycle_state == "InService"
        if in_service and sim.launched_during_run and self.groups[sim.group].launches_unhealthy:
            # it never passes its health checks: what Auto Scaling does with an unhealthy target applies
            self._turns_unhealthy(t, sim)
            return
        healthy = "unhealthy_after_patch" not in sim.faults
        for arn, (target_state, _) in sim.targets.items():
            if target_state == "initial":
                sim.targets[arn] = ("healthy", None) if healthy else ("unhealthy", "Target.FailedHealthChecks")
        self.track(sim)
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
        source (after the run: they are launched, no more)."""
        group = self.asg.autoscaling_groups[group_name]
        assert group.desired_capacity is not None  # moto sets it when it creates a group (MinSize if none is given)
        group.desired_capacity += count
        launched = [state.instance for state in self.launch_instances(group, count)]
        for instance in launched:
            self.log(
                self.clock.now(),
                group_name,
                instance.id,
                f"scaled out: launched {instance.id} from {instance.image_id}",
            )
        return [{"instance_id": instance.id, "image_id": instance.image_id} for instance in launched]

    def launch_instances(self, group, count: int, what: str = "scale-out") -> list:
        """moto's InstanceStates of count instances the group launches from its launch source, as EC2 resolves it;
        none if that fails (a launch from an image that is not available fails, as on AWS): "<what> failed"."""
        now = self.clock.now()
        try:
            image_id, version = self._launch_source(group)
        except AwsError as error:
            self.log(now, group.name, "", f"{what} failed: {error.message}")
            return []
        image = self.ec2.amis.get(image_id)
        if image is None or image.state != "available":
            self.log(now, group.name, "", f"{what} failed: image {image_id} is {image.state if image else 'gone'}")
            return []
        before = {state.instance.id for state in group.instance_states}
        if version:  # moto's $Latest is the last version ever made, even a deleted one: launch from the one resolved
            followed, group.launch_template_version = group.launch_template_version, str(version.number)
        group.replace_autoscaling_group_instances(count, group.get_propagated_tags())
        if version:
            group.launch_template_version = followed
        return [state for state in group.instance_states if state.instance.id not in before]
