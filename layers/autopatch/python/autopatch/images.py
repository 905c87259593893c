"""Baking (BakeAmi): after a group's last instance is patched, an image of it is what the group launches from.

The image is taken while the instance is still in Standby, so the reboot CreateImage makes for a consistent
image costs no capacity. The group's launch template gets a new version that differs from the version the
group launches from only in its ImageId, and the group follows it the way it follows its template: $Latest,
$Default or a fixed version. Images this stack baked (tag AutoPatchBakedBy=<stack>) age out beyond KeepAmis per
group; no other image is ever touched."""

import hashlib
import re
import time
from dataclasses import dataclass

from botocore.exceptions import ClientError

from . import OPT_IN_TAG_KEY, RUN_TAG_KEY
from .clients import THROTTLING_CODES, client
from .errors import BakeTimedOut, ImageFailed, InstanceNotInGroup, NotBakeable
from .groups import describe_group, tag_value

BAKED_BY_TAG_KEY = "AutoPatchBakedBy"
GROUP_TAG_KEY = "AutoPatchGroup"
SOURCE_TAG_KEY = "AutoPatchSourceInstance"
BAKED_AT_TAG_KEY = "AutoPatchBakedAt"
# Image states after which it will never become available (DescribeImages State)
ENDED_STATES = ("invalid", "deregistered", "failed", "error", "disabled")
IMAGE_NAME_MAX = 128  # CreateImage Name: 3-128 of letters, digits, ()[] ./-'@_
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9()\[\] ./'@_-]")


@dataclass(frozen=True)
class LaunchSource:
    template_id: str
    template_name: str
    follows: str  # how the group names its version: "$Latest", "$Default" or a number
    version: int  # the version it launches from now
    image_id: str


def launch_source(group: dict, opt_in_value: str) -> LaunchSource:
    """The launch template version the group launches from; NotBakeable says why there is none to change."""
    name = group["AutoScalingGroupName"]
    if group.get("LaunchConfigurationName"):
        raise NotBakeable(
            f"group {name} launches from launch configuration {group['LaunchConfigurationName']}; only a launch "
            "template can be given a new image"
        )
    spec, mixed = group.get("LaunchTemplate"), group.get("MixedInstancesPolicy")
    if mixed:
        template = mixed.get("LaunchTemplate", {})
        if any("LaunchTemplateSpecification" in override for override in template.get("Overrides", [])):
            raise NotBakeable(
                f"group {name} has a mixed instances policy with a launch template per instance type; baking "
                "would give one image to all of them"
            )
        spec = template.get("LaunchTemplateSpecification")
    if not spec:
        raise NotBakeable(f"group {name} has no launch template")
    follows = spec.get("Version") or "$Default"
    if mixed and follows not in ("$Latest", "$Default"):
        raise NotBakeable(
            f"group {name} has a mixed instances policy on version {follows} of its launch template; make it follow "
            "$Latest or $Default to bake"
        )
    ec2 = client("ec2")
    by_id = spec.get("LaunchTemplateId")
    found = ec2.describe_launch_templates(
        **({"LaunchTemplateIds": [by_id]} if by_id else {"LaunchTemplateNames": [spec["LaunchTemplateName"]]})
    )["LaunchTemplates"][0]
    template_id, template_name = found["LaunchTemplateId"], found["LaunchTemplateName"]
    if tag_value(found, OPT_IN_TAG_KEY) != opt_in_value:
        raise NotBakeable(
            f"launch template {template_name} does not carry the tag {OPT_IN_TAG_KEY}={opt_in_value}; the functions "
            "may change only launch templates that opted in, like their groups"
        )
    version = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=[follows])[
        "LaunchTemplateVersions"
    ][0]
    image_id = version["LaunchTemplateData"].get("ImageId", "")
    if not image_id.startswith("ami-"):
        raise NotBakeable(
            f"launch template {template_name} version {version['VersionNumber']} takes its image from "
            f"{image_id or 'nowhere'!r}, not an image id; bake into that source instead"
        )
    return LaunchSource(template_id, template_name, follows, version["VersionNumber"], image_id)


def bake_plan(group_name: str, opt_in_value: str) -> dict:
    """What a bake would change for the group (DryRun): the launch template it launches from, or why not."""
    try:
        source = launch_source(describe_group(group_name), opt_in_value)
    except NotBakeable as reason:
        return {"Status": "NotBaked", "Reason": str(reason)}
    return {
        "Status": "WouldBake",
        "LaunchTemplateName": source.template_name,
        "Follows": source.follows,
        "Version": source.version,
        "ImageId": source.image_id,
    }


