"""The end-to-end check in your own AWS account: `make e2e` (real, after a confirmation) or `make e2e-plan` (offline).

It creates a small test fleet (tests/e2e/fleet.yaml: two arm64 instances with the SSM agent behind an internal
Application Load Balancer, in the default VPC, opted in with a tag value of its own), deploys the patching stack with
sam, runs a DryRun, a Scan and an Install of that group through the real state machine, checks what the simulator's
invariants check (tests/integration/simulation_checks.py: lifecycle states, nothing left in Standby, capacity and the
owner's settings as they were, tags, one alert per failure, the version in the summary and in every alert), and
deletes everything it created, in a `finally`, also when a step or a check fails.

Every AWS call it makes is listed by `--plan`, in order, without credentials and without any call: the steps below
are one list that the plan prints and the real run executes.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autopatch import FOOTER, OPT_IN_TAG_KEY, PATCH_TAG_KEY, RUN_TAG_KEY, VERSION

ROOT = Path(__file__).resolve().parents[2]
FLEET_TEMPLATE = ROOT / "tests" / "e2e" / "fleet.yaml"
STACK_TEMPLATE = ROOT / "template.yaml"

# The estimate, from on-demand prices in us-east-1 (other regions differ a little). The test takes 45 to 90 minutes;
# the estimate is for 2 hours, rounded up.
# - EC2 t4g.nano: $0.0042 an hour each (https://aws.amazon.com/ec2/pricing/on-demand/; not confirmed here), and a
#   public IPv4 address each, $0.005 an hour (https://aws.amazon.com/vpc/pricing/), for the SSM agent to reach its
#   endpoints from the default VPC; an 8 GiB gp3 volume each, a few cents a month pro rata.
# - Application Load Balancer: $0.0225 an hour plus $0.008 per LCU-hour; health checks use a fraction of one
#   (https://aws.amazon.com/elasticloadbalancing/pricing/).
# - The patching stack: its KMS key, $1 a month pro rata by the hour (https://aws.amazon.com/kms/pricing/);
#   Step Functions $0.025 per 1,000 state transitions beyond the free 4,000 a month, a run of two instances takes a
#   few hundred; Lambda, DynamoDB, SNS, SQS, S3 and CloudWatch Logs: well under a cent at this size.
HOURS = 2
COST = {
    "EC2 instances (2 x t4g.nano)": 2 * 0.0042 * HOURS,
    "public IPv4 addresses (2)": 2 * 0.005 * HOURS,
    "Application Load Balancer (1, and 1 LCU at most)": (0.0225 + 0.008) * HOURS,
    "KMS key (the alert topic's)": 1.0 / 730 * HOURS,
    "Step Functions, Lambda, DynamoDB, SNS, SQS, S3, Logs": 0.02,
}
WAIT_READY_SECONDS = 15 * 60
WAIT_RUN_SECONDS = 60 * 60
POLL_SECONDS = 15


@dataclass
class Names:
    """Everything it creates is named from the stack name and one id of this test, so that nothing else is touched."""

    stack: str
    region: str
    test_id: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def fleet_stack(self) -> str:
        return f"{self.stack}-fleet"

    @property
    def group(self) -> str:
        return f"{self.fleet_stack}-group"  # fleet.yaml: AutoScalingGroupName ${AWS::StackName}-group

    @property
    def opt_in(self) -> str:
        return f"e2e-{self.test_id}"

    @property
    def queue(self) -> str:
        return f"{self.stack}-alerts-{self.test_id}"

    def execution(self, run: str) -> str:
        return f"{self.stack}-{run.lower()}-{self.test_id}"


RUNS: dict[str, dict[str, Any]] = {
    "DryRun": {"DryRun": True},
    "Scan": {"Operation": "Scan"},
    "Install": {"Operation": "Install", "PollIntervalSeconds": 5},
}


@dataclass
class Step:
    title: str
    calls: list[str]  # every AWS call (service:Operation) or command the step makes, in order
    action: Callable[[dict], None]
    cleanup: bool = False  # run in the finally, whatever happened before


class E2EFailed(Exception):
    pass


def steps(names: Names) -> list[Step]:
    """The whole test, in order: what the plan prints and the real run executes."""
    group, stack = names.group, names.stack
    flow = [
        Step(
            f"Find the account and the default VPC of {names.region}",
            ["sts:GetCallerIdentity", "ec2:DescribeVpcs (isDefault)", "ec2:DescribeSubnets (default-for-az)"],
            find_default_vpc,
        ),
        Step(
            f"Create the test fleet: stack {names.fleet_stack}, group {group} ({OPT_IN_TAG_KEY}={names.opt_in})",
            ["cloudformation:CreateStack (tests/e2e/fleet.yaml)", "cloudformation:DescribeStacks (until complete)"],
            create_fleet,
        ),
        Step(
            f"Deploy the patching stack {stack} ({VERSION}) with OptInTagValue={names.opt_in}, NotifyRunFinished=true",
            [
                "sam build",
                f"sam deploy --stack-name {stack} --s3-bucket <the fleet's artifact bucket> --capabilities "
                "CAPABILITY_IAM (cloudformation:CreateChangeSet, ExecuteChangeSet, DescribeStacks; s3:PutObject)",
                "cloudformation:DescribeStacks (its outputs)",
            ],
            deploy_stack,
        ),
        Step(
            f"Listen to the alert topic: SQS queue {names.queue}",
            ["sqs:CreateQueue (its policy: the topic may send)", "sqs:GetQueueAttributes", "sns:Subscribe"],
            listen_to_alerts,
        ),
        Step(
            "Wait until both instances are InService, healthy in the target group and Online in Systems Manager",
            [
                "autoscaling:DescribeAutoScalingGroups",
                "elasticloadbalancing:DescribeTargetHealth",
                "ssm:DescribeInstanceInformation (repeated until ready, at most 15 minutes)",
            ],
            wait_until_ready,
        ),
    ]
    for run, settings in RUNS.items():
        flow.append(
            Step(
                f"Run the {run}: execution {names.execution(run)} of group {group}",
                [
                    f"states:StartExecution {json.dumps({'AutoScalingGroupNames': [group], **settings})}",
                    "states:DescribeExecution (until it ends, at most 60 minutes)",
                    "autoscaling:DescribeAutoScalingGroups",
                    "elasticloadbalancing:DescribeTargetHealth",
                    "ec2:DescribeTags",
                ],
                functools.partial(run_and_check, run=run),
            )
        )
    flow.append(
        Step(
            "Check the alerts: one 'finished' per summarized run, none failed or stopped, each with the version",
            ["sqs:ReceiveMessage (until both arrive, at most 5 minutes)"],
            check_alerts,
        )
    )
    return [
        *flow,
        Step(
            f"Delete the alert queue {names.queue} and its subscription",
            ["sns:Unsubscribe", "sqs:DeleteQueue"],
            delete_listener,
            cleanup=True,
        ),
        Step(
            f"Delete the patching stack {stack}: empty its report bucket, then the stack, then its functions' logs",
            [
                "s3:ListObjectVersions + s3:DeleteObjects (the report bucket)",
                f"cloudformation:ListStackResources {stack} (its functions)",
                f"cloudformation:DeleteStack {stack}",
                "cloudformation:DescribeStacks (until deleted)",
                "logs:DeleteLogGroup /aws/lambda/<each of its functions> (Lambda creates them, not the stack)",
            ],
            delete_stack,
            cleanup=True,
        ),
        Step(
            f"Delete the test fleet {names.fleet_stack}: empty its artifact bucket, then the stack",
            [
                "s3:ListObjectVersions + s3:DeleteObjects (the artifact bucket)",
                f"cloudformation:DeleteStack {names.fleet_stack}",
                "cloudformation:DescribeStacks (until deleted)",
            ],
            delete_fleet,
            cleanup=True,
        ),
    ]


# --- the plan ----------------------------------------------------------------------------------------------------


def cost_text() -> str:
    lines = [f"Estimated cost: about ${sum(COST.values()):.2f} for {HOURS} hours (us-east-1 on-demand prices):"]
    lines += [f"  ${amount:.3f}  {what}" for what, amount in COST.items()]
    lines.append(
        "  The KMS key is scheduled for deletion (7 to 30 days' wait) when the stack is deleted; nothing else stays."
    )
    return "\n".join(lines)


def resources(template: Path) -> list[str]:
    """Each resource of a template, 'Type LogicalId', read offline."""
    import cfnlint.decode

    decoded, _ = cfnlint.decode.decode(str(template))
    return [f"{r['Type']} {name}" for name, r in (decoded or {}).get("Resources", {}).items()]


def plan_text(names: Names) -> str:
    stack_types: dict[str, int] = {}
    for line in resources(STACK_TEMPLATE):
        kind = line.split()[0]
        stack_types[kind] = stack_types.get(kind, 0) + 1
    lines = [
        f"End-to-end check of {names.stack} {VERSION} in {names.region} (test id {names.test_id}). PLAN ONLY: no AWS "
        "call is made.",
        "",
        cost_text(),
        "",
        f"It would create, in stack {names.fleet_stack} (tests/e2e/fleet.yaml):",
        *(f"  {line}" for line in resources(FLEET_TEMPLATE)),
        f"in stack {names.stack} (template.yaml):",
        *(f"  {count} x {kind}" for kind, count in sorted(stack_types.items())),
        f"and an SQS queue {names.queue} subscribed to the alert topic.",
        "",
        "Every AWS call and command, in order (the numbered steps after 'finally' run even when a step fails):",
    ]
    flow = steps(names)
    for number, step in enumerate(flow, 1):
        if step.cleanup and not flow[number - 2].cleanup:
            lines.append("finally:")
        lines.append(f"{number:2}. {step.title}")
        lines += [f"      {call}" for call in step.calls]
    return "\n".join(lines)


# --- the real run ------------------------------------------------------------------------------------------------


def aws(context: dict, service: str) -> Any:
    """A boto3 client of the test's region (boto3 is imported only for a real run)."""
    import boto3

    # boto3-stubs type boto3.client per literal service name only; the service here is any name
    return boto3.client(service, region_name=context["names"].region)  # type: ignore[call-overload]


