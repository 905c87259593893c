"""The simulator's AWS side of BakeAmi: scenario fields, images, launch templates, the groups' launch sources;
and CancelCommand's refusal of a command never sent."""

import datetime as dt

import pytest
from moto.autoscaling.models import autoscaling_backends
from moto.cloudwatch.models import cloudwatch_backends
from moto.ec2.models import ec2_backends

from simulator.aws import IMAGE_SECONDS, AwsError, AwsModel, SimInstance
from simulator.engine import Simulation
from simulator.scenario import LAUNCH_SOURCES, ScenarioError, parse_scenario
from simulator.stack import rate_seconds

REGION = "us-east-1"
ACCOUNT = "123456789012"


class FakeClock:
    """Just enough of VirtualClock for AwsModel: time moves only when the test says."""

    start = dt.datetime(2026, 1, 4, 3, 0, tzinfo=dt.UTC)

    def __init__(self):
        self.t = 0.0
        self.timers = []

    def now(self) -> float:
        return self.t

    def call_later(self, delay, action):
        self.timers.append((self.t + delay, action))

    def advance(self, seconds):
        self.t += seconds
        for timer in sorted(self.timers, key=lambda timer: timer[0]):
            if timer[0] <= self.t:
                self.timers.remove(timer)
                timer[1](timer[0])


class World:
    """An AwsModel on moto's backends, its timeline, and one instance of group "web" to image."""

    def __init__(self, aws):
        self.aws = aws
        self.clock = FakeClock()
        self.timeline = []
        backends = {
            "autoscaling": autoscaling_backends[ACCOUNT][REGION],
            "cloudwatch": cloudwatch_backends[ACCOUNT][REGION],
            "ec2": ec2_backends[ACCOUNT][REGION],
        }
        self.model = AwsModel(self.clock, backends, lambda t, g, i, text: self.timeline.append(text), None, None)
        self.ec2 = aws.client("ec2")
        self.image = self.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        self.instance_id = self.ec2.run_instances(ImageId=self.image, MinCount=1, MaxCount=1)["Instances"][0][
            "InstanceId"
        ]

    def call(self, service, operation, **params):
        return self.model.handle(service, operation, params)

    def create_image(self, name="web-patched", fault=None, **params):
        self.model.instances[self.instance_id] = SimInstance(self.instance_id, "web", 0, {fault} if fault else set())
        tags = [{"Key": "AutoPatchGroup", "Value": "web"}]
        params.setdefault("TagSpecifications", [{"ResourceType": t, "Tags": tags} for t in ("image", "snapshot")])
        return self.call("ec2", "CreateImage", InstanceId=self.instance_id, Name=name, **params)["ImageId"]

    def describe_image(self, image_id) -> dict:
        return self.ec2.describe_images(ImageIds=[image_id])["Images"][0]

    def template(self, name="web-lt") -> str:
        data = {"ImageId": self.image, "InstanceType": "t3.micro", "KeyName": "ops"}
        return self.ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData=data)["LaunchTemplate"][
            "LaunchTemplateId"
        ]

    def new_version(self, template_id, image_id, **params) -> dict:
        return self.call(
            "ec2",
            "CreateLaunchTemplateVersion",
            LaunchTemplateId=template_id,
            LaunchTemplateData={"ImageId": image_id},
            **params,
        )["LaunchTemplateVersion"]

    def group(self, name="web", **launch_source):
        self.aws.client("autoscaling").create_auto_scaling_group(
            AutoScalingGroupName=name,
            MinSize=0,
            MaxSize=4,
            DesiredCapacity=1,
            AvailabilityZones=["us-east-1a"],
            **launch_source,
        )

    def describe_group(self, name="web") -> dict:
        return self.call("autoscaling", "DescribeAutoScalingGroups", AutoScalingGroupNames=[name])["AutoScalingGroups"][
            0
        ]


@pytest.fixture
def world(aws):
    return World(aws)


def refused(code, call, *args, **kwargs):
    with pytest.raises(AwsError) as refusal:
        call(*args, **kwargs)
    assert refusal.value.code == code
    return refusal.value


# --- scenario fields ---------------------------------------------------------------------------------


def scenario_group(**fields):
    return parse_scenario({"groups": [{"name": "web", "instances": 2, "max_size": 4, **fields}]}).groups[0]


