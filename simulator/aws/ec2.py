"""EC2 images and launch templates: CreateImage's pending image and its rules, DeregisterImage and DeleteSnapshot,
launch template versions as EC2 resolves and deletes them.

moto keeps the images, snapshots and templates (self.ec2); the rules are these pages':
- https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateImage.html
- https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSnapshot.html
- https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplateVersion.html
- https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteLaunchTemplateVersions.html
"""

import copy
import datetime as dt
import re

from .common import AwsError, ModelState

# Seconds a new image stays pending before it is available (or failed).
IMAGE_SECONDS = 240
# CreateImage's Name constraint (CreateImage API reference).
AMI_NAME = re.compile(r"[A-Za-z0-9()\[\] ./\-'@_]{3,128}")


class Ec2(ModelState):
    """The EC2 calls answered here, on moto's EC2 backend (self.ec2)."""

    def make_image(self, instance_id: str, name: str, description: str, image_tags: dict, snapshot_tags: dict):
        """An image of the instance in moto, with its snapshot, each tagged (moto cannot tag the snapshot)."""
        spec = [{"ResourceType": "image", "Tags": [{"Key": k, "Value": v} for k, v in image_tags.items()]}]
        image = self.ec2.create_image(instance_id, name, description, tag_specifications=spec)
        if snapshot_tags:
            self.ec2.create_tags([image.ebs_snapshot.id], snapshot_tags)
        return image

    def _ec2_CreateImage(self, params):
        tags: dict[str, dict[str, str]] = {"image": {}, "snapshot": {}}
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
        # A call naming neither passes None, which moto answers as a template not found, as EC2 does.
        return self.ec2.get_launch_template_by_name(params.get("LaunchTemplateName"))  # type: ignore[arg-type]

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
                assert number is not None  # it is in live, which holds version numbers
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


def launch_data(version) -> dict:
    """A launch template version's data as EC2 returns it (moto keeps a UserData never given as None)."""
    return {key: copy.deepcopy(value) for key, value in version.data.items() if value is not None}
