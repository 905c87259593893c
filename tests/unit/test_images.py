"""BakeAmi's AWS calls (autopatch.images) where the simulator cannot easily reach: the exact calls and their
order when switching the group to a new launch template version fails half-way, a repeated call, an image
that ends badly. botocore's Stubber answers each call in the order the code must make it, and fails the test
on any other call."""

import datetime as dt

import pytest
from botocore.stub import Stubber

import autopatch.clients
from autopatch import images
from autopatch.errors import BakeTimedOut, ImageFailed, NotBakeable

TEMPLATE_ID = "lt-0123456789abcdef0"
OLD_IMAGE, NEW_IMAGE = "ami-0aaaaaaaaaaaaaaa1", "ami-0bbbbbbbbbbbbbbb2"
INSTANCE = "i-0123456789abcdef0"


@pytest.fixture
def stubbed():
    autopatch.clients.client.cache_clear()
    stubs = {service: Stubber(autopatch.clients.client(service)) for service in ("ec2", "autoscaling")}
    for stub in stubs.values():
        stub.activate()
    yield stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()
    autopatch.clients.client.cache_clear()


def group(version="$Latest", **launch) -> dict:
    found = {
        "AutoScalingGroupName": "web",
        "MinSize": 1,
        "MaxSize": 6,
        "DesiredCapacity": 3,
        "DefaultCooldown": 300,
        "AvailabilityZones": ["us-east-1a"],
        "HealthCheckType": "ELB",
        "CreatedTime": dt.datetime(2026, 1, 1),
        "Instances": [
            {
                "InstanceId": INSTANCE,
                "AvailabilityZone": "us-east-1a",
                "LifecycleState": "Standby",
                "HealthStatus": "Healthy",
                "ProtectedFromScaleIn": False,
            }
        ],
    }
    found.update(launch or {"LaunchTemplate": {"LaunchTemplateId": TEMPLATE_ID, "Version": version}})
    return found


def expect_launch_source(
    stubbed, version="$Latest", number=4, tags=(("AutoPatch", "enabled"),), image=OLD_IMAGE, **launch
):
    stubbed["autoscaling"].add_response(
        "describe_auto_scaling_groups", {"AutoScalingGroups": [group(version, **launch)]}
    )
    if launch:
        return
    stubbed["ec2"].add_response(
        "describe_launch_templates",
        {
            "LaunchTemplates": [
                {
                    "LaunchTemplateId": TEMPLATE_ID,
                    "LaunchTemplateName": "web-lt",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags],
                }
            ]
        },
        {"LaunchTemplateIds": [TEMPLATE_ID]},
    )
    if dict(tags).get("AutoPatch") != "enabled":
        return
    stubbed["ec2"].add_response(
        "describe_launch_template_versions",
        {
            "LaunchTemplateVersions": [
                {
                    "LaunchTemplateId": TEMPLATE_ID,
                    "VersionNumber": number,
                    "LaunchTemplateData": {"ImageId": image, "InstanceType": "t3.micro"},
                }
            ]
        },
        {"LaunchTemplateId": TEMPLATE_ID, "Versions": [version]},
    )


def expect_new_version(stubbed, source=4, created=5):
    stubbed["ec2"].add_response(
        "create_launch_template_version",
        {"LaunchTemplateVersion": {"LaunchTemplateId": TEMPLATE_ID, "VersionNumber": created}},
        {
            "LaunchTemplateId": TEMPLATE_ID,
            "SourceVersion": str(source),
            "VersionDescription": f"AutoPatch run run-1: patched image {NEW_IMAGE}",
            "LaunchTemplateData": {"ImageId": NEW_IMAGE},
            "ClientToken": images.hashlib.sha256(b"run-1\nweb").hexdigest()[:64],
        },
    )


def test_a_group_on_a_fixed_version_that_cannot_be_switched_keeps_its_template_as_it_was(stubbed):
    # Given a group on fixed version 4, whose UpdateAutoScalingGroup is refused
    expect_launch_source(stubbed, version="4")
    expect_new_version(stubbed)
    stubbed["autoscaling"].add_client_error(
        "update_auto_scaling_group",
        "ValidationError",
        "You are not authorized to use launch template",
        expected_params={
            "AutoScalingGroupName": "web",
            "LaunchTemplate": {"LaunchTemplateId": TEMPLATE_ID, "Version": "5"},
        },
    )
    # Then the version just made is deleted again, and the error goes on to the state machine (a failed bake)
    stubbed["ec2"].add_response(
        "delete_launch_template_versions",
        {"SuccessfullyDeletedLaunchTemplateVersions": [{"LaunchTemplateId": TEMPLATE_ID, "VersionNumber": 5}]},
        {"LaunchTemplateId": TEMPLATE_ID, "Versions": ["5"]},
    )
    with pytest.raises(images.ClientError, match="not authorized"):
        images.use_image("web", NEW_IMAGE, "run-1", "autopatch", "enabled")


def test_a_group_on_default_whose_default_cannot_move_keeps_its_template_as_it_was(stubbed):
    expect_launch_source(stubbed, version="$Default")
    expect_new_version(stubbed)
    stubbed["ec2"].add_client_error("modify_launch_template", "UnauthorizedOperation", "not authorized")
    stubbed["ec2"].add_response(
        "delete_launch_template_versions", {}, {"LaunchTemplateId": TEMPLATE_ID, "Versions": ["5"]}
    )
    with pytest.raises(images.ClientError, match="not authorized"):
        images.use_image("web", NEW_IMAGE, "run-1", "autopatch", "enabled")


