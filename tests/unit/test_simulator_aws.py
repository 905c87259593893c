"""The simulator's AWS side of BakeAmi: scenario fields, images, launch templates, the groups' launch sources;
CancelCommand's refusal of a command never sent, and the commands of an instance EC2 terminated; a moving fleet,
instance refreshes and warm pools."""

import datetime as dt

import pytest
from moto.autoscaling.models import autoscaling_backends
from moto.cloudwatch.models import cloudwatch_backends
from moto.ec2.models import ec2_backends

from simulator import fleet
from simulator.aws import IMAGE_SECONDS, AwsError, AwsModel, SimGroup, SimInstance
from simulator.engine import Simulation
from simulator.scenario import LAUNCH_SOURCES, FleetEvent, ScenarioError, parse_scenario
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

    def now_datetime(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.t)

    def call_later(self, delay, action):
        self.timers.append((self.t + delay, action))

    def advance(self, seconds):
        """Run the timers due by then in time order (first set first), each at its own moment, so that a timer
        set by one runs when it is due too."""
        end = self.t + seconds
        while due := [timer for timer in self.timers if timer[0] <= end]:
            timer = min(due, key=lambda timer: timer[0])
            self.timers.remove(timer)
            self.t = max(self.t, timer[0])
            timer[1](timer[0])
        self.t = end


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
        ({"dead_run_raised_max_size": 1}, "groups[0].dead_run_raised_max_size must be bool"),
        ({"ecs": {"tasks_per_instance": 2}}, "groups[0].ecs takes tasks_per_instance and drain_seconds, both"),
        ({"ecs": {"tasks_per_instance": -1, "drain_seconds": 5}}, "groups[0].ecs.tasks_per_instance must be a whole"),
        ({"ecs": {"tasks_per_instance": 1, "drain_seconds": True}}, "groups[0].ecs.drain_seconds must be a whole"),
        (
            {"dead_run_suspended_az_rebalance": True, "suspended_processes": ["AZRebalance"]},
            "dead_run_suspended_az_rebalance, but its owner suspended AZRebalance",
        ),
        ({"tags": ["Team"]}, "groups[0].tags must be dict"),
        ({"tags": {"aws:team": "x"}}, "groups[0].tags: 'aws:team' is not a tag key Auto Scaling accepts"),
        ({"tags": {"": "x"}}, "groups[0].tags: '' is not a tag key"),
        ({"tags": {"k" * 129: "x"}}, "is not a tag key Auto Scaling accepts: 1 to 128 characters"),
        ({"tags": {"AutoPatch": "enabled"}}, "groups[0].tags: AutoPatch is set by opted_in or alarm, not by tags"),
        ({"tags": {"AutoPatchAlarmNames": "a"}}, "groups[0].tags: AutoPatchAlarmNames is set by opted_in or alarm"),
        ({"tags": {"Team": 3}}, "groups[0].tags.Team must be a string of at most 256 characters"),
        ({"tags": {"Team": "v" * 257}}, "groups[0].tags.Team must be a string of at most 256 characters"),
        ({"tags": {f"k{n}": "v" for n in range(51)}}, "groups[0].tags: a group takes at most 50 tags"),
    ],
)
def test_a_bad_field_is_refused_by_name(fields, named):
    with pytest.raises(ScenarioError, match=named.replace("[", r"\[").replace("]", r"\]")):
        scenario_group(**fields)


@pytest.mark.parametrize("tags", [{}, {"Team": ""}, {"AutoPatchBeforeStandby": "none", "k" * 128: "v" * 256}])
def test_a_group_takes_tags_of_its_own(tags):
    assert scenario_group(tags=tags).tags == tags


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


def send_patch(world) -> str:
    return world.call(
        "ssm",
        "SendCommand",
        DocumentName="AWS-RunPatchBaseline",
        InstanceIds=[world.instance_id],
        Parameters={"Operation": ["Install"]},
        TimeoutSeconds=600,
    )["Command"]["CommandId"]


def invocation(world, command_id) -> dict:
    return world.call("ssm", "GetCommandInvocation", CommandId=command_id, InstanceId=world.instance_id)


@pytest.mark.parametrize("terminated_after", [0, 1, 5, 100])
def test_the_command_of_an_instance_ec2_terminated_never_ends_and_neither_send_nor_cancel_accepts_it(
    world, terminated_after
):
    # Given a patch command sent to an instance that EC2 terminates `terminated_after` seconds later (before it is
    # delivered, just after, or while it runs)
    world.model.instances[world.instance_id] = SimInstance(world.instance_id, "web", 0, patch_seconds=300)
    command_id = send_patch(world)
    world.clock.advance(terminated_after)
    world.model.instances[world.instance_id].ec2_terminated = True

    # When more than the time its patch takes has passed (not its delivery timeout)
    world.clock.advance(450)

    # Then it has not ended by itself: the agent went with the instance (one not yet delivered stays Pending until
    # its delivery timeout); Systems Manager refuses another command and a cancel for it (InvalidInstanceId)
    assert invocation(world, command_id)["Status"] == ("Pending" if terminated_after < 3 else "InProgress")
    refused("InvalidInstanceId", send_patch, world)
    refused(
        "InvalidInstanceId", world.call, "ssm", "CancelCommand", CommandId=command_id, InstanceIds=[world.instance_id]
    )


# --- the fleet moving as Auto Scaling and EC2 move it (capacity.py) ---------------------------------------

TARGET_GROUP = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/0123456789abcdef"