def start_image(group_name: str, instance_id: str, run_id: str, stack: str, opt_in_value: str) -> str:
    """Create the image of the patched instance, still in Standby (NotBakeable: nothing is created).
    Safe to repeat: a run creates one image per group."""
    group = describe_group(group_name)
    member = next((i for i in group["Instances"] if i["InstanceId"] == instance_id), None)
    if member is None:
        raise InstanceNotInGroup(f"Instance {instance_id} is not a member of group {group_name}.")
    launch_source(group, opt_in_value)
    if member["LifecycleState"] != "Standby":
        raise ImageFailed(
            f"Instance {instance_id} is {member['LifecycleState']}; its image is taken only in Standby, where the "
            "reboot costs no capacity."
        )
    earlier = baked_by_run(run_id, group_name, stack)
    if earlier:
        return earlier[0]
    now = time.gmtime()
    name = f"autopatch-{_NOT_IN_NAME.sub('-', group_name)[:100]}-{time.strftime('%Y%m%dT%H%M%SZ', now)}"
    tags = [
        {"Key": "Name", "Value": name},
        {"Key": BAKED_BY_TAG_KEY, "Value": stack},
        {"Key": GROUP_TAG_KEY, "Value": group_name},
        {"Key": RUN_TAG_KEY, "Value": run_id},
        {"Key": SOURCE_TAG_KEY, "Value": instance_id},
        {"Key": BAKED_AT_TAG_KEY, "Value": time.strftime("%Y-%m-%d", now)},
    ]
    try:
        created = client("ec2").create_image(
            InstanceId=instance_id,
            Name=name[:IMAGE_NAME_MAX],
            Description=f"{group_name} patched by run {run_id}"[:255],
            NoReboot=False,  # a consistent image: EC2 shuts the instance down and boots it again
            TagSpecifications=[{"ResourceType": kind, "Tags": tags} for kind in ("image", "snapshot")],
        )
    except ClientError as error:
        if error.response["Error"]["Code"] in THROTTLING_CODES:
            raise
        raise ImageFailed(f"CreateImage refused: {error.response['Error']['Message']}") from error
    return created["ImageId"]


def start_bake(group_name: str, instance_id: str, run_id: str, stack: str, opt_in_value: str, timeout: int) -> dict:
    """start_image, with the deadline for the image to be available; or, for a group that cannot be baked, why
    (Status NotBaked: nothing is created)."""
    try:
        image_id = start_image(group_name, instance_id, run_id, stack, opt_in_value)
    except NotBakeable as reason:
        return {"Status": "NotBaked", "Reason": str(reason), "ImageId": None, "Deadline": None}
    return {"Status": "Creating", "Reason": None, "ImageId": image_id, "Deadline": int(time.time()) + timeout}


def image_available(image_id: str, deadline: float) -> bool:
    """True once the image is available; ImageFailed if it never will be, BakeTimedOut past the deadline."""
    try:
        image = client("ec2").describe_images(ImageIds=[image_id])["Images"][0]
    except ClientError as error:
        if not error.response["Error"]["Code"].startswith("InvalidAMIID"):
            raise
        raise ImageFailed(f"Image {image_id} is gone: {error.response['Error']['Message']}") from error
    state = image["State"]
    if state == "available":
        return True
    if state in ENDED_STATES:
        reason = image.get("StateReason", {}).get("Message") or "no reason given"
        raise ImageFailed(f"Image {image_id} is {state}: {reason}.")
    if time.time() > deadline:
        raise BakeTimedOut(
            f"Image {image_id} was still {state} when BakeTimeoutSeconds ran out; it is left as it is, and the "
            "launch template is unchanged."
        )
    return False