def find_default_vpc(context: dict) -> None:
    identity = aws(context, "sts").get_caller_identity()
    print(f"   account {identity['Account']} as {identity['Arn']}")
    ec2 = aws(context, "ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise E2EFailed("this region has no default VPC: create one (aws ec2 create-default-vpc) or use another")
    subnets = ec2.describe_subnets(
        Filters=[
            {"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]},
            {"Name": "default-for-az", "Values": ["true"]},
        ]
    )["Subnets"]
    if len({s["AvailabilityZone"] for s in subnets}) < 2:
        raise E2EFailed("the default VPC needs default subnets in two Availability Zones for the load balancer")
    context["vpc"], context["subnets"] = vpcs[0]["VpcId"], [s["SubnetId"] for s in subnets]


def create_fleet(context: dict) -> None:
    names = context["names"]
    cloudformation = aws(context, "cloudformation")
    context["created"].add("fleet")
    cloudformation.create_stack(
        StackName=names.fleet_stack,
        TemplateBody=FLEET_TEMPLATE.read_text(),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[
            {"ParameterKey": "VpcId", "ParameterValue": context["vpc"]},
            {"ParameterKey": "SubnetIds", "ParameterValue": ",".join(context["subnets"])},
            {"ParameterKey": "OptInTagKey", "ParameterValue": OPT_IN_TAG_KEY},
            {"ParameterKey": "OptInTagValue", "ParameterValue": names.opt_in},
        ],
        Tags=[{"Key": "CreatedBy", "Value": f"{names.stack} e2e {names.test_id}"}],
    )
    cloudformation.get_waiter("stack_create_complete").wait(StackName=names.fleet_stack)
    context["fleet"] = outputs(context, names.fleet_stack)


def outputs(context: dict, stack: str) -> dict[str, str]:
    [described] = aws(context, "cloudformation").describe_stacks(StackName=stack)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def deploy_stack(context: dict) -> None:
    names = context["names"]
    sam = str(Path(sys.executable).with_name("sam"))
    subprocess.run([sam, "build"], cwd=ROOT, check=True)
    context["created"].add("stack")
    subprocess.run(
        [
            sam,
            "deploy",
            "--stack-name",
            names.stack,
            "--region",
            names.region,
            "--s3-bucket",
            context["fleet"]["ArtifactBucketName"],
            "--no-resolve-s3",
            "--s3-prefix",
            names.stack,
            "--capabilities",
            "CAPABILITY_IAM",
            "--no-confirm-changeset",
            "--no-fail-on-empty-changeset",
            "--parameter-overrides",
            f"OptInTagValue={names.opt_in}",
            "NotifyRunFinished=true",
        ],
        cwd=ROOT,
        check=True,
    )
    context["stack"] = outputs(context, names.stack)


def listen_to_alerts(context: dict) -> None:
    names, topic = context["names"], context["stack"]["AlertTopicArn"]
    sqs = aws(context, "sqs")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": "*",
                "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
            }
        ],
    }
    context["created"].add("queue")
    context["queue_url"] = sqs.create_queue(
        QueueName=names.queue, Attributes={"Policy": json.dumps(policy), "SqsManagedSseEnabled": "true"}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=context["queue_url"], AttributeNames=["QueueArn"])["Attributes"]
    subscribed = aws(context, "sns").subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn["QueueArn"], ReturnSubscriptionArn=True
    )
    context["subscription"] = subscribed["SubscriptionArn"]


