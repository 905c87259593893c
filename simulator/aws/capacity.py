"""Auto Scaling keeping a moving fleet at its desired capacity: launches, terminations, the default termination
policy, replacing what EC2 terminated or the load balancer found unhealthy, Availability Zone rebalancing; and
the scenario's fleet events that set them off (scale_out, scale_in, terminate, unhealthy, set_size,
start_instance_refresh: StartInstanceRefresh, enter_standby and exit_standby: EnterStandby and ExitStandby by
another tool, autoscaling.py).

- A launched instance is Pending, then (with a launch lifecycle hook) Pending:Wait for the hook's time, then
  Pending:Proceed, then InService, registered with its target groups (healthy after the warm-up); a terminated
  one is Terminating (its targets draining for the deregistration delay), then Terminated, no longer in the
  group: https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-lifecycle.html,
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html
- A scale-out never goes above MaxSize, a scale-in never below MinSize, as a scaling policy's adjustment:
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-simple-step.html
- Which instance a scale-in terminates (default termination policy): in the Availability Zone with the most
  instances and at least one not protected from scale in; there, one launched from a configuration other than
  the group's (here: from another image than the group launches now), then the one closest to the next billing
  hour, then at random (here: the earliest launched); never one in Standby, never a protected one:
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-termination-policies.html,
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-instance-protection.html,
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-enter-exit-standby.html
- A new instance goes to the Availability Zone with the fewest instances:
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/auto-scaling-benefits.html#AutoScalingBehavior.Rebalancing
- An InService instance EC2 terminates (a Spot interruption, a failed status check), or whose target the load
  balancer finds unhealthy (ELB health checks on), is terminated and replaced (ReplaceUnhealthy: Terminate, then
  Launch): https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-health-checks.html
- Auto Scaling does not health-check an instance in Standby: one EC2 terminates stays in the group, in Standby
  and Healthy, and nothing replaces it (the capacity EnterStandby took stays lost) until it is returned to
  service, when it is found unhealthy and replaced ("Health status of an instance in a standby state"):
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-enter-exit-standby.html
- Availability Zone rebalancing, after terminations or standby leave the group's InService and Pending instances
  two or more apart between zones: Auto Scaling launches in the zone with the fewest first (up to 10% or one
  instance above MaxSize), then, once the new one is InService, terminates one in the zone with the most;
  suspending AZRebalance stops it, suspending Launch stops it and every launch, suspending Terminate leaves it
  above capacity, suspending HealthCheck or ReplaceUnhealthy stops replacing unhealthy instances:
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/auto-scaling-benefits.html#AutoScalingBehavior.InstanceUsage,
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-suspend-resume-processes.html

- A group whose launches never pass their health checks (SimGroup.launches_unhealthy): each instance it launches
  has its targets unhealthy after the warm-up, and is replaced as above.

These run only in a scenario with fleet events (AwsModel.fleet_moves), or once a call has asked Auto Scaling to
launch or terminate (a new desired capacity, TerminateInstanceInAutoScalingGroup: autoscaling.py); until then the
fleet moves only as the run moves it.
"""

import math

from .autoscaling import PENDING_SECONDS
from .common import AwsError, ModelState, SimInstance

# Auto Scaling counts these against the desired capacity (not Standby, not Terminating).
COUNTED = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")
PROCEED_SECONDS = 1  # from Pending:Proceed to InService