class MovingGroup:
    """Group "web" of World's model, launched from a template across `azs` zones (instances spread evenly, all
    InService and healthy in one target group), with fleet events on: what the simulator builds for a scenario
    with events."""

    def __init__(self, world, instances=4, azs=2, min_size=1, max_size=8, hook=0, warmup=60, delay=30):
        self.world, self.model = world, world.model
        world.aws.client("autoscaling").create_auto_scaling_group(
            AutoScalingGroupName="web",
            MinSize=min_size,
            MaxSize=max_size,
            DesiredCapacity=instances,
            AvailabilityZones=[f"us-east-1{zone}" for zone in "abcdef"[:azs]],
            LaunchTemplate={"LaunchTemplateId": world.template(), "Version": "$Latest"},
        )
        self.model.groups["web"] = SimGroup("web", [TARGET_GROUP], delay, warmup, launch_hook_seconds=hook)
        self.model.spread("web")
        for index, state in enumerate(self.model.asg.autoscaling_groups["web"].instance_states):
            sim = SimInstance(state.instance.id, "web", index, targets={TARGET_GROUP: ("healthy", None)})
            self.model.instances[sim.instance_id] = sim
        self.model.fleet_moves = True
        self.model.track_health()

    def event(self, do, **fields):
        self.model.fleet_event(self.world.clock.now(), FleetEvent(self.world.clock.now(), "web", do, **fields))

    def call(self, operation, **params):
        return self.world.call("autoscaling", operation, AutoScalingGroupName="web", **params)

    def sim(self, index) -> SimInstance:
        return next(s for s in self.model.instances.values() if s.index == index)

    def state(self, index) -> str:
        return self.model.state_of(self.sim(index)).lifecycle_state

    def states(self) -> dict[int, str]:
        return {s.index: self.model.state_of(s).lifecycle_state for s in self.model.instances.values()}

    def zone(self, index) -> str:
        return self.model.state_of(self.sim(index)).availability_zone[-1]

    def described(self) -> dict:
        group = self.world.describe_group()
        return {
            "desired": group["DesiredCapacity"],
            "instances": {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]},
        }


@pytest.mark.parametrize(("zones", "instances"), [(1, 3), (2, 4), (3, 5)])
def test_instances_spread_evenly_over_the_zones_in_launch_order(world, zones, instances):
    # Given a group over a subnet in each of `zones` zones
    network = fleet.create_network(world.ec2, REGION, zones)
    world.aws.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName="web",
        MinSize=1,
        MaxSize=8,
        DesiredCapacity=instances,
        VPCZoneIdentifier=",".join(network.subnet_ids),
        LaunchTemplate={"LaunchTemplateId": world.template(), "Version": "$Latest"},
    )
    # When the simulator spreads its instances
    world.model.spread("web")
    # Then they go round the zones in launch order, as Auto Scaling and EC2 describe them
    group = world.describe_group()["Instances"]
    described = {
        i["InstanceId"]: i["Placement"]["AvailabilityZone"]
        for r in world.ec2.describe_instances(InstanceIds=[i["InstanceId"] for i in group])["Reservations"]
        for i in r["Instances"]
    }
    expected = [f"us-east-1{'abc'[n % zones]}" for n in range(instances)]
    assert [i["AvailabilityZone"] for i in group] == [described[i["InstanceId"]] for i in group] == expected


@pytest.mark.parametrize(("count", "max_size", "desired"), [(1, 8, 5), (3, 8, 7), (5, 6, 6)])
def test_a_scale_out_launches_up_to_max_size_and_they_come_into_service(world, count, max_size, desired):
    # Given a group of 4 across two zones
    web = MovingGroup(world, max_size=max_size)
    # When it scales out by count
    web.event("scale_out", count=count)
    # Then the desired capacity rises, never above MaxSize, and the new instances are Pending, spread evenly
    assert web.described()["desired"] == desired
    launched = list(range(4, desired))
    assert [web.state(i) for i in launched] == ["Pending"] * len(launched)
    assert [web.zone(i) for i in launched] == ["a", "b", "a", "b"][: len(launched)]
    assert all(web.sim(i).launched_during_run and web.sim(i).patches["missing"] == 0 for i in launched)
    # and InService 10 s later, healthy after the warm-up
    world.clock.advance(10)
    assert [web.state(i) for i in launched] == ["InService"] * len(launched)
    assert {web.sim(i).targets[TARGET_GROUP][0] for i in launched} == {"initial"}
    world.clock.advance(60)
    assert {web.sim(i).targets[TARGET_GROUP][0] for i in launched} == {"healthy"}
    assert world.model.min_healthy["web"] == 4  # the new ones never counted before they were healthy


@pytest.mark.parametrize("hook", [5, 30, 600])
def test_a_launch_lifecycle_hook_holds_a_new_instance_in_pending_wait(world, hook):
    # Given a group with a launch lifecycle hook of `hook` seconds
    web = MovingGroup(world, hook=hook)
    # When it scales out by one
    web.event("scale_out", count=1)
    # Then the instance is Pending, Pending:Wait for the hook's time, Pending:Proceed, then InService
    seen = []
    for step in (10, hook - 1, 1, 1):
        seen.append(web.state(4))
        world.clock.advance(step)
    seen.append(web.state(4))
    assert seen == ["Pending", "Pending:Wait", "Pending:Wait", "Pending:Proceed", "InService"]
    assert f"Pending:Wait (launch lifecycle hook, {hook} s)" in world.timeline


def test_a_scale_in_terminates_by_the_default_termination_policy_never_standby_or_protected(world):
    # Given 6 instances over zones a,b,a,b,a,b; 0 protected from scale in, 2 in Standby (both in zone a)
    web = MovingGroup(world, instances=6, min_size=1)
    world.model.state_of(web.sim(0)).protected_from_scale_in = True
    web.call("EnterStandby", InstanceIds=[web.sim(2).instance_id], ShouldDecrementDesiredCapacity=True)
    world.clock.advance(30)
    assert web.state(2) == "Standby"
    # When it scales in by 3
    web.event("scale_in", count=3)
    # Then the desired capacity falls by 3 and Auto Scaling picks zone b (the most instances) first, then
    # alternates; in zone a only 4 may go (0 is protected, 2 in Standby)
    assert web.described()["desired"] == 2
    assert {i for i, state in web.states().items() if state == "Terminating"} == {1, 3, 4}
    # and they leave the group once their targets have drained
    world.clock.advance(30)
    assert web.states() == {
        0: "InService",
        1: "Terminated",
        2: "Standby",
        3: "Terminated",
        4: "Terminated",
        5: "InService",
    }
    assert sorted(web.described()["instances"].values()) == ["InService", "InService", "Standby"]
    assert world.call("autoscaling", "DescribeAutoScalingInstances", InstanceIds=[web.sim(1).instance_id]) == {
        "AutoScalingInstances": []
    }