def test_using_the_image_again_changes_nothing(stubbed):
    # Given a group that already launches from the new image (a retried invocation after it was switched)
    stubbed["autoscaling"].add_response("describe_auto_scaling_groups", {"AutoScalingGroups": [group("$Latest")]})
    stubbed["ec2"].add_response(
        "describe_launch_templates",
        {
            "LaunchTemplates": [
                {
                    "LaunchTemplateId": TEMPLATE_ID,
                    "LaunchTemplateName": "web-lt",
                    "Tags": [{"Key": "AutoPatch", "Value": "enabled"}],
                }
            ]
        },
    )
    stubbed["ec2"].add_response(
        "describe_launch_template_versions",
        {
            "LaunchTemplateVersions": [
                {"LaunchTemplateId": TEMPLATE_ID, "VersionNumber": 5, "LaunchTemplateData": {"ImageId": NEW_IMAGE}}
            ]
        },
    )
    # When it is used again, Then no version is created and nothing is switched
    assert images.use_image("web", NEW_IMAGE, "run-1", "autopatch", "enabled") == {
        "LaunchTemplateId": TEMPLATE_ID,
        "Version": 5,
    }


@pytest.mark.parametrize(
    ("launch", "reason"),
    [
        ({"LaunchConfigurationName": "web-lc"}, "launch configuration web-lc"),
        (
            {
                "MixedInstancesPolicy": {
                    "LaunchTemplate": {
                        "LaunchTemplateSpecification": {"LaunchTemplateId": TEMPLATE_ID, "Version": "$Latest"},
                        "Overrides": [
                            {"InstanceType": "t3.micro"},
                            {"InstanceType": "m7g.large", "LaunchTemplateSpecification": {"LaunchTemplateId": "lt-1"}},
                        ],
                    }
                }
            },
            "a launch template per instance type",
        ),
        (
            {
                "MixedInstancesPolicy": {
                    "LaunchTemplate": {
                        "LaunchTemplateSpecification": {"LaunchTemplateId": TEMPLATE_ID, "Version": "3"},
                        "Overrides": [{"InstanceType": "t3.micro"}, {"InstanceType": "t3.small"}],
                    }
                }
            },
            "on version 3 of its launch template",
        ),
    ],
    ids=["launch configuration", "per-type templates", "mixed on a fixed version"],
)
def test_a_group_that_cannot_be_baked_gets_no_image(stubbed, launch, reason):
    # Given a group whose launch source cannot take a new image
    expect_launch_source(stubbed, **launch)
    # When its image would be started, Then NotBakeable says why, before any CreateImage
    with pytest.raises(NotBakeable, match=reason):
        images.start_image("web", INSTANCE, "run-1", "autopatch", "enabled")


def test_a_launch_template_that_did_not_opt_in_is_not_changed(stubbed):
    expect_launch_source(stubbed, tags=(("team", "web"),))
    with pytest.raises(NotBakeable, match="does not carry the tag AutoPatch=enabled"):
        images.start_image("web", INSTANCE, "run-1", "autopatch", "enabled")


def test_a_template_that_takes_its_image_from_a_parameter_is_not_changed(stubbed):
    expect_launch_source(stubbed, image="resolve:ssm:/golden/web/ami")
    with pytest.raises(NotBakeable, match="takes its image from 'resolve:ssm:/golden/web/ami'"):
        images.start_image("web", INSTANCE, "run-1", "autopatch", "enabled")


def test_starting_the_image_again_finds_the_one_the_run_made(stubbed):
    # Given the run already created the group's image (a retried invocation)
    expect_launch_source(stubbed)
    stubbed["ec2"].add_response(
        "describe_images",
        {
            "Images": [
                {
                    "ImageId": NEW_IMAGE,
                    "State": "pending",
                    "CreationDate": "2026-01-04T03:30:00.000Z",
                    "Tags": [
                        {"Key": "AutoPatchBakedBy", "Value": "autopatch"},
                        {"Key": "AutoPatchGroup", "Value": "web"},
                        {"Key": "AutoPatchRunId", "Value": "run-1"},
                    ],
                }
            ]
        },
    )
    # When the image is started again, Then that image is the answer and no second CreateImage is made
    assert images.start_image("web", INSTANCE, "run-1", "autopatch", "enabled") == NEW_IMAGE


@pytest.mark.parametrize(
    ("state", "deadline", "error", "message"),
    [
        ("failed", 4_000_000_000, ImageFailed, "is failed: Internal error"),
        ("pending", 0, BakeTimedOut, "still pending when BakeTimeoutSeconds ran out"),
    ],
)
def test_an_image_that_ends_badly_or_late_fails_the_bake(stubbed, state, deadline, error, message):
    stubbed["ec2"].add_response(
        "describe_images",
        {"Images": [{"ImageId": NEW_IMAGE, "State": state, "StateReason": {"Code": "x", "Message": "Internal error"}}]},
        {"ImageIds": [NEW_IMAGE]},
    )
    with pytest.raises(error, match=message):
        images.image_available(NEW_IMAGE, deadline)


def test_an_image_that_is_gone_fails_the_bake(stubbed):
    stubbed["ec2"].add_client_error("describe_images", "InvalidAMIID.NotFound", "The image id does not exist")
    with pytest.raises(ImageFailed, match="is gone"):
        images.image_available(NEW_IMAGE, 4_000_000_000)