def fleet_state(context: dict) -> dict:
    """What the checks compare: the group's sizes and processes, each instance's lifecycle state and target health."""
    [group] = aws(context, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[context["names"].group])[
        "AutoScalingGroups"
    ]
    health = aws(context, "elbv2").describe_target_health(TargetGroupArn=context["fleet"]["TargetGroupArn"])
    return {
        "sizes": (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]),
        "suspended": sorted(p["ProcessName"] for p in group.get("SuspendedProcesses", [])),
        "states": {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]},
        "targets": {t["Target"]["Id"]: t["TargetHealth"]["State"] for t in health["TargetHealthDescriptions"]},
    }


def wait_until_ready(context: dict) -> None:
    deadline = time.monotonic() + WAIT_READY_SECONDS
    while True:
        state = fleet_state(context)
        ids = sorted(state["states"])
        online = aws(context, "ssm").describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": ids or ["i-00000000000000000"]}]
        )["InstanceInformationList"]
        ready = (
            len(ids) == 2
            and set(state["states"].values()) == {"InService"}
            and all(state["targets"].get(i) == "healthy" for i in ids)
            and sorted(o["InstanceId"] for o in online if o["PingStatus"] == "Online") == ids
        )
        if ready:
            context["before"] = state
            return
        if time.monotonic() > deadline:
            raise E2EFailed(f"the fleet was not ready within {WAIT_READY_SECONDS} s: {state}, SSM {online}")
        time.sleep(POLL_SECONDS)