@pytest.mark.parametrize(("count", "min_size", "desired"), [(1, 1, 3), (3, 2, 2), (4, 0, 0)])
def test_a_scale_in_never_goes_below_min_size(world, count, min_size, desired):
    # Given a group of 4 with MinSize min_size
    web = MovingGroup(world, min_size=min_size)
    # When it scales in by count
    web.event("scale_in", count=count)
    # Then the desired capacity falls by count, never below MinSize, and as many instances terminate
    assert web.described()["desired"] == desired
    assert list(web.states().values()).count("Terminating") == 4 - desired


@pytest.mark.parametrize(
    ("indexes", "refusal"),
    [
        ([3, 0], None),
        ([1], None),
        ([2], "scale_in [2] refused: instance 2 is Standby"),
        ([0, 9], "scale_in [0, 9] refused: no instance 9 launched yet"),
        ([1, 3, 0], "scale_in [1, 3, 0] refused: desired capacity 3 - 3 would fall below MinSize 1"),
    ],
)
def test_a_scale_in_of_chosen_instances_terminates_them_or_is_refused_whole(world, indexes, refusal):
    # Given a group of 4, instance 2 in Standby (desired capacity 3)
    web = MovingGroup(world)
    web.call("EnterStandby", InstanceIds=[web.sim(2).instance_id], ShouldDecrementDesiredCapacity=True)
    world.clock.advance(30)
    # When it scales in these instances
    web.event("scale_in", count=len(indexes), indexes=indexes)
    # Then exactly those terminate, the desired capacity falls by as many; or nothing happens, logged
    terminating = {i for i, state in web.states().items() if state == "Terminating"}
    if refusal:
        assert (terminating, web.described()["desired"], world.timeline[-1]) == (set(), 3, refusal)
    else:
        assert (terminating, web.described()["desired"]) == (set(indexes), 3 - len(indexes))


@pytest.mark.parametrize("index", [0, 1, 3])
def test_an_instance_ec2_terminates_leaves_the_group_and_is_replaced(world, index):
    # Given a group of 4 over zones a,b,a,b
    web = MovingGroup(world)
    # When EC2 terminates one of its InService instances
    web.event("terminate", index=index)
    # Then it is Terminating and a replacement is launched in its zone at once (the desired capacity stays)
    assert (web.state(index), web.state(4), web.zone(4)) == ("Terminating", "Pending", web.zone(index))
    assert (
        world.ec2.describe_instances(InstanceIds=[web.sim(index).instance_id])["Reservations"][0]["Instances"][0][
            "State"
        ]["Name"]
        == "terminated"
    )
    world.clock.advance(30)
    assert web.state(index) == "Terminated"
    assert web.sim(index).instance_id not in web.described()["instances"]
    assert web.described()["desired"] == 4
    world.clock.advance(60)
    assert world.model.min_healthy["web"] == 3


def test_an_instance_terminated_in_standby_stays_listed_and_is_replaced_only_once_back_in_service(world):
    # Given a group of 4, instance 1 in Standby (desired capacity 3)
    web = MovingGroup(world)
    web.call("EnterStandby", InstanceIds=[web.sim(1).instance_id], ShouldDecrementDesiredCapacity=True)
    world.clock.advance(30)
    # When EC2 terminates it
    web.event("terminate", index=1)
    # Then Auto Scaling, which does not health-check Standby instances, still lists it in Standby, Healthy, and
    # launches nothing: the capacity EnterStandby took stays lost
    world.clock.advance(600)
    assert web.described() == {
        "desired": 3,
        "instances": {**{web.sim(i).instance_id: "InService" for i in (0, 2, 3)}, web.sim(1).instance_id: "Standby"},
    }
    assert world.model.state_of(web.sim(1)).health_status == "Healthy"
    # When it is returned to service
    web.call("ExitStandby", InstanceIds=[web.sim(1).instance_id])
    world.clock.advance(10)
    # Then it is found terminated and replaced: the desired capacity ExitStandby restored is kept
    assert (web.state(1), web.state(4), web.described()["desired"]) == ("Terminating", "Pending", 4)
    assert "Terminating (found terminated when it returned to service)" in world.timeline


def test_an_unhealthy_target_gets_its_instance_replaced_unless_in_standby_or_replacement_is_suspended(world):
    # Given a group of 4, instance 2 in Standby
    web = MovingGroup(world)
    web.call("EnterStandby", InstanceIds=[web.sim(2).instance_id], ShouldDecrementDesiredCapacity=True)
    world.clock.advance(30)
    # When the load balancer finds instance 0's target unhealthy, and instance 2's
    web.event("unhealthy", index=0)
    web.event("unhealthy", index=2)
    # Then 0 is marked Unhealthy, terminated and replaced; 2, in Standby, is not health-checked
    assert (web.state(0), world.model.state_of(web.sim(0)).health_status, web.state(4)) == (
        "Terminating",
        "Unhealthy",
        "Pending",
    )
    assert (web.state(2), world.timeline[-1]) == (
        "Standby",
        "unhealthy ignored: Standby instances are not health-checked",
    )
    # When ReplaceUnhealthy is suspended and instance 1's target turns unhealthy
    web.call("SuspendProcesses", ScalingProcesses=["ReplaceUnhealthy"])
    web.event("unhealthy", index=1)
    # Then it stays InService, its target unhealthy
    assert (web.state(1), web.sim(1).targets[TARGET_GROUP][0]) == ("InService", "unhealthy")
    assert world.model.min_healthy["web"] == 1  # 3 and 4 is Pending