class Capacity(ModelState):
    """Launches, terminations and rebalancing on moto's groups, and the scenario's fleet events."""

    def spread(self, group_name: str) -> None:
        """The group's instances, spread evenly across its Availability Zones in launch order."""
        group = self.asg.autoscaling_groups[group_name]
        for n, state in enumerate(group.instance_states):
            self._place(state, group.availability_zones[n % len(group.availability_zones)])

    @staticmethod
    def _place(state, zone: str) -> None:
        """The instance in this zone (its subnet stays moto's: the group's first)."""
        state.availability_zone = state.instance.placement.zone = zone

    # health: the fewest InService instances healthy in every target group at once, by group, and each change of
    # their count ------------------------------------------------------------------------------------------------
    def track_health(self) -> None:
        """Start counting, from the fleet as it stands."""
        for sim in self.instances.values():
            self.track(sim)
        self.min_healthy = {name: len(self.serving.get(name, ())) for name in self.groups}
        now = self.clock.now()
        self.serving_counts = {name: [(now, count)] for name, count in self.min_healthy.items()}

    def track(self, sim: SimInstance) -> None:
        serving = self.serving.setdefault(sim.group, set())
        before = len(serving)
        if self.state_of(sim).lifecycle_state == "InService" and all(s == "healthy" for s, _ in sim.targets.values()):
            serving.add(sim.instance_id)
        else:
            serving.discard(sim.instance_id)
        if sim.group in self.min_healthy:
            self.min_healthy[sim.group] = min(self.min_healthy[sim.group], len(serving))
        if sim.group in self.serving_counts and len(serving) != before:
            self.serving_counts[sim.group].append((self.clock.now(), len(serving)))

    def capacity_seconds_lost(self, group_name: str, until: float) -> float:
        """Instance-seconds the group spent below its healthy count at the start (the count min_healthy starts
        from), from the start until then: the sum over virtual time of max(0, healthy at the start - healthy then).
        Each change of the count (track) closes an interval; the last one open closes at `until`."""
        counts = self.serving_counts[group_name]
        start = counts[0][1]
        ends = [t for t, _ in counts[1:]] + [until]
        return sum(
            max(0, start - count) * max(0.0, min(end, until) - min(since, until))
            for (since, count), end in zip(counts, ends, strict=True)
        )

    # the fleet events -----------------------------------------------------------------------------------
    def fleet_event(self, t: float, event) -> None:
        """Apply one of the scenario's fleet events (scenario.FleetEvent) now."""
        name, group = event.group, self.asg.autoscaling_groups[event.group]
        before = _desired(group)
        if event.do == "scale_out":
            group.desired_capacity = min(before + event.count, group.max_size)
            bound = f" (MaxSize {group.max_size})" if before + event.count > group.max_size else ""
            self.log(t, name, "", f"scale_out {event.count}: desired {before} -> {group.desired_capacity}{bound}")
        elif event.do == "scale_in" and not event.indexes:
            group.desired_capacity = max(before - event.count, group.min_size)
            bound = f" (MinSize {group.min_size})" if before - event.count < group.min_size else ""
            self.log(t, name, "", f"scale_in {event.count}: desired {before} -> {group.desired_capacity}{bound}")
        elif event.do == "scale_in":
            self._scale_in_chosen(t, group, event.indexes)
        elif event.do == "set_size":
            self._set_size(t, group, event)
        elif event.do == "start_instance_refresh":
            try:
                self._autoscaling_StartInstanceRefresh({"AutoScalingGroupName": name})
            except AwsError as error:
                self.log(t, name, "", f"start_instance_refresh refused: {error.code}: {error.message}")
        else:
            sim = self._sim_at(name, event.index)
            if sim is None:
                self.log(t, name, "", f"{event.do} {event.index} refused: no instance {event.index} launched yet")
            elif event.do == "terminate":
                self._ec2_terminates(t, sim)
            elif event.do in ("enter_standby", "exit_standby"):
                self._standby_by_another(t, sim, event.do)
            else:
                self._turns_unhealthy(t, sim)
        self.groups[name].desired_moved_by_events += _desired(group) - before
        self.settle(t, name)

    def _sim_at(self, group_name: str, index: int) -> SimInstance | None:
        return next((s for s in self.instances.values() if s.group == group_name and s.index == index), None)

    def _scale_in_chosen(self, t, group, indexes: list[int]) -> None:
        """These instances are terminated and the desired capacity falls by as many, as
        TerminateInstanceInAutoScalingGroup with ShouldDecrementDesiredCapacity does; refused whole if one of
        them may not be (not InService, or protected), or MinSize would be crossed."""
        chosen = [self._sim_at(group.name, i) for i in indexes]
        bad = next(filter(None, (self._not_terminable(i, s) for i, s in zip(indexes, chosen, strict=True))), None)
        if bad is None and _desired(group) - len(indexes) < group.min_size:
            bad = (
                f"desired capacity {group.desired_capacity} - {len(indexes)} would fall below MinSize {group.min_size}"
            )
        if bad:
            self.log(t, group.name, "", f"scale_in {indexes} refused: {bad}")
            return
        before = _desired(group)
        group.desired_capacity = before - len(indexes)
        self.log(t, group.name, "", f"scale_in {indexes}: desired {before} -> {group.desired_capacity}")
        for sim in chosen:
            assert sim is not None  # every one was found InService above
            self._terminate(t, sim, "scale in")

    def _not_terminable(self, index: int, sim: SimInstance | None) -> str | None:
        """Why a scale-in may not terminate this instance, if it may not."""
        if sim is None:
            return f"no instance {index} launched yet"
        state = self.state_of(sim)
        if state.lifecycle_state != "InService":
            return f"instance {index} is {state.lifecycle_state}"
        return f"instance {index} is protected from scale in" if state.protected_from_scale_in else None

    def _set_size(self, t, group, event) -> None:
        try:
            sizes = self._new_sizes(group, event.min_size, event.max_size, event.desired)
        except AwsError as error:
            self.log(t, group.name, "", f"set_size refused: {error.code}: {error.message}")
            return
        before = (group.min_size, group.max_size, group.desired_capacity)
        group.min_size, group.max_size, group.desired_capacity = sizes
        self.log(
            t, group.name, "", f"set_size: min/max/desired {'/'.join(map(str, before))} -> {'/'.join(map(str, sizes))}"
        )

    def _standby_by_another(self, t, sim: SimInstance, do: str) -> None:
        """Another tool (AWS-PatchAsgInstance, an SSM Automation) or a person calls EnterStandby with
        ShouldDecrementDesiredCapacity true, or ExitStandby, on the instance: the same calls as the run's, refused
        as AWS refuses them (EnterStandby for an instance not InService, ExitStandby for one not in Standby):
        https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_EnterStandby.html,
        https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_ExitStandby.html"""
        params = {"AutoScalingGroupName": sim.group, "InstanceIds": [sim.instance_id]}
        was_out_by_another = sim.out_by_another
        try:
            if do == "enter_standby":
                sim.out_by_another = True  # before its EnteringStandby: never counted as the run's
                self._autoscaling_EnterStandby({**params, "ShouldDecrementDesiredCapacity": True})
            else:
                self._autoscaling_ExitStandby(params)
        except AwsError as error:
            sim.out_by_another = was_out_by_another
            self.log(t, sim.group, sim.instance_id, f"{do} refused: {error.code}: {error.message}")
            return
        self.log(t, sim.group, sim.instance_id, f"{do}: by another tool or a person")

    def _ec2_terminates(self, t, sim: SimInstance) -> None:
        state = self.state_of(sim).lifecycle_state
        if sim.ec2_terminated or state in ("Terminating", "Terminated"):
            self.log(t, sim.group, sim.instance_id, f"terminate ignored: already {state}")
            return
        sim.ec2_terminated = True
        self.ec2.terminate_instances([sim.instance_id])
        if state in ("EnteringStandby", "Standby"):
            self.log(
                t,
                sim.group,
                sim.instance_id,
                "EC2 terminated it; not health-checked in Standby: still listed, not replaced",
            )
        else:
            self.replace(t, sim, "EC2 terminated it")

    def _turns_unhealthy(self, t, sim: SimInstance) -> None:
        state = self.state_of(sim).lifecycle_state
        if state != "InService":
            self.log(t, sim.group, sim.instance_id, f"unhealthy ignored: {state} instances are not health-checked")
            return
        for arn in sim.targets:
            sim.targets[arn] = ("unhealthy", "Target.FailedHealthChecks")
        self.track(sim)
        group = self.asg.autoscaling_groups[sim.group]
        held = [p for p in ("HealthCheck", "ReplaceUnhealthy") if self._suspended(group, p)]
        if held:
            self.log(
                t, sim.group, sim.instance_id, f"UNHEALTHY in its target groups; not replaced: {held[0]} suspended"
            )
            return
        self.state_of(sim).health_status = "Unhealthy"
        self.replace(t, sim, "UNHEALTHY in its target groups (ELB health check)")

    # launching and terminating -----------------------------------------------------------------------------
    def replace(self, t, sim: SimInstance, why: str) -> None:
        """Auto Scaling terminates the instance and launches its replacement (the desired capacity stays)."""
        self._terminate(t, sim, why)
        self.settle(t, sim.group)

    def _terminate(self, t, sim: SimInstance, why: str) -> None:
        self.set_lifecycle(t, sim, "Terminating")
        for arn, (target, _) in sim.targets.items():
            if target != "unused":
                sim.targets[arn] = ("draining", "Target.DeregistrationInProgress")
        self.log(t, sim.group, sim.instance_id, f"Terminating ({why})")
        self.at(self.groups[sim.group].deregistration_delay, lambda t2: self._terminated(t2, sim))

    def _terminated(self, t, sim: SimInstance) -> None:
        group, state = self.asg.autoscaling_groups[sim.group], self.state_of(sim)
        group.instance_states.remove(state)
        if not sim.ec2_terminated:
            sim.ec2_terminated = True
            self.ec2.terminate_instances([sim.instance_id])
        for arn in sim.targets:
            sim.targets[arn] = ("unused", "Target.NotRegistered")
        self.set_lifecycle(t, sim, "Terminated")
        self.log(t, sim.group, sim.instance_id, "Terminated (no longer in the group)")
        self.settle(t, sim.group)

    def _launch(self, t, group, zone: str, why: str) -> SimInstance | None:
        states = self.launch_instances(group, 1, what=why)
        if not states:
            return None
        state, sim_group = states[0], self.groups[group.name]
        self._place(state, zone)
        sim = SimInstance(
            state.instance.id,
            group.name,
            sum(1 for s in self.instances.values() if s.group == group.name),
            patch_seconds=sim_group.patch_seconds,
            state=state,
            targets={arn: ("unused", "Target.NotRegistered") for arn in sim_group.target_groups},
            launched_during_run=True,
            launching=True,
            launched_at=t,
        )
        sim.patches["missing"] = sim_group.missing_patches
        self.instances[sim.instance_id] = sim
        self.set_lifecycle(t, sim, "Pending")
        self.log(t, group.name, sim.instance_id, f"Pending ({why}: launched in {zone} from {state.instance.image_id})")
        self.at(PENDING_SECONDS, lambda t2: self._pending_done(t2, sim))
        return sim

    def _pending_done(self, t, sim: SimInstance) -> None:
        if self.state_of(sim).lifecycle_state != "Pending":
            return  # terminated while it launched
        hook = self.groups[sim.group].launch_hook_seconds
        if not hook:
            self._reach_in_service(t, self.state_of(sim), sim)
            return
        self.set_lifecycle(t, sim, "Pending:Wait")
        self.log(t, sim.group, sim.instance_id, f"Pending:Wait (launch lifecycle hook, {hook} s)")
        self.at(hook, lambda t2: self._proceed(t2, sim))

    def _proceed(self, t, sim: SimInstance) -> None:
        if self.state_of(sim).lifecycle_state != "Pending:Wait":
            return  # terminated while its launch hook held it
        self.set_lifecycle(t, sim, "Pending:Proceed")
        self.log(t, sim.group, sim.instance_id, "Pending:Proceed (lifecycle action CONTINUE)")
        self.at(PROCEED_SECONDS, lambda t2: self._reach_in_service(t2, self.state_of(sim), sim))

    # keeping the desired capacity and the balance -------------------------------------------------------------
    def settle(self, t, group_name: str, surplus_why: str = "scale in (default termination policy)") -> None:
        """Launch or terminate what the desired capacity asks for (surplus_why: why an instance above it is
        terminated), then rebalance the zones (only while the fleet moves: in a scenario with fleet events)."""
        if not self.fleet_moves:
            return
        group = self.asg.autoscaling_groups[group_name]
        counted = [s for s in group.instance_states if s.lifecycle_state in COUNTED]
        gap = _desired(group) - len(counted)
        for _ in range(gap):
            if self._suspended(group, "Launch"):
                self.log(t, group_name, "", f"{gap} instance(s) short of desired capacity: Launch suspended")
                break
            self._launch(t, group, self._zone_with(group, min), "launch")
        surplus = -gap if self.groups[group_name].rebalancing is None else 0
        if surplus > 0 and self._suspended(group, "Terminate"):
            self.log(t, group_name, "", f"{surplus} instance(s) above desired capacity: Terminate suspended")
        elif surplus > 0:
            for sim in self._to_terminate(group, surplus):
                self._terminate(t, sim, surplus_why)
        self._rebalance(t, group)

    def _zone_counts(self, group) -> dict[str, int]:
        counts = dict.fromkeys(group.availability_zones, 0)
        for state in group.instance_states:
            if state.lifecycle_state in COUNTED:
                counts[state.availability_zone] = counts.get(state.availability_zone, 0) + 1
        return counts

    def _zone_with(self, group, pick) -> str:
        """The zone with the fewest (pick=min) or most (max) counted instances; ties to the first listed."""
        counts = self._zone_counts(group)
        return pick(counts, key=lambda zone: counts[zone])

    def _rebalance(self, t, group) -> None:
        sim_group = self.groups[group.name]
        if sim_group.rebalancing or any(self._suspended(group, p) for p in ("AZRebalance", "Launch")):
            return
        counts = self._zone_counts(group)
        if max(counts.values()) - min(counts.values()) < 2:
            return
        size = sum(counts.values())
        if size + 1 > group.max_size + max(1, math.ceil(group.max_size / 10)):
            return
        zones = ", ".join(f"{zone} {n}" for zone, n in counts.items())
        self.log(t, group.name, "", f"AZRebalance: unbalanced ({zones}): launching first, then terminating")
        sim = self._launch(t, group, self._zone_with(group, min), "AZRebalance")
        sim_group.rebalancing = sim.instance_id if sim else None

    def _to_terminate(self, group, count: int) -> list[SimInstance]:
        """The default termination policy, once per instance: never a Standby or protected one."""
        now, image = self.clock.now(), self._launch_source_image(group)
        candidates = [
            self.instances[s.instance.id]
            for s in group.instance_states
            if s.lifecycle_state == "InService" and not s.protected_from_scale_in
        ]
        counts = self._zone_counts(group)
        chosen: list[SimInstance] = []
        for _ in range(count):
            zones = {self.state_of(s).availability_zone for s in candidates}
            if not zones:
                break
            zone = max(sorted(zones), key=lambda z: counts[z])
            sim = min(
                (s for s in candidates if self.state_of(s).availability_zone == zone),
                key=lambda s: (
                    self.state_of(s).instance.image_id == image,  # another configuration first
                    -self._hour_used(s, now),  # closest to the next billing hour
                    s.index,
                ),
            )
            chosen.append(sim)
            candidates.remove(sim)
            counts[zone] -= 1
        return chosen

    def _launch_source_image(self, group) -> str | None:
        try:
            return self._launch_source(group)[0]
        except AwsError:
            return None

    def _hour_used(self, sim: SimInstance, now: float) -> float:
        launched = sim.launched_at if sim.launched_at is not None else self.clock.start.timestamp()
        return (now - launched) % 3600


def _desired(group) -> int:
    assert group.desired_capacity is not None  # moto sets it when it creates a group (MinSize if none is given)
    return group.desired_capacity