def test_a_group_launches_from_its_own_template_at_latest_by_default():
    spec = scenario_group()
    assert (spec.launch, spec.scale_out_after, spec.previous_bakes, spec.foreign_images) == ("$Latest", 0, 0, 0)


@pytest.mark.parametrize("launch", LAUNCH_SOURCES)
def test_every_launch_source_parses(launch):
    assert scenario_group(launch=launch, scale_out_after=2, previous_bakes=3, foreign_images=1).launch == launch


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"launch": "latest"}, "groups[0].launch"),
        ({"launch": 1}, "groups[0].launch"),
        ({"scale_out_after": 3}, "scale_out_after must not exceed max_size"),
        ({"previous_bakes": -1}, "groups[0].previous_bakes"),
        ({"foreign_images": True}, "groups[0].foreign_images"),
        ({"faults": {"0": "bake_burnt"}}, "groups[0].faults[0]"),
        ({"faults": {"1": ["patch_failed", "event_late"]}}, "groups[0].faults[1]: unknown fault 'event_late'"),
        ({"faults": {"0": []}}, "groups[0].faults[0] must be a fault or a non-empty list of faults"),
        ({"faults": {"0": {"event_lost": True}}}, "groups[0].faults[0] must be a fault or a non-empty list"),
    ],
)
def test_a_bad_field_is_refused_by_name(fields, named):
    with pytest.raises(ScenarioError, match=named.replace("[", r"\[").replace("]", r"\]")):
        scenario_group(**fields)


def test_an_instance_takes_one_fault_or_a_list_of_them():
    spec = scenario_group(faults={"0": "event_lost", "1": ["patch_failed", "event_delayed", "event_duplicated"]})
    assert spec.faults == {0: {"event_lost"}, 1: {"patch_failed", "event_delayed", "event_duplicated"}}


@pytest.mark.parametrize(
    ("expression", "seconds"), [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600)]
)
def test_a_rate_expression_gives_its_period(expression, seconds):
    assert rate_seconds(expression) == seconds