@pytest.mark.parametrize(
    ("sizes", "after", "launched", "terminated"),
    [
        ({"desired": 6}, (1, 8, 6), 2, 0),
        ({"min_size": 6}, (6, 8, 6), 2, 0),  # a new MinSize above the desired capacity raises it
        ({"max_size": 3}, (1, 3, 3), 0, 1),  # a new MaxSize below it lowers it
        ({"min_size": 2, "max_size": 5, "desired": 2}, (2, 5, 2), 0, 2),
        ({"desired": 9}, None, 0, 0),
        ({"min_size": 9}, None, 0, 0),  # above MaxSize 8
        ({"max_size": 3, "desired": 4}, None, 0, 0),
    ],
)
def test_a_person_updating_the_group_gets_update_auto_scaling_groups_rules(world, sizes, after, launched, terminated):
    # Given a group of 4, MinSize 1, MaxSize 8
    web = MovingGroup(world)
    # When a person sets these sizes
    web.event("set_size", **sizes)
    # Then they apply by UpdateAutoScalingGroup's rules and the group launches or terminates to match; or the
    # update is refused (ValidationError), logged, and nothing changes
    group = world.describe_group()
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (after or (1, 8, 4))
    assert list(web.states().values()).count("Pending") == launched
    assert list(web.states().values()).count("Terminating") == terminated
    if after is None:
        assert world.timeline[-1].startswith("set_size refused: ValidationError: Desired capacity:")


@pytest.mark.parametrize(("params", "desired"), [({"MinSize": 5}, 5), ({"MaxSize": 2}, 2), ({"MinSize": 2}, 4)])
def test_update_auto_scaling_group_sets_the_desired_capacity_a_new_min_or_max_size_implies(world, params, desired):
    # Given a group of 4 (MinSize 1, MaxSize 8)
    MovingGroup(world)
    # When the run updates MinSize or MaxSize alone
    world.call("autoscaling", "UpdateAutoScalingGroup", AutoScalingGroupName="web", **params)
    # Then the desired capacity follows when the new size leaves it outside, as AWS does
    assert world.describe_group()["DesiredCapacity"] == desired


def test_az_rebalancing_launches_in_the_short_zone_first_then_terminates_in_the_long_one(world):
    # Given 3 instances over zones a,b,a
    web = MovingGroup(world, instances=3)
    # When instance 1 (zone b's only one) enters Standby: a has 2 InService, b none
    web.call("EnterStandby", InstanceIds=[web.sim(1).instance_id], ShouldDecrementDesiredCapacity=True)
    # Then Auto Scaling launches in zone b first
    assert (web.state(3), web.zone(3), web.state(0), web.state(2)) == ("Pending", "b", "InService", "InService")
    # and, once the new one is InService, terminates one in zone a (the earliest launched of the equal ones)
    world.clock.advance(10)
    assert (web.state(3), web.state(0), web.state(2)) == ("InService", "Terminating", "InService")
    world.clock.advance(30)
    assert web.described()["desired"] == 2
    assert sorted(web.zone(i) for i, state in web.states().items() if state == "InService") == ["a", "b"]
    assert world.model.min_healthy["web"] == 1


def test_no_az_rebalancing_while_az_rebalance_is_suspended_until_it_is_resumed(world):
    # Given 3 instances over zones a,b,a, AZRebalance suspended (as DescribeAutoScalingGroups shows)
    web = MovingGroup(world, instances=3)
    web.call("SuspendProcesses", ScalingProcesses=["AZRebalance"])
    web.call("SuspendProcesses", ScalingProcesses=["AlarmNotification"])
    assert [p["ProcessName"] for p in world.describe_group()["SuspendedProcesses"]] == [
        "AZRebalance",
        "AlarmNotification",
    ]
    # When instance 1 (zone b's only one) enters Standby
    web.call("EnterStandby", InstanceIds=[web.sim(1).instance_id], ShouldDecrementDesiredCapacity=True)
    world.clock.advance(600)
    # Then nothing is launched or terminated
    assert web.states() == {0: "InService", 1: "Standby", 2: "InService"}
    # When AZRebalance is resumed
    web.call("ResumeProcesses", ScalingProcesses=["AZRebalance"])
    # Then the group rebalances
    assert (web.state(3), web.zone(3)) == ("Pending", "b")
    assert [p["ProcessName"] for p in world.describe_group()["SuspendedProcesses"]] == ["AlarmNotification"]


def test_a_process_auto_scaling_does_not_know_cannot_be_suspended(world):
    # Given a group
    MovingGroup(world)
    # When a process that does not exist is suspended
    # Then ValidationError, and nothing is suspended
    refused(
        "ValidationError",
        world.call,
        "autoscaling",
        "SuspendProcesses",
        AutoScalingGroupName="web",
        ScalingProcesses=["Rebalance"],
    )
    assert world.describe_group()["SuspendedProcesses"] == []


def test_no_instance_leaves_standby_while_launch_is_suspended(world):
    # Given instance 1 in Standby, then Launch suspended
    web = MovingGroup(world)
    web.call("EnterStandby", InstanceIds=[web.sim(1).instance_id], ShouldDecrementDesiredCapacity=True)
    world.clock.advance(30)
    web.call("SuspendProcesses", ScalingProcesses=["Launch"])
    # When it is returned to service
    # Then it is refused and stays in Standby; once Launch is resumed, it may
    refused("ValidationError", web.call, "ExitStandby", InstanceIds=[web.sim(1).instance_id])
    assert (web.state(1), web.described()["desired"]) == ("Standby", 3)
    web.call("ResumeProcesses", ScalingProcesses=["Launch"])
    web.call("ExitStandby", InstanceIds=[web.sim(1).instance_id])
    assert (web.state(1), web.described()["desired"]) == ("Pending", 4)