def use_image(group_name: str, image_id: str, run_id: str, stack: str, opt_in_value: str) -> dict:
    """A new launch template version with the image (and nothing else changed), followed by the group.
    If the group cannot be made to follow it, the version is deleted again: the template stays as it was."""
    source = launch_source(describe_group(group_name), opt_in_value)
    if source.image_id == image_id:  # a repeated call: the group already launches from the image
        return {"LaunchTemplateId": source.template_id, "Version": source.version}
    ec2 = client("ec2")
    created = ec2.create_launch_template_version(
        LaunchTemplateId=source.template_id,
        SourceVersion=str(source.version),
        VersionDescription=f"AutoPatch run {run_id}: patched image {image_id}"[:255],
        LaunchTemplateData={"ImageId": image_id},
        ClientToken=hashlib.sha256(f"{run_id}\n{group_name}".encode()).hexdigest()[:64],
    )
    version = created["LaunchTemplateVersion"]["VersionNumber"]
    try:
        if source.follows == "$Default":
            ec2.modify_launch_template(LaunchTemplateId=source.template_id, DefaultVersion=str(version))
        elif source.follows != "$Latest":
            client("autoscaling").update_auto_scaling_group(
                AutoScalingGroupName=group_name,
                LaunchTemplate={"LaunchTemplateId": source.template_id, "Version": str(version)},
            )
    except ClientError:
        ec2.delete_launch_template_versions(LaunchTemplateId=source.template_id, Versions=[str(version)])
        raise
    return {"LaunchTemplateId": source.template_id, "Version": version}


def launch_from_new_image(
    group_name: str, image_id: str, run_id: str, stack: str, opt_in_value: str, keep: int
) -> dict:
    """use_image, then remove_old_images beyond the newest `keep`: what the group launches from and which old
    images were deregistered, or could not be (NotDeregistered, with why)."""
    template = use_image(group_name, image_id, run_id, stack, opt_in_value)
    removed, problems = remove_old_images(stack, group_name, keep, image_id)
    return {"Status": "Baked", "ImageId": image_id, **template, "Deregistered": removed, "NotDeregistered": problems}


def baked_images(stack: str, group_name: str) -> list[dict]:
    """The images this stack baked for the group, newest first."""
    paginator = client("ec2").get_paginator("describe_images")
    pages = paginator.paginate(
        Owners=["self"],
        Filters=[
            {"Name": f"tag:{BAKED_BY_TAG_KEY}", "Values": [stack]},
            {"Name": f"tag:{GROUP_TAG_KEY}", "Values": [group_name]},
        ],
    )
    images = [
        image
        for page in pages
        for image in page["Images"]
        if tag_value(image, BAKED_BY_TAG_KEY) == stack and tag_value(image, GROUP_TAG_KEY) == group_name
    ]
    return sorted(images, key=lambda image: image["CreationDate"], reverse=True)


def baked_by_run(run_id: str, group_name: str, stack: str) -> list[str]:
    """The images this run baked for the group, newest first."""
    return [image["ImageId"] for image in baked_images(stack, group_name) if tag_value(image, RUN_TAG_KEY) == run_id]


DESCRIBE_CHUNK = 200  # instance ids per DescribeInstances request


def from_baked_image(run_id: str, group_name: str, stack: str, instance_ids: list[str]) -> dict[str, str]:
    """The instances launched from an image this run baked for the group (patched already): id -> image id."""
    baked = set(baked_by_run(run_id, group_name, stack)) if instance_ids else set()
    if not baked:
        return {}
    found = {}
    paginator = client("ec2").get_paginator("describe_instances")
    for start in range(0, len(instance_ids), DESCRIBE_CHUNK):
        for page in paginator.paginate(InstanceIds=instance_ids[start : start + DESCRIBE_CHUNK]):
            found.update({i["InstanceId"]: i["ImageId"] for r in page["Reservations"] for i in r["Instances"]})
    return {instance: image for instance, image in found.items() if image in baked}


def remove_old_images(stack: str, group_name: str, keep: int, current: str) -> tuple[list[str], list[str]]:
    """Deregister the images this stack baked for the group beyond the newest `keep` available ones, and delete
    their snapshots. Images still pending are left alone. Returns what was removed and what could not be."""
    settled = [image for image in baked_images(stack, group_name) if image["State"] != "pending"]
    newest = [image["ImageId"] for image in settled if image["State"] == "available"][:keep]
    removed, problems = [], []
    ec2 = client("ec2")
    for image in settled:
        if image["ImageId"] in newest or image["ImageId"] == current:
            continue
        snapshots = [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if "Ebs" in m]
        try:
            ec2.deregister_image(ImageId=image["ImageId"])
            for snapshot in snapshots:
                ec2.delete_snapshot(SnapshotId=snapshot)
        except ClientError as error:
            problems.append(f"{image['ImageId']}: {error.response['Error']['Code']}")
            continue
        removed.append(image["ImageId"])
    return removed, problems
