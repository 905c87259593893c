"""The fleet the simulator and the handler tests run on, built in moto the same way: a VPC with two subnets, a
launch template (or launch configuration) per group or one for all, a target group per group and the Auto
Scaling groups, opted in by the AutoPatch tag.

Clients are boto3 clients on moto; launch templates are made on moto's EC2 backend directly, with their tags.
"""

import hashlib
import re
from dataclasses import dataclass

OPT_IN_TAG_KEY = "AutoPatch"
INSTANCE_TYPE = "t3.micro"


@dataclass
class Network:
    vpc_id: str
    subnet_ids: list[str]


def create_network(ec2, region: str, zones: int = 2) -> Network:
    """A VPC with one subnet (a /20) in each of the region's first `zones` availability zones (a, b, ...)."""
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{16 * n}.0/20", AvailabilityZone=f"{region}{zone}")["Subnet"][
            "SubnetId"
        ]
        for n, zone in enumerate("abcdef"[:zones])
    ]
    return Network(vpc_id, subnet_ids)


def create_target_group(elbv2, group_name: str, vpc_id: str) -> str:
    """The group's own HTTP target group, named after it; its ARN."""
    return elbv2.create_target_group(
        Name=target_group_name(group_name), Protocol="HTTP", Port=80, VpcId=vpc_id, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]


def _digest(group_name: str) -> str:
    return hashlib.sha256(group_name.encode()).hexdigest()[:8]


def target_group_name(group_name: str) -> str:
    """The group's target group name: "<group>-tg" when ELB accepts that (1 to 32 letters, digits and hyphens,
    no hyphen first), else one derived from the group name and a digest of it, so that each group has its own."""
    plain = f"{group_name}-tg"
    if len(plain) <= 32 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", plain) and not plain.startswith("internal-"):
        return plain
    slug = re.sub(r"[^A-Za-z0-9]+", "-", group_name)[:20].strip("-")
    return f"tg-{slug}-{_digest(group_name)}" if slug else f"tg-{_digest(group_name)}"


def launch_configuration_name(group_name: str) -> str:
    """The group's launch configuration name: "<group>-lc", or, past 255 characters, one made unique by a digest."""
    plain = f"{group_name}-lc"
    return plain if len(plain) <= 255 else f"{group_name[:243]}-{_digest(group_name)}-lc"


def opt_in_tag(value: str) -> dict:
    return {"Key": OPT_IN_TAG_KEY, "Value": value}


def template_name(group_name: str, suffix: str = "") -> str:
    """A launch template name for the group: "<group>-lt<suffix>" when EC2 accepts that (3 to 128 of
    A-Za-z0-9().-/_), else one derived from the group name and a digest of it, so that each group has its own."""
    plain = f"{group_name}-lt{suffix}"
    if len(plain) <= 128 and re.fullmatch(r"[A-Za-z0-9().\-/_]+", plain):
        return plain
    slug = re.sub(r"[^A-Za-z0-9().\-/_]", "-", group_name)[: 100 - len(suffix)]
    return f"{slug}-{_digest(group_name)}-lt{suffix}"


def create_launch_template(ec2_backend, name: str, image: str, tags: dict, instance_type: str = INSTANCE_TYPE):
    """A launch template (moto's object) launching `image`, tagged with `tags`."""
    data = {"ImageId": image, "InstanceType": instance_type}
    return ec2_backend.create_launch_template(name, None, data, {"launch-template": tags})


def create_launch_source(asg, ec2_backend, group_name: str, launch: str, image: str, tags: dict) -> dict:
    """The group's launch template(s), tagged as the group is, or its launch configuration: the
    CreateAutoScalingGroup parameters that make the group launch from them. `launch` is a launch template
    version ("$Latest", "$Default"), "version" (version 2 exists, the group stays on 1), "mixed_instances" or
    "launch_configuration"."""
    if launch == "launch_configuration":
        name = launch_configuration_name(group_name)
        asg.create_launch_configuration(LaunchConfigurationName=name, ImageId=image, InstanceType=INSTANCE_TYPE)
        return {"LaunchConfigurationName": name}
    template = create_launch_template(ec2_backend, template_name(group_name), image, tags)
    if launch == "mixed_instances":
        small = create_launch_template(ec2_backend, template_name(group_name, "-small"), image, tags, "t3.small")
        return {
            "MixedInstancesPolicy": {
                "LaunchTemplate": {
                    "LaunchTemplateSpecification": {"LaunchTemplateId": template.id, "Version": "$Latest"},
                    "Overrides": [
                        {"InstanceType": INSTANCE_TYPE},
                        {
                            "InstanceType": "t3.small",
                            "LaunchTemplateSpecification": {"LaunchTemplateId": small.id, "Version": "$Latest"},
                        },
                    ],
                },
                "InstancesDistribution": {"OnDemandPercentageAboveBaseCapacity": 100},
            }
        }
    if launch == "version":
        template.create_version({"ImageId": image, "InstanceType": INSTANCE_TYPE}, None)
        return {"LaunchTemplate": {"LaunchTemplateId": template.id, "Version": "1"}}
    return {"LaunchTemplate": {"LaunchTemplateId": template.id, "Version": launch}}


def create_group(
    asg,
    name: str,
    network: Network,
    launch_source: dict,
    *,
    min_size: int,
    max_size: int,
    desired: int,
    target_groups: list[str],
    tags: list[dict],
    **settings,
) -> dict:
    """An Auto Scaling group across the network's subnets, with `tags` (not propagated to its instances unless a
    tag says PropagateAtLaunch) and any further CreateAutoScalingGroup `settings`; as DescribeAutoScalingGroups
    shows it once created."""
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=min_size,
        MaxSize=max_size,
        DesiredCapacity=desired,
        VPCZoneIdentifier=",".join(network.subnet_ids),
        **launch_source,
        TargetGroupARNs=target_groups,
        **settings,
        Tags=[
            {"PropagateAtLaunch": False, **tag, "ResourceId": name, "ResourceType": "auto-scaling-group"}
            for tag in tags
        ],
    )
    return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