@pytest.mark.parametrize(
    ("meanwhile", "room_at"),
    [({"do": "scale_out", "count": 1}, 5), ({"do": "set_size", "max_size": 3}, 4)],
    ids=["scaled-out-to-max-size", "max-size-lowered"],
)
def test_exit_standby_is_refused_above_max_size_until_there_is_room(world, meanwhile, room_at):
    # Given a group of 4 (MaxSize 4), instance 1 in Standby (desired 3), then the group reaches its MaxSize
    web = MovingGroup(world, max_size=4)
    instance = web.sim(1).instance_id
    web.call("EnterStandby", InstanceIds=[instance], ShouldDecrementDesiredCapacity=True)
    world.clock.advance(30)
    web.event(**meanwhile)
    world.clock.advance(60)
    full = world.describe_group()
    assert full["DesiredCapacity"] == full["MaxSize"]
    # When it is returned to service
    # Then ValidationError: the desired capacity would exceed MaxSize; it stays in Standby
    refusal = refused("ValidationError", web.call, "ExitStandby", InstanceIds=[instance])
    assert f"would be above max size {full['MaxSize']}" in refusal.message
    assert (web.state(1), world.describe_group()["DesiredCapacity"]) == ("Standby", full["DesiredCapacity"])
    # When MaxSize is raised by one, it may
    world.call("autoscaling", "UpdateAutoScalingGroup", AutoScalingGroupName="web", MaxSize=room_at)
    web.call("ExitStandby", InstanceIds=[instance])
    assert (web.state(1), world.describe_group()["DesiredCapacity"]) == ("Pending", room_at)


def test_without_fleet_events_nothing_is_rebalanced_or_replaced(world):
    # Given 3 instances over zones a,b,a in a scenario without fleet events
    web = MovingGroup(world, instances=3)
    world.model.fleet_moves = False
    # When instance 1 enters Standby without decrementing the desired capacity
    web.call("EnterStandby", InstanceIds=[web.sim(1).instance_id], ShouldDecrementDesiredCapacity=False)
    world.clock.advance(600)
    # Then the fleet stays as it is
    assert web.states() == {0: "InService", 1: "Standby", 2: "InService"}


# --- desired capacity changed by a call, instances terminated by one (KeepCapacity's calls) -------------------


def still(world, **kwargs) -> "MovingGroup":
    """A MovingGroup in a scenario without fleet events: the fleet moves only when a call asks it to."""
    web = MovingGroup(world, **kwargs)
    world.model.fleet_moves = False
    return web


def count(web, state) -> int:
    return list(web.states().values()).count(state)


@pytest.mark.parametrize(
    ("desired", "honor", "launched", "terminated"),
    [(6, False, 2, 0), (5, True, 1, 0), (2, False, 0, 2), (1, True, 0, 3)],
)
def test_set_desired_capacity_launches_or_terminates_to_reach_it_without_fleet_events(
    world, desired, honor, launched, terminated
):
    # Given a group of 4 (MinSize 1, MaxSize 8) in a scenario without fleet events
    web = still(world)
    # When its desired capacity is set (HonorCooldown either way)
    assert web.call("SetDesiredCapacity", DesiredCapacity=desired, HonorCooldown=honor) == {}
    # Then it is the new one, and Auto Scaling launches or terminates (default termination policy) to reach it
    assert web.described()["desired"] == desired
    assert (count(web, "Pending"), count(web, "Terminating")) == (launched, terminated)
    assert f"desired capacity 4 -> {desired}" in world.timeline
    # and once launched instances have warmed up and terminated ones drained, the group has `desired` serving
    world.clock.advance(10 + 60)
    assert sorted(web.described()["instances"].values()) == ["InService"] * desired
    assert len(world.model.serving["web"]) == desired


def test_set_desired_capacity_to_what_it_is_moves_nothing(world):
    # Given a group of 4 in a scenario without fleet events
    web = still(world)
    # When its desired capacity is set to 4, and then an instance enters standby without decrementing it
    web.call("SetDesiredCapacity", DesiredCapacity=4)
    web.call("EnterStandby", InstanceIds=[web.sim(1).instance_id], ShouldDecrementDesiredCapacity=False)
    world.clock.advance(600)
    # Then the fleet stayed still, as before: no call asked Auto Scaling to launch or terminate
    assert (web.states(), world.model.fleet_moves) == (
        {0: "InService", 1: "Standby", 2: "InService", 3: "InService"},
        False,
    )


@pytest.mark.parametrize(
    ("min_size", "max_size", "desired", "message"),
    [
        (1, 8, 9, "New SetDesiredCapacity value 9 is above max value 8 for the AutoScalingGroup."),
        (1, 4, 5, "New SetDesiredCapacity value 5 is above max value 4 for the AutoScalingGroup."),
        (2, 8, 1, "New SetDesiredCapacity value 1 is below min value 2 for the AutoScalingGroup."),
        (4, 8, 0, "New SetDesiredCapacity value 0 is below min value 4 for the AutoScalingGroup."),
    ],
)
def test_set_desired_capacity_outside_min_and_max_size_is_refused(world, min_size, max_size, desired, message):
    # Given a group of 4 within these sizes
    web = still(world, min_size=min_size, max_size=max_size)
    # When its desired capacity is set outside them
    # Then ValidationError in AWS's words, and nothing changes
    assert refused("ValidationError", web.call, "SetDesiredCapacity", DesiredCapacity=desired).message == message
    assert (web.described()["desired"], set(web.states().values()), world.model.fleet_moves) == (
        4,
        {"InService"},
        False,
    )


@pytest.mark.parametrize(("hook", "warmup"), [(0, 60), (30, 60), (0, 300), (120, 90)])
def test_one_update_raising_desired_capacity_and_max_size_launches_one_that_serves_after_its_hook_and_warm_up(
    world, hook, warmup
):
    # Given a group of 2 at its MaxSize 2, with a launch hook and warm-up, in a scenario without fleet events
    web = still(world, instances=2, max_size=2, hook=hook, warmup=warmup)
    # When one UpdateAutoScalingGroup raises both by one
    world.call("autoscaling", "UpdateAutoScalingGroup", AutoScalingGroupName="web", DesiredCapacity=3, MaxSize=3)
    # Then a third instance launches: Pending, Pending:Wait for the hook, InService (target initial), then healthy
    group = world.describe_group()
    assert (group["MaxSize"], group["DesiredCapacity"], web.state(2)) == (3, 3, "Pending")
    world.clock.advance(10)
    assert web.state(2) == ("Pending:Wait" if hook else "InService")
    world.clock.advance(hook + (1 if hook else 0))
    assert (web.state(2), web.sim(2).targets[TARGET_GROUP][0]) == ("InService", "initial")
    world.clock.advance(warmup - 1)
    assert len(world.model.serving["web"]) == 2
    world.clock.advance(1)
    assert web.sim(2).targets[TARGET_GROUP] == ("healthy", None)
    assert (len(world.model.serving["web"]), world.model.min_healthy["web"]) == (3, 2)