@pytest.mark.parametrize("expression", ["rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "cron(0 3 * * ? *)"])
def test_a_rate_expression_eventbridge_refuses_is_refused(expression):
    with pytest.raises(ValueError, match="rate"):
        rate_seconds(expression)


# --- CreateImage and the image's life ---------------------------------------------------------------


def test_an_image_is_pending_until_it_is_available_and_is_tagged_with_its_snapshot(world):
    image_id = world.create_image()

    assert world.describe_image(image_id)["State"] == "pending"
    assert world.timeline == [f"rebooting for image {image_id}"]
    world.clock.advance(IMAGE_SECONDS)
    image = world.describe_image(image_id)
    assert image["State"] == "available"
    assert image["Tags"] == [{"Key": "AutoPatchGroup", "Value": "web"}]
    snapshot_id = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    snapshot = world.ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    assert snapshot["Tags"] == [{"Key": "AutoPatchGroup", "Value": "web"}]
    # found the way a cleanup looks for them
    found = world.ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:AutoPatchGroup", "Values": ["web"]}])
    assert [i["ImageId"] for i in found["Images"]] == [image_id]


def test_no_reboot_is_not_logged_as_a_reboot(world):
    world.create_image(NoReboot=True)
    assert world.timeline == []


def test_a_failed_bake_ends_failed_with_its_reason(world):
    image_id = world.create_image(fault="bake_failed")
    world.clock.advance(IMAGE_SECONDS)
    image = world.describe_image(image_id)
    assert image["State"] == "failed"
    assert image["StateReason"] == {"Code": "Server.InternalError", "Message": "Internal error"}


def test_a_bake_that_times_out_stays_pending(world):
    image_id = world.create_image(fault="bake_timeout")
    world.clock.advance(100 * IMAGE_SECONDS)
    assert world.describe_image(image_id)["State"] == "pending"


@pytest.mark.parametrize("name", ["ab", "x" * 129, "web:patched", "web,patched"])
def test_a_malformed_image_name_is_refused(world, name):
    refused("InvalidAMIName.Malformed", world.create_image, name=name)


def test_an_image_name_in_use_is_refused(world):
    first = world.create_image(name="web (2026-01-04) [run-1] it's@/web_1.0")
    error = refused("InvalidAMIName.Duplicate", world.create_image, name="web (2026-01-04) [run-1] it's@/web_1.0")
    assert error.message.endswith(f"is already in use by AMI {first}")


def test_only_image_and_snapshot_tags_are_accepted(world):
    specs = [{"ResourceType": "instance", "Tags": [{"Key": "a", "Value": "b"}]}]
    refused("InvalidParameterValue", world.create_image, TagSpecifications=specs)


def test_an_unknown_instance_cannot_be_imaged(world):
    refused(
        "InvalidInstanceID.NotFound", world.call, "ec2", "CreateImage", InstanceId="i-0123456789abcdef0", Name="web-1"
    )


def test_a_snapshot_is_deleted_only_once_its_image_is_deregistered(world):
    image_id = world.create_image()
    snapshot_id = world.describe_image(image_id)["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]

    error = refused("InvalidSnapshot.InUse", world.call, "ec2", "DeleteSnapshot", SnapshotId=snapshot_id)
    assert error.message == f"The snapshot {snapshot_id} is currently in use by {image_id}"
    world.call("ec2", "DeregisterImage", ImageId=image_id)
    world.call("ec2", "DeleteSnapshot", SnapshotId=snapshot_id)

    assert world.model.deregistered_images == [image_id]
    assert world.model.deleted_snapshots == [snapshot_id]
    assert world.timeline[-2:] == [f"deregistered {image_id}", f"deleted snapshot {snapshot_id}"]
    assert world.ec2.describe_images(ImageIds=[image_id])["Images"] == []


# --- launch template versions ------------------------------------------------------------------------


def test_a_version_from_a_source_version_inherits_what_it_does_not_override(world):
    template_id = world.template()
    version = world.new_version(template_id, "ami-0new", SourceVersion="1", VersionDescription="baked")
    assert version["VersionNumber"] == 2
    assert version["LaunchTemplateData"] == {"ImageId": "ami-0new", "InstanceType": "t3.micro", "KeyName": "ops"}
    assert version["VersionDescription"] == "baked"
    assert version["DefaultVersion"] is False
    # without a source version, only what is given
    assert world.new_version(template_id, "ami-0other")["LaunchTemplateData"] == {"ImageId": "ami-0other"}


def test_a_source_version_that_does_not_exist_is_refused(world):
    template_id = world.template()
    refused("InvalidLaunchTemplateId.VersionNotFound", world.new_version, template_id, "ami-0new", SourceVersion="7")


def test_the_same_client_token_returns_the_version_it_created(world):
    template_id = world.template()
    first = world.new_version(template_id, "ami-0new", SourceVersion="1", ClientToken="bake-web-run-1")
    again = world.new_version(template_id, "ami-0new", SourceVersion="1", ClientToken="bake-web-run-1")
    assert again == first
    versions = world.call("ec2", "DescribeLaunchTemplateVersions", LaunchTemplateId=template_id)
    assert [v["VersionNumber"] for v in versions["LaunchTemplateVersions"]] == [1, 2]
    refused(
        "IdempotentParameterMismatch",
        world.new_version,
        template_id,
        "ami-0other",
        SourceVersion="1",
        ClientToken="bake-web-run-1",
    )


def test_deleted_versions_are_gone_their_numbers_never_reused_and_the_default_stays(world):
    template_id = world.template()
    for image in ("ami-02", "ami-03", "ami-04"):
        world.new_version(template_id, image)

    deleted = world.call("ec2", "DeleteLaunchTemplateVersions", LaunchTemplateId=template_id, Versions=["1", "2", "4"])

    assert [v["VersionNumber"] for v in deleted["SuccessfullyDeletedLaunchTemplateVersions"]] == [2, 4]
    (default,) = deleted["UnsuccessfullyDeletedLaunchTemplateVersions"]
    assert (default["VersionNumber"], default["ResponseError"]["Code"]) == (1, "launchTemplateVersionIsDefaultVersion")
    versions = world.call("ec2", "DescribeLaunchTemplateVersions", LaunchTemplateId=template_id)
    assert [v["VersionNumber"] for v in versions["LaunchTemplateVersions"]] == [1, 3]
    latest = world.call("ec2", "DescribeLaunchTemplateVersions", LaunchTemplateId=template_id, Versions=["$Latest"])
    assert latest["LaunchTemplateVersions"][0]["LaunchTemplateData"] == {"ImageId": "ami-03"}
    (template,) = world.call("ec2", "DescribeLaunchTemplates", LaunchTemplateIds=[template_id])["LaunchTemplates"]
    assert (template["DefaultVersionNumber"], template["LatestVersionNumber"]) == (1, 3)
    refused("InvalidLaunchTemplateId.VersionNotFound", world.new_version, template_id, "ami-05", SourceVersion="2")
    assert world.new_version(template_id, "ami-05")["VersionNumber"] == 5
    again = world.call("ec2", "DeleteLaunchTemplateVersions", LaunchTemplateId=template_id, Versions=["2"])
    assert again["UnsuccessfullyDeletedLaunchTemplateVersions"][0]["ResponseError"]["Code"] == (
        "launchTemplateVersionDoesNotExist"
    )


def test_the_default_version_moves_only_to_a_version_that_exists(world):
    template_id = world.template()
    world.new_version(template_id, "ami-02")
    world.call("ec2", "DeleteLaunchTemplateVersions", LaunchTemplateId=template_id, Versions=["2"])
    refused(
        "InvalidLaunchTemplateId.VersionNotFound",
        world.call,
        "ec2",
        "ModifyLaunchTemplate",
        LaunchTemplateId=template_id,
        DefaultVersion="2",
    )
    world.new_version(template_id, "ami-03")

    template = world.call("ec2", "ModifyLaunchTemplate", LaunchTemplateId=template_id, DefaultVersion="3")

    assert (template["LaunchTemplate"]["DefaultVersionNumber"], template["LaunchTemplate"]["LatestVersionNumber"]) == (
        3,
        3,
    )
    assert world.timeline[-1] == "launch template web-lt default version -> 3"


# --- the group's launch source -----------------------------------------------------------------------


def test_a_group_shows_the_template_and_version_it_was_given_and_follows_a_new_one(world):
    template_id = world.template()
    world.group(LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Default"})
    assert world.describe_group()["LaunchTemplate"] == {
        "LaunchTemplateId": template_id,
        "LaunchTemplateName": "web-lt",
        "Version": "$Default",
    }
    assert "LaunchConfigurationName" not in world.describe_group()
    world.new_version(template_id, "ami-0new", SourceVersion="1")
    assert world.model.launch_image("web") == world.image

    world.call(
        "autoscaling",
        "UpdateAutoScalingGroup",
        AutoScalingGroupName="web",
        LaunchTemplate={"LaunchTemplateName": "web-lt", "Version": "2"},
    )

    assert world.describe_group()["LaunchTemplate"]["Version"] == "2"
    assert world.model.launch_image("web") == "ami-0new"
    assert world.timeline[-1] == f"launch template -> {template_id} version 2"


@pytest.mark.parametrize(
    "launch_template",
    [
        {"LaunchTemplateName": "web-lt", "Version": "9"},
        {"LaunchTemplateName": "web-lt", "Version": "latest"},
        {"LaunchTemplateName": "nope-lt", "Version": "1"},
        {"Version": "1"},
    ],
    ids=["version not found", "malformed version", "no such template", "no template"],
)
def test_a_group_is_refused_a_template_version_that_does_not_exist(world, launch_template):
    template_id = world.template()
    world.group(LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"})
    refused(
        "ValidationError",
        world.call,
        "autoscaling",
        "UpdateAutoScalingGroup",
        AutoScalingGroupName="web",
        LaunchTemplate=launch_template,
    )
    assert world.describe_group()["LaunchTemplate"]["Version"] == "$Latest"


def test_a_launch_configuration_group_shows_only_its_launch_configuration(world):
    autoscaling = world.aws.client("autoscaling")
    autoscaling.create_launch_configuration(
        LaunchConfigurationName="web-lc", ImageId=world.image, InstanceType="t3.micro"
    )
    world.group(LaunchConfigurationName="web-lc")
    group = world.describe_group()
    assert group["LaunchConfigurationName"] == "web-lc"
    assert "LaunchTemplate" not in group and "MixedInstancesPolicy" not in group
    assert world.model.launch_image("web") == world.image


def test_a_mixed_instances_group_shows_its_policy(world):
    template_id, small_id = world.template(), world.template("web-lt-small")
    policy = {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateId": template_id, "Version": "$Latest"},
            "Overrides": [
                {"InstanceType": "t3.micro"},
                {
                    "InstanceType": "t3.small",
                    "LaunchTemplateSpecification": {"LaunchTemplateId": small_id, "Version": "$Latest"},
                },
            ],
        },
        "InstancesDistribution": {"OnDemandPercentageAboveBaseCapacity": 100},
    }
    world.group(MixedInstancesPolicy=policy)
    group = world.describe_group()
    assert "LaunchTemplate" not in group
    shown = group["MixedInstancesPolicy"]["LaunchTemplate"]
    assert shown["LaunchTemplateSpecification"]["LaunchTemplateId"] == template_id
    assert shown["Overrides"][1]["LaunchTemplateSpecification"]["LaunchTemplateId"] == small_id


def test_a_scale_out_launches_from_the_version_the_group_follows(world):
    template_id = world.template()
    image_id = world.create_image()
    world.clock.advance(IMAGE_SECONDS)
    world.group(LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"})
    world.new_version(template_id, image_id, SourceVersion="1")
    world.new_version(template_id, "ami-0deleted", SourceVersion="1")
    world.call("ec2", "DeleteLaunchTemplateVersions", LaunchTemplateId=template_id, Versions=["3"])

    launched = world.model.scale_out("web", 2)

    assert [i["image_id"] for i in launched] == [image_id, image_id]
    group = world.describe_group()
    assert group["DesiredCapacity"] == 3
    assert {i["instance_id"] for i in launched} < {i["InstanceId"] for i in group["Instances"]}
    assert world.timeline[-1] == f"scaled out: launched {launched[-1]['instance_id']} from {image_id}"


def test_a_scale_out_from_an_image_that_is_gone_launches_nothing(world):
    template_id = world.template()
    image_id = world.create_image()
    world.clock.advance(IMAGE_SECONDS)
    world.group(LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"})
    world.new_version(template_id, image_id, SourceVersion="1")
    world.call("ec2", "DeregisterImage", ImageId=image_id)

    assert world.model.scale_out("web", 1) == []
    assert world.describe_group()["DesiredCapacity"] == 2
    assert world.timeline[-1] == f"scale-out failed: image {image_id} is gone"


# --- Run Command -------------------------------------------------------------------------------------


def test_a_command_systems_manager_never_sent_cannot_be_cancelled(world):
    # Given no command was ever sent
    # When one is cancelled by an id SendCommand never returned
    # Then InvalidCommandId, as AWS answers
    refused("InvalidCommandId", world.call, "ssm", "CancelCommand", CommandId="11111111-2222-3333-4444-555555555555")


# --- a whole simulation: the fleet's launch sources, earlier images, the scale-out and the report ----------------


@pytest.mark.simulation
def test_the_fleet_has_a_template_per_group_earlier_images_and_scales_out_after_the_run():
    scenario = {
        "groups": [
            {
                "name": "web",
                "instances": 2,
                "max_size": 4,
                "launch": "version",
                "previous_bakes": 2,
                "foreign_images": 1,
            },
            {"name": "api", "instances": 2, "max_size": 5, "launch": "launch_configuration", "scale_out_after": 2},
            {"name": "batch", "instances": 2, "max_size": 3, "launch": "mixed_instances", "scale_out_after": 1},
        ],
        "input": {"AutoScalingGroupNames": ["api"], "DryRun": True},
    }

    report = Simulation(parse_scenario(scenario)).run()

    web, api, batch = report["groups"]
    assert web["launch_template"]["id"].startswith("lt-")
    assert (web["launch_template"]["name"], web["launch_template"]["version"]) == ("web-lt", "1")
    assert batch["launch_template"]["name"] == "batch-lt"
    assert api["launch_template"] is None
    assert (web["scaled_out"], web["desired"]) == ([], 2)
    assert [i["image_id"] for i in api["scaled_out"]] == [api["image_id"]] * 2
    assert api["desired"] == 4
    assert [i["image_id"] for i in batch["scaled_out"]] == [batch["image_id"]]
    # the foreign image is the oldest; the earlier bakes carry the stack name the functions see
    assert [(i["name"], i["baked_by"], i["state"]) for i in report["images"]] == [
        ("web-golden-1", None, "available"),
        ("autopatch-web-run-earlier-1", "autopatch", "available"),
        ("autopatch-web-run-earlier-2", "autopatch", "available"),
    ]
    assert all(len(i["snapshot_ids"]) == 1 for i in report["images"])
    assert (report["deregistered_images"], report["deleted_snapshots"]) == ([], [])
    scaled = [e["text"] for e in report["timeline"] if e["text"].startswith("scaled out")]
    assert len(scaled) == 3