def run_and_check(context: dict, run: str) -> None:
    names = context["names"]
    sfn = aws(context, "stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=context["stack"]["StateMachineArn"],
        name=names.execution(run),
        input=json.dumps({"AutoScalingGroupNames": [names.group], **RUNS[run]}),
    )["executionArn"]
    deadline = time.monotonic() + WAIT_RUN_SECONDS
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            raise E2EFailed(f"{run} still running after {WAIT_RUN_SECONDS} s: {arn}")
        time.sleep(POLL_SECONDS)
    problems = run_problems(run, described, context["before"], fleet_state(context), tags(context), names)
    if problems:
        raise E2EFailed(f"{run} ({arn}): " + "; ".join(problems))
    print(f"   {run} SUCCEEDED and every check passed")


def tags(context: dict) -> dict[str, dict[str, str]]:
    ids = sorted(context["before"]["states"])
    found = aws(context, "ec2").describe_tags(Filters=[{"Name": "resource-id", "Values": ids}])["Tags"]
    result: dict[str, dict[str, str]] = {i: {} for i in ids}
    for tag in found:
        result.setdefault(tag["ResourceId"], {})[tag["Key"]] = tag["Value"]
    return result


def run_problems(run: str, described: dict, before: dict, after: dict, tags: dict, names: Names) -> list[str]:
    """What simulation_checks asserts after a simulated run, on the real fleet after one real run (none: it passed)."""
    problems = []
    if described["status"] != "SUCCEEDED":
        problems.append(f"ended {described['status']}: {described.get('error')} {described.get('cause', '')[:500]}")
        return problems
    output = json.loads(described.get("output") or "{}")
    instances = sorted(before["states"])
    if run == "DryRun":
        planned = sorted(i for g in output.get("Plan", {}).get("Groups", []) for i in g.get("Instances", []))
        if planned != instances:
            problems.append(f"the dry run planned {planned}, not the group's {instances}")
    else:
        if output.get("Version") != VERSION:
            problems.append(f"the summary names version {output.get('Version')}, not {VERSION}")
        results = {i["InstanceId"]: i["Result"] for i in output.get("Instances", [])}
        if results != dict.fromkeys(instances, "Completed"):
            problems.append(f"results {results}, not Completed for both instances")
    if after["states"] != dict.fromkeys(instances, "InService"):
        problems.append(f"lifecycle states {after['states']}: not both InService (none in Standby)")
    if after["sizes"] != before["sizes"]:
        problems.append(f"MinSize, MaxSize, desired capacity {after['sizes']}, were {before['sizes']}")
    if after["suspended"] != before["suspended"]:
        problems.append(f"suspended processes {after['suspended']}, were {before['suspended']}")
    if any(after["targets"].get(i) != "healthy" for i in instances):
        problems.append(f"target health {after['targets']}: not both healthy")
    expected = {PATCH_TAG_KEY: "Completed", RUN_TAG_KEY: names.execution("Install")} if run == "Install" else {}
    for instance in instances:
        mine = {k: v for k, v in tags.get(instance, {}).items() if k in (PATCH_TAG_KEY, RUN_TAG_KEY)}
        if mine != expected:
            problems.append(f"{instance} tagged {mine}, expected {expected or 'no patch tag'}")
    return problems