def launched_one(web, world, state):
    """The group's fifth instance, launched for a desired capacity of 5, once it is in `state` (the hook: 30 s)."""
    web.call("SetDesiredCapacity", DesiredCapacity=5)
    world.clock.advance({"Pending": 0, "Pending:Wait": 10, "InService": 10 + 30 + 1 + 60}[state])
    assert web.state(4) == state
    return web.sim(4)


@pytest.mark.parametrize(
    ("which", "decrement", "desired", "replaced"),
    [
        ("InService", True, 3, False),
        ("InService", False, 4, True),
        ("Pending", True, 4, False),
        ("Pending:Wait", True, 4, False),
        ("launched InService", False, 5, True),
        ("Standby", True, 2, False),
        ("Standby", False, 3, False),  # a Standby instance no longer counts against the desired capacity
    ],
)
def test_terminate_instance_in_auto_scaling_group_terminates_it_and_adjusts_or_replaces(
    world, which, decrement, desired, replaced
):
    # Given a group of 4 (hook 30 s), one of its instances in this state
    web = still(world, hook=30)
    if which == "Standby":
        web.call("EnterStandby", InstanceIds=[web.sim(1).instance_id], ShouldDecrementDesiredCapacity=True)
        world.clock.advance(30)
        sim = web.sim(1)
    elif which == "InService":
        sim = web.sim(1)
    else:
        sim = launched_one(web, world, which.removeprefix("launched "))
    before = web.described()["desired"]
    # When TerminateInstanceInAutoScalingGroup is called on it
    activity = world.call(
        "autoscaling",
        "TerminateInstanceInAutoScalingGroup",
        InstanceId=sim.instance_id,
        ShouldDecrementDesiredCapacity=decrement,
    )["Activity"]
    # Then its activity is InProgress, saying what it does
    assert activity["AutoScalingGroupName"] == "web"
    assert activity["Description"] == f"Terminating EC2 instance: {sim.instance_id}"
    assert (activity["StatusCode"], activity["Progress"], activity["StartTime"]) == (
        "InProgress",
        0,
        world.clock.now_datetime(),
    )
    shrinking = f", shrinking the capacity from {before} to {desired}" if decrement else ""
    assert activity["Cause"].endswith(f"was taken out of service in response to a user request{shrinking}.")
    # and the instance is Terminating (its targets draining), the desired capacity adjusted, a replacement launched
    # only without the decrement
    assert world.model.state_of(sim).lifecycle_state == "Terminating"
    assert {state for state, _ in sim.targets.values()} <= {"draining", "unused"}
    assert web.described()["desired"] == desired
    assert (
        any(
            s.launched_during_run and s is not sim and web.state(s.index) == "Pending"
            for s in world.model.instances.values()
        )
        == replaced
    )
    assert f"Terminating (TerminateInstanceInAutoScalingGroup, desired {before} -> {desired})" in world.timeline
    # and after the deregistration delay it is Terminated, out of the group and terminated in EC2
    world.clock.advance(30)
    assert world.model.state_of(sim).lifecycle_state == "Terminated"
    assert sim.instance_id not in web.described()["instances"]
    ec2_state = world.ec2.describe_instances(InstanceIds=[sim.instance_id])["Reservations"][0]["Instances"][0]["State"]
    assert ec2_state["Name"] == "terminated"


def test_terminate_instance_in_auto_scaling_group_is_refused_as_aws_refuses_it(world):
    # Given a group of 4 at MinSize 4, instance 1 entering standby (without decrement), instance 2 terminating,
    # instance 3 terminated and gone, an instance in no group, and one in a warm pool
    web = still(world, min_size=4)
    world.model.groups["web"].warm_instances = [{"InstanceId": "i-0warm0000000001", "LifecycleState": "Warmed:Stopped"}]
    terminate = lambda instance_id, decrement=False: world.call(  # noqa: E731
        "autoscaling",
        "TerminateInstanceInAutoScalingGroup",
        InstanceId=instance_id,
        ShouldDecrementDesiredCapacity=decrement,
    )
    terminate(web.sim(3).instance_id)
    world.clock.advance(30)
    terminate(web.sim(2).instance_id)
    web.call("EnterStandby", InstanceIds=[web.sim(1).instance_id], ShouldDecrementDesiredCapacity=False)
    desired = web.described()["desired"]
    # When each is terminated with TerminateInstanceInAutoScalingGroup; and instance 0 with the decrement at MinSize
    # Then each is refused, and nothing more changes
    assert refused("ValidationError", terminate, world.instance_id).message == (
        f"Instance Id not found - No managed instance found for instance ID {world.instance_id}"
    )
    assert "No managed instance found" in refused("ValidationError", terminate, web.sim(3).instance_id).message
    assert "warm pool" in refused("ValidationError", terminate, "i-0warm0000000001").message
    refused("ScalingActivityInProgress", terminate, web.sim(1).instance_id)
    refused("ValidationError", terminate, web.sim(2).instance_id)
    assert refused("ValidationError", terminate, web.sim(0).instance_id, True).message == (
        "Currently, desiredSize equals minSize (4). Terminating instance without replacement will violate group's "
        "min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size."
    )
    assert (web.state(0), web.state(1), web.state(2), web.described()["desired"]) == (
        "InService",
        "EnteringStandby",
        "Terminating",
        desired,
    )


