"""Elastic Load Balancing v2 target health, which follows the instance's lifecycle (autoscaling.py): draining
while it enters standby (the target group's deregistration delay), unused in Standby, initial after ExitStandby,
then healthy or unhealthy after the group's warm-up:
- https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
- https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-target-groups.html#deregistration-delay
"""

from .common import ModelState


class Elbv2(ModelState):
    """DescribeTargetHealth, from each simulated instance's targets (self.instances)."""

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