def check_alerts(context: dict) -> None:
    names = context["names"]
    expected = {f"Patch run {names.execution(run)} finished: Succeeded" for run in ("Scan", "Install")}
    received: list[dict] = []
    deadline = time.monotonic() + 300
    while not expected <= {m.get("Subject") for m in received} and time.monotonic() < deadline:
        for message in (
            aws(context, "sqs")
            .receive_message(QueueUrl=context["queue_url"], MaxNumberOfMessages=10, WaitTimeSeconds=20)
            .get("Messages", [])
        ):
            received.append(json.loads(message["Body"]))  # the SNS envelope: Subject, Message
    problems = alert_problems(received, expected)
    if problems:
        raise E2EFailed("; ".join(problems))
    print(f"   {len(received)} alert(s), each ending '{FOOTER}'")


def alert_problems(received: list[dict], expected: set[str]) -> list[str]:
    subjects = [m.get("Subject") for m in received]
    problems = [f"no alert '{subject}'" for subject in sorted(expected - set(subjects))]
    problems += [f"unexpected alert '{s}'" for s in subjects if s not in expected]
    problems += [
        f"alert '{m.get('Subject')}' does not end with '{FOOTER}'"
        for m in received
        if m.get("Message", "").splitlines()[-1:] != [FOOTER]
    ]
    return problems