@pytest.mark.parametrize("suspended", [None, "ReplaceUnhealthy", "HealthCheck"])
def test_a_group_that_launches_unhealthy_instances_gets_targets_that_never_pass_their_health_checks(world, suspended):
    # Given a group of 4 whose launches never pass their target group's health checks (its own instances do), and
    # instance 1 in Standby; maybe with replacing unhealthy instances suspended
    web = still(world)
    world.model.groups["web"].launches_unhealthy = True
    if suspended:
        web.call("SuspendProcesses", ScalingProcesses=[suspended])
    web.call("EnterStandby", InstanceIds=[web.sim(1).instance_id], ShouldDecrementDesiredCapacity=True)
    world.clock.advance(30)
    # When the desired capacity rises by one, and instance 1 returns to service
    web.call("SetDesiredCapacity", DesiredCapacity=4)
    web.call("ExitStandby", InstanceIds=[web.sim(1).instance_id])
    world.clock.advance(10 + 60)
    # Then instance 1 is healthy again, the new instance never is
    new = web.sim(4)
    assert web.sim(1).targets[TARGET_GROUP] == ("healthy", None)
    assert len(world.model.serving["web"]) == 4
    if suspended:
        # with replacement suspended it stays InService, its target unhealthy, and nothing more is launched
        assert new.targets[TARGET_GROUP] == ("unhealthy", "Target.FailedHealthChecks")
        assert (web.state(4), len(web.states())) == ("InService", 5)
        return
    # with ELB health checks Auto Scaling marks it Unhealthy, terminates it and launches another, as unhealthy
    assert (web.state(4), world.model.state_of(new).health_status, web.state(5)) == (
        "Terminating",
        "Unhealthy",
        "Pending",
    )
    assert "Terminating (UNHEALTHY in its target groups (ELB health check))" in world.timeline
    world.clock.advance(10 + 60)
    assert (web.state(4), web.state(5), web.state(6)) == ("Terminated", "Terminating", "Pending")
    assert world.model.state_of(web.sim(5)).health_status == "Unhealthy"


@pytest.mark.parametrize(("out_for", "warmup"), [(100, 60), (600, 60), (600, 300)])
def test_capacity_seconds_lost_counts_instance_seconds_below_the_healthy_count_at_the_start(world, out_for, warmup):
    # Given a group of 4, all serving at the start
    web = still(world, warmup=warmup)
    # When instance 0 is out of service for `out_for` seconds (EnterStandby, then ExitStandby), and, once it serves
    # again, instances 1 and 2 are out at once for as long
    for instances in ([0], [1, 2]):
        ids = [web.sim(i).instance_id for i in instances]
        web.call("EnterStandby", InstanceIds=ids, ShouldDecrementDesiredCapacity=True)
        world.clock.advance(out_for)
        web.call("ExitStandby", InstanceIds=ids)
        world.clock.advance(10 + warmup + 5)
    # Then each was short from its EnterStandby until it was healthy again (Pending 10 s and the warm-up after
    # ExitStandby), instances 1 and 2 counting twice; and 7 s into the second standby, 1 x the first + 2 x 7
    first = out_for + 10 + warmup
    assert world.model.capacity_seconds_lost("web", world.clock.now()) == 3 * first
    assert world.model.capacity_seconds_lost("web", first + 5 + 7) == first + 2 * 7
    assert world.model.capacity_seconds_lost("web", 3) == 3


def test_capacity_seconds_lost_stays_zero_while_an_extra_instance_serves_for_the_one_out(world):
    # Given a group of 2 that first gets a third instance (one update of desired capacity and MaxSize)
    web = still(world, instances=2, max_size=2)
    world.call("autoscaling", "UpdateAutoScalingGroup", AutoScalingGroupName="web", DesiredCapacity=3, MaxSize=3)
    world.clock.advance(10 + 60)
    # When, once it serves, instance 0 is out for 600 s, and at the end the extra one is terminated with decrement
    web.call("EnterStandby", InstanceIds=[web.sim(0).instance_id], ShouldDecrementDesiredCapacity=True)
    world.clock.advance(600)
    web.call("ExitStandby", InstanceIds=[web.sim(0).instance_id])
    world.clock.advance(10 + 60)
    world.call(
        "autoscaling",
        "TerminateInstanceInAutoScalingGroup",
        InstanceId=web.sim(2).instance_id,
        ShouldDecrementDesiredCapacity=True,
    )
    world.clock.advance(30)
    # Then the group never served fewer than the 2 it started with, and is back at 2 (desired 2, MaxSize 3)
    assert (world.model.capacity_seconds_lost("web", world.clock.now()), world.model.min_healthy["web"]) == (0, 2)
    group = world.describe_group()
    assert (group["DesiredCapacity"], len(group["Instances"]), len(world.model.serving["web"])) == (2, 2, 2)


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


def refreshes(web) -> list[tuple[str, str]]:
    found = web.call("DescribeInstanceRefreshes")["InstanceRefreshes"]
    return [(r["InstanceRefreshId"], r["Status"]) for r in found]


@pytest.mark.parametrize("ended", ["Successful", "Cancelled", "Failed"])
def test_an_instance_refresh_is_pending_then_in_progress_and_a_second_is_refused_while_it_is_active(world, ended):
    # Given a group whose earlier refresh has ended (`ended`)
    web = MovingGroup(world)
    world.model.groups["web"].refreshes = [{"InstanceRefreshId": "old", "AutoScalingGroupName": "web", "Status": ended}]
    # When someone starts an instance refresh, and tries another one 29 s and 31 s later
    web.event("start_instance_refresh")
    (new, _), _ = refreshes(web)
    seen = [refreshes(web)]
    world.clock.advance(29)
    web.event("start_instance_refresh")
    seen.append(refreshes(web))
    world.clock.advance(2)
    web.event("start_instance_refresh")
    seen.append(refreshes(web))
    # Then the new refresh is listed first, Pending for 30 s, then InProgress; the ended one starts nothing; each
    # other start is refused while it is active (InstanceRefreshInProgress, in the timeline); no instance moves
    assert seen == [
        [(new, "Pending"), ("old", ended)],
        [(new, "Pending"), ("old", ended)],
        [(new, "InProgress"), ("old", ended)],
    ]
    assert sum("start_instance_refresh refused: InstanceRefreshInProgress" in line for line in world.timeline) == 2
    assert set(web.states().values()) == {"InService"}
    assert refused("InstanceRefreshInProgress", web.call, "StartInstanceRefresh").message.endswith(f"({new}).")