def delete_listener(context: dict) -> None:
    if "subscription" in context:
        aws(context, "sns").unsubscribe(SubscriptionArn=context["subscription"])
    if "queue" in context["created"] and "queue_url" in context:
        aws(context, "sqs").delete_queue(QueueUrl=context["queue_url"])


def empty_bucket(context: dict, bucket: str) -> None:
    """Every version and delete marker (the report bucket is versioned): CloudFormation deletes only empty buckets."""
    s3 = aws(context, "s3")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        versions = page.get("Versions", []) + page.get("DeleteMarkers", [])
        objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})


def delete_stack(context: dict) -> None:
    if "stack" not in context["created"]:
        return
    names = context["names"]
    cloudformation = aws(context, "cloudformation")
    bucket = context.get("stack", {}).get("ReportBucketName") or stack_output(context, names.stack, "ReportBucketName")
    if bucket:
        empty_bucket(context, bucket)
    functions = [
        r["PhysicalResourceId"]
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=names.stack)
        for r in page["StackResourceSummaries"]
        if r["ResourceType"] == "AWS::Lambda::Function" and r.get("PhysicalResourceId")
    ]
    cloudformation.delete_stack(StackName=names.stack)
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=names.stack)
    logs = aws(context, "logs")
    for function in functions:  # a function that never ran has none
        with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
            logs.delete_log_group(logGroupName=f"/aws/lambda/{function}")


def stack_output(context: dict, stack: str, key: str) -> str | None:
    """An output of a stack whose deploy may have failed midway (none when the stack or the output does not exist)."""
    try:
        return outputs(context, stack).get(key)
    except Exception:  # the stack was never created: nothing to empty
        return None


def delete_fleet(context: dict) -> None:
    if "fleet" not in context["created"]:
        return
    names = context["names"]
    bucket = context.get("fleet", {}).get("ArtifactBucketName") or stack_output(
        context, names.fleet_stack, "ArtifactBucketName"
    )
    if bucket:
        empty_bucket(context, bucket)
    cloudformation = aws(context, "cloudformation")
    cloudformation.delete_stack(StackName=names.fleet_stack)
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=names.fleet_stack)


def run(names: Names) -> int:
    """Every step in order; the clean-up steps always, each even when another failed. 0 when everything passed."""
    context: dict = {"names": names, "created": set()}
    failures = []
    flow = steps(names)
    try:
        for number, step in enumerate(s for s in flow if not s.cleanup):
            print(f"{number + 1:2}. {step.title}", flush=True)
            step.action(context)
    except Exception as error:  # any failure: report it, then clean up
        failures.append(f"{type(error).__name__}: {error}")
    finally:
        for step in (s for s in flow if s.cleanup):
            print(f"    {step.title}", flush=True)
            try:
                step.action(context)
            except Exception as error:  # one clean-up failing must not keep the others from running
                failures.append(f"clean-up '{step.title}' failed, delete by hand: {type(error).__name__}: {error}")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    print("End-to-end check " + ("FAILED" if failures else "PASSED"))
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The end-to-end check of the patching stack in your AWS account.")
    parser.add_argument("--plan", action="store_true", help="print what it would create and call, offline, and stop")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--stack-name", default="autopatch-e2e")
    args = parser.parse_args(argv)
    names = Names(stack=args.stack_name, region=args.region)
    if args.plan:
        print(plan_text(names))
        return 0
    print(cost_text())
    print(f"It creates stacks {names.fleet_stack} and {names.stack} in {names.region} and deletes them at the end.")
    if not args.yes and input("Go on? [y/N] ").strip().lower() not in ("y", "yes"):
        print("Nothing was created.")
        return 1
    return run(names)


if __name__ == "__main__":
    sys.exit(main())