def test_a_warm_pool_is_described_a_page_at_a_time_and_a_group_without_one_has_none(world):
    # Given a group with a warm pool of 7 instances
    web = MovingGroup(world)
    world.aws.client("autoscaling").put_warm_pool(AutoScalingGroupName="web", PoolState="Hibernated", MinSize=2)
    world.model.groups["web"].warm_instances = [
        {"InstanceId": f"i-warm{n}", "LifecycleState": "Warmed:Hibernated"} for n in range(7)
    ]
    # When its warm pool is described 3 at a time, following NextToken
    pages, token = [], None
    while True:
        page = web.call("DescribeWarmPool", MaxRecords=3, **({"NextToken": token} if token else {}))
        pages.append([i["InstanceId"] for i in page["Instances"]])
        token = page.get("NextToken")
        if token is None:
            break
    # Then every instance comes once, in order, with the pool's configuration on each page
    assert pages == [["i-warm0", "i-warm1", "i-warm2"], ["i-warm3", "i-warm4", "i-warm5"], ["i-warm6"]]
    assert page["WarmPoolConfiguration"] == {"MinSize": 2, "PoolState": "Hibernated"}
    # and a page larger than 50, a bad token or a group that does not exist are refused
    refused("ValidationError", web.call, "DescribeWarmPool", MaxRecords=51)
    refused("InvalidNextToken", web.call, "DescribeWarmPool", NextToken="not-a-token")
    refused("ValidationError", world.call, "autoscaling", "DescribeWarmPool", AutoScalingGroupName="nope")
    # and once the pool is deleted, the group has no warm pool configuration
    world.aws.client("autoscaling").delete_warm_pool(AutoScalingGroupName="web")
    world.model.groups["web"].warm_instances = []
    assert web.call("DescribeWarmPool") == {"Instances": []}


# --- ECS (ecs.py) ------------------------------------------------------------------------------------


def ecs_world(world, tasks=2, drain_seconds=60, stuck=False):
    """The group "web" of two instances, the capacity of a cluster whose instances run `tasks` service tasks each."""
    world.group(LaunchConfigurationName=_launch_configuration(world))
    world.aws.client("autoscaling").set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    ids = [i["InstanceId"] for i in world.describe_group()["Instances"]]
    for index, instance_id in enumerate(ids):
        faults = {"drain_stuck"} if stuck and index == 0 else set()
        world.model.instances[instance_id] = SimInstance(instance_id, "web", index, faults)
    return world.model.add_cluster("web", tasks, drain_seconds), ids


def _launch_configuration(world) -> str:
    world.aws.client("autoscaling").create_launch_configuration(
        LaunchConfigurationName="web-lc", ImageId=world.image, InstanceType="t3.micro"
    )
    return "web-lc"


def container_of(world, cluster, instance_id) -> str:
    found = world.call("ecs", "ListContainerInstances", cluster=cluster.arn, filter=f"ec2InstanceId == {instance_id}")
    (arn,) = found["containerInstanceArns"]
    return arn


@pytest.mark.parametrize("tasks", [1, 4])
def test_a_reboot_loses_the_tasks_still_on_the_instance_and_they_start_again_elsewhere(world, tasks):
    cluster, (first, second) = ecs_world(world, tasks=tasks)
    world.model.rebooted(first)
    assert cluster.tasks_lost == tasks
    assert world.model.container_instance_statuses("web") == {first: "ACTIVE", second: "ACTIVE"}
    assert len(cluster.container_instances[second].tasks) == 2 * tasks


@pytest.mark.parametrize("drain_seconds", [0, 45])
def test_drained_tasks_leave_after_drain_seconds_and_none_is_lost_at_the_reboot(world, drain_seconds):
    cluster, (first, second) = ecs_world(world, drain_seconds=drain_seconds)
    arn = container_of(world, cluster, first)
    world.call(
        "ecs", "UpdateContainerInstancesState", cluster=cluster.name, containerInstances=[arn], status="DRAINING"
    )
    if drain_seconds:
        still = world.call("ecs", "ListTasks", cluster=cluster.arn, containerInstance=arn)["taskArns"]
        assert len(still) == 2
    world.clock.advance(drain_seconds)
    assert world.call("ecs", "ListTasks", cluster=cluster.arn, containerInstance=arn)["taskArns"] == []
    world.model.rebooted(first)
    assert cluster.tasks_lost == 0
    assert world.model.container_instance_statuses("web") == {first: "DRAINING", second: "ACTIVE"}


def test_a_stuck_task_stays_on_its_draining_container_instance_and_describes_as_a_service_task(world):
    cluster, (first, _) = ecs_world(world, tasks=3, drain_seconds=10, stuck=True)
    arn = container_of(world, cluster, first)
    world.call("ecs", "UpdateContainerInstancesState", cluster=cluster.arn, containerInstances=[arn], status="DRAINING")
    world.clock.advance(3600)
    (task,) = world.call("ecs", "ListTasks", cluster=cluster.arn, containerInstance=arn)["taskArns"]
    (described,) = world.call("ecs", "DescribeTasks", cluster=cluster.arn, tasks=[task])["tasks"]
    assert described["startedBy"].startswith("ecs-svc/") and described["lastStatus"] == "RUNNING"


def test_ecs_refuses_what_aws_refuses(world):
    cluster, (first, _) = ecs_world(world)
    refused("ClusterNotFoundException", world.call, "ecs", "ListContainerInstances", cluster="nope")
    refused(
        "InvalidParameterException",
        world.call,
        "ecs",
        "UpdateContainerInstancesState",
        cluster=cluster.arn,
        containerInstances=[container_of(world, cluster, first)],
        status="INACTIVE",
    )
    unknown = f"{cluster.arn.replace(':cluster/', ':container-instance/')}/0000"
    answer = world.call(
        "ecs", "UpdateContainerInstancesState", cluster=cluster.arn, containerInstances=[unknown], status="ACTIVE"
    )
    assert answer["failures"] == [{"arn": unknown, "reason": "MISSING"}]
    providers = world.call("ecs", "DescribeCapacityProviders")["capacityProviders"]
    asg_arn = world.describe_group()["AutoScalingGroupARN"]
    assert [
        p["name"] for p in providers if p.get("autoScalingGroupProvider", {}).get("autoScalingGroupArn") == asg_arn
    ] == [cluster.provider]
