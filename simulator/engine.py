"""Runs one simulated patch run: moto, the fleet, the real ASL and handlers, on virtual time."""

import datetime as dt
import functools
import importlib.util
import io
import json
import logging
import os
import pickle
import re
import sys
import threading
import time
import types
import uuid
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.handlers
from aws_lambda_powertools.metrics.provider.cloudwatch_emf import cloudwatch as emf
from moto import mock_aws
from moto.autoscaling.models import autoscaling_backends
from moto.awslambda.exceptions import UnknownFunctionException
from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.config import DefaultConfig
from moto.ec2.models import ec2_backends

from . import fleet, moto_targets
from .aws import AwsError, AwsModel, SimGroup, SimInstance, error_response, ok_response
from .aws.common import BASE_AMIS, botocore_session
from .clock import VirtualClock
from .scenario import Scenario
from .stack import Function, load_stack, matches, resolve, table_definition

REGION = "us-east-1"
START = dt.datetime(2026, 1, 4, 3, 0, tzinfo=dt.UTC)  # a Sunday, 03:00 UTC: the default schedule
LIMIT_SECONDS = 14 * 24 * 3600  # a run that has not ended after two virtual weeks is stuck
TYPICAL_INVOCATION_SECONDS = 0.2  # what a handler that makes a few AWS calls takes on Lambda (estimate)
EVENT_DELIVERY_SECONDS = 1  # EventBridge delivers an AWS event to its targets within seconds
# Lambda runs an asynchronous invocation (EventBridge invokes its Lambda targets so) that returned an error again
# after one minute, then after two more (MaximumRetryAttempts, 0 to 2, default 2), then sends the event to the
# function's dead-letter queue: https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
ASYNC_RETRY_DELAYS = (60, 120)
SIMULATED_WEBHOOK = "https://hooks.slack.com/services/T0SIMULATED/B0SIMULATED/simulatedwebhooksecret"
MISSING_PATCHES = 6  # what a non-compliant simulated instance misses (and an instance launched during the run)
FLEET_SETTLE_SECONDS = 3600  # how long the fleet is followed after its last event, when that is after the run
DEAD_RUN = "run-that-died"  # the run a scenario's stale_standby instance was left by
MACHINE_NAME = "rolling-patch"  # the simulated state machine's name
STACK_NAME = "autopatch"  # what AWS::StackName resolves to
MOTO_CONFIG: DefaultConfig = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
_active: "Simulation | None" = None  # the running Simulation, for the botocore hook
# The stack parameters that allow hooks (CommaDelimitedList): the user's own SSM documents, and Lambda functions
HOOK_PARAMETERS = ("HookDocumentNames", "HookFunctionArns")
HOOK_FUNCTION_TIMEOUT = 900  # a hook function's Lambda timeout: the most Lambda allows
FUNCTION_ARN_PREFIX = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:"


@dataclass
class TimelineEntry:
    t: float
    group: str
    instance: str
    text: str


@dataclass
class Context:
    """What Lambda passes a handler as its context."""

    function_name: str
    invoked_function_arn: str
    deadline: float = 0.0  # virtual time at which the function would time out
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/simulated"
    log_stream_name: str = "simulated"

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.deadline - time.time()) * 1000), 0)


class Simulation:
    def __init__(self, scenario: Scenario, echo=None):
        self.scenario = scenario
        self.echo = echo  # callable(str) for the live timeline, or None
        self.timeline: list[TimelineEntry] = []
        self.stack = load_stack(overrides=scenario.parameters, undeclared_ok=HOOK_PARAMETERS)
        # what the stack allows as hooks: the user's own documents, and functions that are not the stack's
        self.hook_documents, self.hook_functions = (self._listed(name) for name in HOOK_PARAMETERS)
        self.hook_function_runs: list[dict] = []  # each hook function invoked, for the report's hook_invocations
        self.slack_messages: list[dict] = []  # what Slack would have received
        self.log_lines: list[str] = []  # every line the functions logged
        self.event_notifications: list[dict] = []  # SNS messages from EventBridge rules
        self.handlers: dict[str, tuple[Callable, str, Function]] = {}  # logical id -> (handler, arn, function)
        self.lambda_invocations = 0
        self.lambda_gb_seconds = 0.0  # billed duration x memory, on the virtual clock
        self.instance_order: list[SimInstance] = []
        self.scaled_out: dict[str, list[dict]] = {}  # group -> instances it launched after the run
        self.dead_letters: list[dict] = []  # events a function's asynchronous invocations could not handle
        self._status_announced: set[str] = set()  # executions whose status-change event has gone out
        self._crashed: dict[str, tuple[str, str]] = {}  # execution arn -> (error, cause) of a simulated crash
        self._schedules_on = True  # the functions' rate() rules invoke them while the run goes on

    def _listed(self, parameter: str) -> list[str]:
        """A CommaDelimitedList parameter's values: the scenario's, else the template's default."""
        value = self.scenario.parameters.get(parameter, self.stack.parameters.get(parameter)) or ""
        return [item.strip() for item in value.split(",") if item.strip()]

    # ------------------------------------------------------------------------------------------------
    def run(self) -> dict:
        global _active
        real_slack_send, real_showwarning = None, warnings.showwarning
        logging.getLogger("moto").setLevel(logging.CRITICAL)  # the interpreter logs every failed state
        wall_start = time.perf_counter()
        saved_env = dict(os.environ)
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                **BASE_AMIS,
            }
        )
        self.clock = VirtualClock(START)
        try:
            with self.clock, mock_aws(config=MOTO_CONFIG):
                _active = self
                _install_hooks()
                for layer_dir in self.stack.layers.values():
                    if str(layer_dir) not in sys.path:
                        sys.path.insert(0, str(layer_dir))
                polling: Any = importlib.import_module("autopatch.polling")  # the layer's, found on sys.path
                polling.sleep = self.clock.sleep
                # Powertools prints its EMF metrics, and warns; on Lambda both go to CloudWatch Logs, here log_lines
                vars(emf)["print"] = lambda text: self.log_lines.append(str(text))
                warnings.showwarning = lambda message, category, *_: self.log_lines.append(
                    f"{category.__name__}: {message}"
                )
                slack: Any = importlib.import_module("autopatch.slack")
                real_slack_send, slack.send = slack.send, self._slack_send
                backends = {
                    "autoscaling": autoscaling_backends[DEFAULT_ACCOUNT_ID][REGION],
                    "cloudwatch": cloudwatch_backends[DEFAULT_ACCOUNT_ID][REGION],
                    "ec2": ec2_backends[DEFAULT_ACCOUNT_ID][REGION],
                }
                self.model = AwsModel(self.clock, backends, self._log, self.emit, self._deliver_to_subscribers)
                self.model.hook_documents = set(self.hook_documents)
                refs, attributes = self._build_fleet()
                self.model.track_health()
                self._load_functions(refs, attributes)
                self._leave_earlier_images(os.environ["STACK_NAME"])
                machine_arn = self._create_state_machine(refs, attributes)
                name = f"run-{START:%Y%m%dT%H%M}"
                executions = [self._start(machine_arn, name, self.scenario.input)]

                def start_the_others(_t=None) -> None:
                    executions.extend(
                        self._start(machine_arn, f"{name}-{n}", run_input)
                        for n, run_input in enumerate(self.scenario.also_start, start=2)
                    )

                if self.scenario.also_start_at is None:
                    start_the_others()
                else:
                    self.clock.call_later(self.scenario.also_start_at, start_the_others)
                for n, later in enumerate(self.scenario.later_runs, start=1):
                    self._start_later(machine_arn, executions, later["at"], later["input"], n)
                self._start_schedules()
                if self.scenario.stop_at is not None:
                    self.clock.call_later(self.scenario.stop_at, lambda _t: self._stop_by_hand(executions[0]))
                if self.scenario.crash_at is not None:
                    self.clock.call_later(self.scenario.crash_at, lambda _t: self._crash(executions[0]))
                if self.scenario.events:  # else only a call that asks Auto Scaling to launch or terminate moves it
                    self.model.fleet_moves = True
                for event in self.scenario.events:
                    act = self._delete_hold if event.do == "delete_hold" else self.model.fleet_event
                    self.model.at(event.at, lambda t, e=event, act=act: act(t, e))
                self.clock.run(LIMIT_SECONDS)
                self._schedules_on = False  # the run is over: what the rules would invoke now is no part of it
                self.clock.run_timers(within=60)  # deliveries still on their way (SNS to its subscribers)
                if self.scenario.events:  # fleet events after the run's end, and what they set off
                    last = self.scenario.events[-1].at
                    self.clock.run_timers(within=last - self.clock.elapsed() + FLEET_SETTLE_SECONDS)
                self._scale_out()
                report = self._report(executions)
        finally:
            _active = None
            _uninstall_hooks()
            vars(emf).pop("print", None)
            warnings.showwarning = real_showwarning
            if "autopatch.polling" in sys.modules:
                polling_module: Any = sys.modules["autopatch.polling"]
                polling_module.sleep = time.sleep
            if "autopatch.slack" in sys.modules:
                slack_module: Any = sys.modules["autopatch.slack"]
                slack_module.send = real_slack_send
                slack_module._webhook_url.cache_clear()
            os.environ.clear()
            os.environ.update(saved_env)
        report["wall_seconds"] = round(time.perf_counter() - wall_start, 2)
        return report

    # the fleet ------------------------------------------------------------------------------------
    def _build_fleet(self):
        ec2, asg, elbv2, sns, cloudwatch = (
            boto3.client(s, region_name=REGION) for s in ("ec2", "autoscaling", "elbv2", "sns", "cloudwatch")
        )
        topic = sns.create_topic(Name="AlertTopic")["TopicArn"]
        refs = self.refs = {**self.stack.parameters, "AlertTopic": topic, "AWS::StackName": STACK_NAME}
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for name, resource in self.stack.resources.items():
            if resource["Type"] == "AWS::DynamoDB::Table":
                props = resource["Properties"]
                dynamodb.create_table(TableName=name, **table_definition(props))
                refs[name] = name
            if resource["Type"] == "AWS::S3::Bucket":
                refs[name] = name.lower()
                boto3.client("s3", region_name=REGION).create_bucket(Bucket=refs[name])
        secret = self.stack.parameters.get("SlackWebhookSecretName")
        if secret:
            boto3.client("secretsmanager", region_name=REGION).create_secret(
                Name=secret, SecretString=json.dumps({"url": SIMULATED_WEBHOOK})
            )
        network = fleet.create_network(ec2, REGION, max(spec.azs for spec in self.scenario.groups))
        # the first of moto's Amazon images, as DescribeImages lists them, without serializing them all
        image = self.model.ec2.describe_images(owners=["amazon"])[0].id
        opt_in_value = self.stack.parameters["OptInTagValue"]
        for spec in self.scenario.groups:
            target_groups = []
            if spec.load_balanced:
                target_groups.append(fleet.create_target_group(elbv2, spec.name, network.vpc_id))
            tags = [fleet.opt_in_tag(opt_in_value)] if spec.opted_in else []
            launch_source = fleet.create_launch_source(
                asg, self.model.ec2, spec.name, spec.launch, image, {t["Key"]: t["Value"] for t in tags}
            )
            if spec.alarm:
                cloudwatch.put_metric_alarm(
                    AlarmName=spec.alarm,
                    MetricName="HTTPCode_Target_5XX_Count",
                    Namespace="AWS/ApplicationELB",
                    Statistic="Sum",
                    Period=60,
                    EvaluationPeriods=1,
                    Threshold=10,
                    ComparisonOperator="GreaterThanThreshold",
                )
                tags.append({"Key": "AutoPatchAlarmNames", "Value": spec.alarm})
            tags += [{"Key": key, "Value": value} for key, value in spec.tags.items()]
            assert spec.max_size is not None  # GroupSpec.__post_init__ sets it
            group = fleet.create_group(
                asg,
                spec.name,
                fleet.Network(network.vpc_id, network.subnet_ids[: spec.azs]),
                launch_source,
                min_size=spec.min_size,
                max_size=spec.max_size + (spec.dead_run_added_instance and spec.instances == spec.max_size),
                desired=spec.instances + spec.dead_run_added_instance,
                target_groups=target_groups,
                tags=tags,
                HealthCheckType="ELB" if target_groups else "EC2",
                HealthCheckGracePeriod=spec.warmup_seconds,
            )
            if spec.suspended_processes:
                asg.suspend_processes(AutoScalingGroupName=spec.name, ScalingProcesses=spec.suspended_processes)
            self.model.groups[spec.name] = SimGroup(
                spec.name,
                target_groups,
                spec.deregistration_delay,
                spec.warmup_seconds,
                spec.alarm,
                spec.instance_refresh,
                patch_seconds=spec.patch_seconds,
                missing_patches=MISSING_PATCHES,
                launch_hook_seconds=spec.launch_hook_seconds,
                launches_unhealthy=spec.launches_unhealthy,
                alarm_delay_seconds=spec.alarm_delay_seconds,
                hook_seconds=spec.hook_seconds,
            )
            self.model.spread(spec.name)
            if spec.warm_pool is not None:
                self._warm_pool(asg, ec2, spec, image, network.subnet_ids[: spec.azs])
            for index, instance in enumerate(group["Instances"]):
                faults = spec.faults.get(index, set())
                sim = SimInstance(
                    instance["InstanceId"],
                    spec.name,
                    index,
                    set(faults),
                    agent_online="agent_offline" not in faults,
                    patch_seconds=spec.patch_seconds,
                    targets={arn: ("healthy", None) for arn in target_groups},
                )
                self.model.instances[sim.instance_id] = sim
                self.instance_order.append(sim)
                if index not in spec.compliant:
                    sim.patches["missing"] = MISSING_PATCHES
                if "unhealthy_before" in faults:
                    sim.targets = {arn: ("unhealthy", "Target.FailedHealthChecks") for arn in target_groups}
                if "stale_standby" in faults:
                    self._leave_in_standby(ec2, spec.name, sim)
            if spec.ecs is not None:
                self.model.add_cluster(spec.name, spec.ecs["tasks_per_instance"], spec.ecs["drain_seconds"])
            if any("stale_standby" in faults for faults in spec.faults.values()):
                self._leave_hold(spec.name)
            self._leave_changes(asg, spec)
        return self.refs, {}

    def _warm_pool(self, asg, ec2, spec, image: str, subnets: list[str]) -> None:
        """The group's warm pool (PutWarmPool) and its instances, launched from the group's image and kept in the
        pool's state (Warmed:Stopped, Warmed:Running, Warmed:Hibernated), spread over the group's zones; not in the
        group, so never patched or counted against its capacity
        (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-warm-pools.html)."""
        assert spec.warm_pool is not None
        state, size = spec.warm_pool.get("state", "Stopped"), spec.warm_pool["size"]
        asg.put_warm_pool(AutoScalingGroupName=spec.name, PoolState=state)
        warm = self.model.groups[spec.name].warm_instances
        for n in range(size):
            subnet = subnets[n % len(subnets)]
            (instance,) = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"]
            if state != "Running":
                ec2.stop_instances(InstanceIds=[instance["InstanceId"]], Hibernate=state == "Hibernated")
            warm.append(
                {
                    "InstanceId": instance["InstanceId"],
                    "InstanceType": instance["InstanceType"],
                    "AvailabilityZone": instance["Placement"]["AvailabilityZone"],
                    "LifecycleState": f"Warmed:{state}",
                    "HealthStatus": "Healthy",
                    "ProtectedFromScaleIn": False,
                }
            )

    def _leave_earlier_images(self, stack_name: str) -> None:
        """Images that exist before the run, a week apart, oldest first: the foreign ones (tagged with the group
        by someone else), then those an earlier run of this stack baked of the group."""
        for spec in self.scenario.groups:
            source = next(sim.instance_id for sim in self.instance_order if sim.group == spec.name)
            earlier = [
                (f"{spec.name}-golden-{k}", {"AutoPatchGroup": spec.name}) for k in range(1, spec.foreign_images + 1)
            ]
            earlier += [
                (
                    f"{stack_name}-{spec.name}-run-earlier-{k}",
                    {
                        "AutoPatchBakedBy": stack_name,
                        "AutoPatchGroup": spec.name,
                        "AutoPatchRunId": f"run-earlier-{k}",
                        "AutoPatchSourceInstance": source,
                    },
                )
                for k in range(1, spec.previous_bakes + 1)
            ]
            for weeks_ago, (name, tags) in zip(range(len(earlier), 0, -1), earlier, strict=True):
                image = self.model.make_image(source, name, "", tags, tags)
                image.creation_date = START - dt.timedelta(weeks=weeks_ago)

    def _leave_in_standby(self, ec2, group_name, sim):
        """What a run that died mid-instance leaves: Standby (capacity one short), tag InProgress."""
        group = self.model.asg.autoscaling_groups[group_name]
        assert group.desired_capacity is not None  # moto sets it when it creates a group (MinSize if none is given)
        group.desired_capacity -= 1
        self.model.set_lifecycle(self.clock.now(), sim, "Standby")
        sim.targets = {arn: ("unused", "Target.NotRegistered") for arn in sim.targets}
        ec2.create_tags(
            Resources=[sim.instance_id],
            Tags=[
                {"Key": "AutoPatchInstanceInASG", "Value": "InProgress"},
                {"Key": "AutoPatchRunId", "Value": DEAD_RUN},
            ],
        )

    def _leave_hold(self, group_name: str) -> None:
        """The dead run's hold on the group, as acquire_locks wrote it an hour ago; its execution no longer
        runs (it is not in the state machine's list at all), so the run takes the hold over."""
        since = int(self.clock.now()) - 3600
        self._ledger_put(
            {
                "Id": {"S": f"lock#{group_name}"},
                "Holder": {"S": dead_run_execution_arn()},
                "RunId": {"S": DEAD_RUN},
                "Since": {"N": str(since)},
                "ExpiresAt": {"N": str(since + 90 * 24 * 3600)},
            }
        )

    def _delete_hold(self, t, event) -> None:
        """A person deletes the group's hold from the run ledger (DynamoDB DeleteItem), as one might to "unlock" a
        group thought stuck: a run started after it takes the group."""
        boto3.client("dynamodb", region_name=REGION).delete_item(
            TableName=self.ledger_table, Key={"Id": {"S": f"lock#{event.group}"}}
        )
        self._log(t, event.group, "", "hold deleted from the run ledger by hand")

    @property
    def ledger_table(self) -> str:
        """The run ledger's table name (the stack's one DynamoDB table)."""
        return next(self.refs[n] for n, r in self.stack.resources.items() if r["Type"] == "AWS::DynamoDB::Table")

    def _ledger_put(self, item: dict) -> None:
        boto3.client("dynamodb", region_name=REGION).put_item(TableName=self.ledger_table, Item=item)

    def _leave_changes(self, asg, spec):
        """What a run that died had changed on the group and not given back, as the ledger records it
        (ledger.remember_change): MinSize lowered by one (LowerMinSize), MaxSize raised by one, AZRebalance
        suspended, an instance added (KeepCapacity: the group's last, with MaxSize raised for it at the maximum)."""
        changes = []
        if spec.dead_run_lowered_min_size:
            asg.update_auto_scaling_group(AutoScalingGroupName=spec.name, MinSize=spec.min_size - 1)
            changes.append(("minsize", spec.min_size, spec.min_size - 1))
        if spec.dead_run_raised_max_size:
            assert spec.max_size is not None  # GroupSpec.__post_init__ sets it
            asg.update_auto_scaling_group(AutoScalingGroupName=spec.name, MaxSize=spec.max_size + 1)
            changes.append(("maxsize", spec.max_size, spec.max_size + 1))
        if spec.dead_run_suspended_az_rebalance:
            asg.suspend_processes(AutoScalingGroupName=spec.name, ScalingProcesses=["AZRebalance"])
            changes.append(("azrebalance", None, None))
        if spec.dead_run_added_instance:  # its last instance, and MaxSize raised for it if at the maximum
            changes.append(("addedinstance", spec.instances, spec.instances + 1))
            if spec.instances == spec.max_size:
                changes.append(("maxsize", spec.max_size, spec.max_size + 1))
        for key, original, set_to in changes:
            sizes: dict[str, dict] = (
                {"Original": {"N": str(original)}, "SetTo": {"N": str(set_to)}} if original is not None else {}
            )
            if key == "addedinstance":
                ids = [s.instance_id for s in self.instance_order if s.group == spec.name]
                sizes |= {"Instances": {"SS": ids[:-1]}, "InstanceId": {"S": ids[-1]}, "Made": {"S": "true"}}
            self._ledger_put({"Id": {"S": f"{key}#{spec.name}"}, "RunId": {"S": DEAD_RUN}, **sizes})

    def _scale_out(self) -> None:
        """After the run: each group with scale_out_after launches that many instances, as AWS would."""
        self.scaled_out = {
            spec.name: self.model.scale_out(spec.name, spec.scale_out_after) if spec.scale_out_after else []
            for spec in self.scenario.groups
        }

    # the functions --------------------------------------------------------------------------------
    def _load_functions(self, refs, attributes):
        lam = boto3.client("lambda", region_name=REGION)
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="simulated", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("app.py", "")
        # no X-Ray daemon here; metrics are on, as on Lambda, and go to log_lines
        environment = {"POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_DISABLED": "false"}
        for fn in self.stack.functions.values():
            arn = lam.create_function(
                FunctionName=fn.logical_id,
                Runtime="python3.12",
                Role=role,
                Handler=fn.handler,
                Code={"ZipFile": code.getvalue()},
            )["FunctionArn"]
            refs[fn.logical_id] = fn.logical_id
            attributes[(fn.logical_id, "Arn")] = arn
            for name, value in fn.environment.items():
                value = str(resolve(value, refs, attributes))
                if environment.get(name, value) != value:
                    raise ValueError(f"functions disagree on environment variable {name}; the simulator shares one")
                environment[name] = value
        environment.setdefault("STACK_NAME", STACK_NAME)
        os.environ.update(environment)
        for fn in self.stack.functions.values():
            module_name, function_name = fn.handler.rsplit(".", 1)
            spec = importlib.util.spec_from_file_location(f"fn_{fn.code_dir.name}", fn.code_dir / f"{module_name}.py")
            assert spec is not None and spec.loader is not None  # a .py file's path: the source file loader
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self.handlers[fn.logical_id] = (getattr(module, function_name), attributes[(fn.logical_id, "Arn")], fn)
        # Lambda sends what a function prints to CloudWatch Logs: here, to log_lines (not the timeline)
        service = logging.getLogger(os.environ.get("POWERTOOLS_SERVICE_NAME", "service_undefined"))
        for handler in service.handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(_LineSink(self.log_lines))

    def invoke(self, function_name: str, body, response_headers) -> bytes:
        name = function_name.split(":")[6] if function_name.startswith("arn:") else function_name
        event = json.loads(body) if body else {}
        if name not in self.handlers:
            arn = function_name if function_name.startswith("arn:") else f"{FUNCTION_ARN_PREFIX}{function_name}"
            unqualified = ":".join(arn.split(":")[:7])  # a version or alias of the function is the function
            if unqualified not in self.hook_functions:
                raise UnknownFunctionException(arn)  # Lambda's ResourceNotFoundException, a 404
            return json.dumps(self._run_hook_function(unqualified, event, response_headers)).encode()
        try:
            return json.dumps(self._run_handler(name, event, _calling_execution())).encode()
        except Exception as error:  # reported the way Lambda reports it
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}).encode()

    def _run_hook_function(self, arn: str, event: dict, response_headers) -> dict:
        """A hook function the stack allows (HookFunctionArns), not one of its own: it takes the hook_seconds of the
        group of the instance the payload names and returns, or raises with that instance's hook_failed; with
        hook_timeout it runs until its Lambda timeout (HOOK_FUNCTION_TIMEOUT) and Lambda reports the timeout as a
        function error, Sandbox.Timedout ("Task timed out after ..."), as it does one that takes longer than that:
        https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html#troubleshooting-timeouts.
        The user's function, not the stack's: not counted in lambda_invocations or their cost."""
        sim = self.model.instances.get(event.get("InstanceId", ""))
        group = sim.group if sim else event.get("GroupName", "")
        faults = sim.faults if sim else set()
        started, name = self.clock.now(), arn.split(":")[6]
        run = {
            "at": round(started - START.timestamp(), 3),
            "group": group,
            "instance_id": event.get("InstanceId"),
            "phase": event.get("Hook"),
            "kind": "function",
            "hook": arn,
            "status": "Running",
            "seconds": None,
        }
        self.hook_function_runs.append(run)
        where = run["instance_id"] or ""
        self._log(started, group, where, f"hook function {name} invoked ({run['phase']})")
        spec = self.model.groups.get(group)
        takes = spec.hook_seconds if spec else SimGroup.hook_seconds
        result: dict[str, Any]
        timed_out = "hook_timeout" in faults or takes > HOOK_FUNCTION_TIMEOUT
        self.clock.sleep(HOOK_FUNCTION_TIMEOUT if timed_out else takes)
        if timed_out:
            message = f"RequestId: {uuid.uuid4()} Error: Task timed out after {HOOK_FUNCTION_TIMEOUT:.2f} seconds"
            run["status"], result = "TimedOut", {"errorType": "Sandbox.Timedout", "errorMessage": message}
        elif "hook_failed" in faults:
            run["status"], result = "Failed", {"errorType": "Exception", "errorMessage": f"{name} failed on {where}"}
        else:
            run["status"], result = "Succeeded", {"Hook": run["phase"], "InstanceId": where, "Passed": True}
        if run["status"] != "Succeeded":
            response_headers["x-amz-function-error"] = "Unhandled"  # a function error, as Lambda reports one
        run["seconds"] = round(self.clock.now() - started, 3)
        self._log(self.clock.now(), group, where, f"hook function {name} {run['status']}")
        return result

    def _run_handler(self, name: str, event, execution: str | None):
        handler, arn, fn = self.handlers[name]
        self.lambda_invocations += 1
        self.model.local.in_handler, self.model.local.execution = True, execution
        started = self.clock.now()
        try:
            return handler(event, Context(name, arn, deadline=started + fn.timeout, memory_limit_in_mb=fn.memory_mb))
        finally:
            self.model.local.in_handler = False
            # a call that does not wait is billed as a typical warm invocation, 1 ms granularity
            billed = max(self.clock.now() - started, TYPICAL_INVOCATION_SECONDS)
            self.lambda_gb_seconds += billed * fn.memory_mb / 1024

    def emit(self, detail_type: str, source: str, detail: dict, resources: list[str], delay: float = 0) -> None:
        """EventBridge: deliver an AWS event to every function whose rule matches, a second later (and `delay`
        seconds more: an event the service sent late)."""
        event = self._aws_event(detail_type, source, resources, detail)
        for name, (_, _, fn) in self.handlers.items():
            if any(matches(pattern, event) for pattern in fn.event_patterns):
                self.clock.call_later(EVENT_DELIVERY_SECONDS + delay, lambda _t, n=name: self._deliver(n, event))

    def _aws_event(self, detail_type: str, source: str, resources: list[str], detail: dict) -> dict:
        """An event as EventBridge delivers it: its envelope, then the service's detail
        (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html)."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": source,
            "account": DEFAULT_ACCOUNT_ID,
            "time": self.clock.now_datetime().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": resources,
            "detail": detail,
        }

    def _start_schedules(self) -> None:
        """EventBridge's scheduled rules (the functions' Schedule events, rate(value unit)): a rule invokes its
        target every period from when it was created, here the start of the run, with a "Scheduled Event"
        (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html), asynchronously
        as any EventBridge target. On the driver's thread, as the AWS events are: a tick costs no thread."""
        for name, (_, _, fn) in self.handlers.items():
            for period in fn.schedules:
                rule = f"arn:aws:events:{REGION}:{DEFAULT_ACCOUNT_ID}:rule/{STACK_NAME}-{name}-{period}"

                def fire(_t, name=name, period=period, rule=rule):
                    if not self._schedules_on:
                        return
                    self._deliver(name, self._aws_event("Scheduled Event", "aws.events", [rule], {}))
                    self.clock.call_later(period, fire)

                self.clock.call_later(period, fire)

    def _deliver(self, name: str, event: dict) -> None:
        try:
            self._run_handler(name, event, execution="eventbridge")
        except Exception as error:  # EventBridge would retry; the simulator reports it
            self._log(self.clock.now(), "", "", f"EventBridge target {name} failed: {type(error).__name__}: {error}")

    def _deliver_to_subscribers(self, params: dict) -> None:
        """SNS: each function subscribed to the topic gets the message, half a second later."""
        record = {
            "EventSource": "aws:sns",
            "Sns": {
                "Type": "Notification",
                "MessageId": str(uuid.uuid4()),
                "TopicArn": params["TopicArn"],
                "Subject": params.get("Subject"),
                "Message": params["Message"],
                "Timestamp": self.clock.now_datetime().strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "MessageAttributes": {
                    key: {"Type": value["DataType"], "Value": value.get("StringValue")}
                    for key, value in (params.get("MessageAttributes") or {}).items()
                },
            },
        }
        for name, (_, _, fn) in self.handlers.items():
            topics = [resolve(topic, self.refs, {}) for topic in fn.sns_topics]
            if params["TopicArn"] in topics:
                self.clock.call_later(0.5, lambda _t, n=name: self._deliver(n, {"Records": [record]}))

    def _slack_send(self, url: str, body: bytes) -> int:
        self.slack_messages.append({"t": round(self.clock.elapsed(), 3), "payload": json.loads(body)})
        self._log(self.clock.now(), "", "", f"Slack: {json.loads(body)['text']}")
        return 200

    def _stop_by_hand(self, execution_arn: str) -> None:
        """What an operator's StopExecution does to the run's current execution: it is ABORTED at once, and its
        status-change event goes out then, although a function it had invoked may still be running (moto's
        interpreter ends the execution only once that invocation returns)."""
        self._end_by_hand("stopped by hand")

    def _crash(self, execution_arn: str) -> None:
        """A run that crashes: its current execution fails at once with an error no Catch handles (on AWS,
        States.ALL catches neither States.Runtime nor States.DataLimitExceeded), so its own error handling never
        runs. Played as a stop whose status is then FAILED."""
        error, cause = "States.Runtime", "A simulated crash: an error that no Catch handles ended the execution."
        self._end_by_hand("crashed (States.Runtime)", (error, cause))

    def _end_by_hand(self, how: str, failure: tuple[str, str] | None = None) -> None:
        """Stop the running executions: ABORTED, or with failure (error, cause) FAILED."""
        sfn = boto3.client("stepfunctions", region_name=REGION)
        running = [
            e["executionArn"]
            for e in sfn.list_executions(stateMachineArn=self.machine_arn, statusFilter="RUNNING")["executions"]
        ]
        for arn in running:
            if failure:
                self._crashed[arn] = failure
                sfn.stop_execution(executionArn=arn, error=failure[0], cause=failure[1])
            else:
                sfn.stop_execution(executionArn=arn)
            self._log(self.clock.now(), "", "", f"execution {arn.rsplit(':', 1)[-1]} {how}")
            self._status_announced.add(arn)
            self._execution_status_event(arn, "FAILED" if failure else "ABORTED", *(failure or (None, None)))

    def _execution_ended(self, execution) -> None:
        """moto's interpreter ended an execution (on the execution's own thread): its status changed now."""
        arn = execution.exec_arn
        if arn in self._crashed:
            execution.exec_status = moto_targets.EXECUTION_STATUS.get().FAILED
            execution.error, execution.cause = self._crashed[arn]
        if arn in self._status_announced:
            return
        self._status_announced.add(arn)
        status = execution.exec_status
        self._execution_status_event(arn, getattr(status, "value", str(status)), execution.error, execution.cause)

    def _execution_status_event(self, execution_arn: str, status: str, error, cause) -> None:
        """EventBridge: "Step Functions Execution Status Change", sent when the status changes and delivered to
        the targets of the template's matching rules within seconds (execution status change events, their
        detail with stopDate in epoch milliseconds: https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html;
        AWS delivers them on a best-effort basis, the simulator always does). A rule with an SNS
        target publishes its InputTransformer's text; a Lambda target is invoked asynchronously, with Lambda's
        retries. Each delivery waits on the virtual clock in a thread of its own, so the run lasts until the
        targets are done and their waits pass in virtual time."""
        name = execution_arn.rsplit(":", 1)[-1]
        detail = {
            "executionArn": execution_arn,
            "stateMachineArn": self.machine_arn,
            "name": name,
            "status": status,
            "stopDate": int(self.clock.now() * 1000),
            "error": error,
            "cause": cause,
        }
        event = self._aws_event("Step Functions Execution Status Change", "aws.states", [execution_arn], detail)
        rules = [r["Properties"] for r in self.stack.resources.values() if r["Type"] == "AWS::Events::Rule"]
        for rule in rules:
            pattern = _resolve_all(rule["EventPattern"], self.refs)
            if not matches(pattern, event):
                continue
            for target in rule["Targets"]:
                function = _function_of(target["Arn"])
                if function is not None:
                    self._in_background(lambda f=function: self._invoke_async(f, event))
                else:
                    self._in_background(lambda t=target: self._publish_rule_target(t, event))

    def _in_background(self, action) -> None:
        """Run action in a thread the virtual clock counts, after EventBridge's delivery delay."""
        self.clock.thread_started()

        def body():
            try:
                self.clock.sleep(EVENT_DELIVERY_SECONDS)
                action()
            finally:
                self.clock.thread_finished()

        threading.Thread(target=body, daemon=True).start()

    def _publish_rule_target(self, target: dict, event: dict) -> None:
        topic = resolve(target["Arn"], self.refs, {})
        text = _transform(target.get("InputTransformer"), event)
        boto3.client("sns", region_name=REGION).publish(TopicArn=topic, Message=text)
        self.event_notifications.append(
            {"t": round(self.clock.elapsed(), 3), "subject": None, "message": text, "source": "eventbridge"}
        )

    def _invoke_async(self, name: str, event: dict) -> None:
        """Lambda's asynchronous invocation: retried on a function error, then dead-lettered."""
        fn = self.handlers[name][2]
        delays = (0, *ASYNC_RETRY_DELAYS[: fn.async_retries])
        for attempt, delay in enumerate(delays, start=1):
            if delay:
                self.clock.sleep(delay)
            try:
                self._run_handler(name, event, execution="eventbridge")
                return
            except Exception as error:  # Lambda reports it and retries
                self._log(
                    self.clock.now(), "", "", f"{name} failed (attempt {attempt}): {type(error).__name__}: {error}"
                )
        self.dead_letters.append({"t": round(self.clock.elapsed(), 3), "function": name, "event": event})
        self._log(self.clock.now(), "", "", f"{name}: event sent to its dead-letter queue")

    # the state machine ---------------------------------------------------------------------------
    def _create_state_machine(self, refs, attributes) -> str:
        definition = self.stack.state_machine.definition_path.read_text()
        for name, expression in self.stack.state_machine.substitutions.items():
            definition = definition.replace(f"${{{name}}}", str(resolve(expression, refs, attributes)))
        leftover = re.findall(r"\$\{(\w+)\}", definition)
        if leftover:
            raise ValueError(f"the ASL uses ${{{leftover[0]}}}, which DefinitionSubstitutions does not define")
        sfn = boto3.client("stepfunctions", region_name=REGION)
        self.machine_arn = sfn.create_state_machine(
            name=MACHINE_NAME,
            definition=definition,
            roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/simulated",
        )["stateMachineArn"]
        self.refs[self.stack.state_machine.logical_id] = self.machine_arn
        return self.machine_arn

    def _start_later(self, machine_arn, executions: list[str], at: float, run_input: dict, n: int) -> None:
        """A scenario's later run (later_runs): started `at` virtual seconds from the start, named as the schedule's
        run of that moment would be, whether the runs before it have ended or not. A counted thread waits for the
        moment, so that the simulation lasts until the run has started."""
        self.clock.thread_started()

        def body():
            try:
                self.clock.sleep(max(at - self.clock.elapsed(), 0))
                moment = START + dt.timedelta(seconds=at)
                executions.append(self._start(machine_arn, f"run-{moment:%Y%m%dT%H%M%S}-later{n}", run_input))
            finally:
                self.clock.thread_finished()

        threading.Thread(target=body, daemon=True).start()

    def _start(self, machine_arn, name, run_input) -> str:
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(run_input))["executionArn"]
        self._log(self.clock.now(), "", "", f"execution {name} started with input {json.dumps(run_input)}")
        return arn

    # output ---------------------------------------------------------------------------------------
    def _log(self, t, group, instance, text):
        entry = TimelineEntry(round(t - START.timestamp(), 3), group, instance, text)
        self.timeline.append(entry)
        if self.echo:
            clock = (START + dt.timedelta(seconds=entry.t)).strftime("%H:%M:%S")
            self.echo(f"{clock}  {group:<10} {instance:<20} {text}")

    def _lifecycle(self, sim) -> str:
        return self.model.state_of(sim).lifecycle_state

    def _report(self, execution_arns) -> dict:
        from .report import build_report

        return build_report(self, execution_arns)


class _LineSink:
    """A stream for the functions' log handler: each line into a list."""

    def __init__(self, lines: list):
        self.lines = lines

    def write(self, text: str) -> None:
        self.lines.extend(line for line in text.splitlines() if line)

    def flush(self) -> None:
        pass


def dead_run_execution_arn() -> str:
    """The execution of the run that died, which holds the groups of its stale_standby instances."""
    return f"arn:aws:states:{REGION}:{DEFAULT_ACCOUNT_ID}:execution:{MACHINE_NAME}:{DEAD_RUN}"


def _resolve_all(value, refs: dict):
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return refs[value["Ref"]]
    if isinstance(value, dict):
        return {k: _resolve_all(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_all(v, refs) for v in value]
    return value


def _transform(transformer: dict | None, event: dict) -> str:
    """EventBridge's InputTransformer: <name> placeholders filled from JSON paths of the event."""
    if not transformer:
        return json.dumps(event)
    text = transformer["InputTemplate"]
    for name, path in transformer.get("InputPathsMap", {}).items():
        value = event
        for part in path.removeprefix("$.").split("."):
            value = value.get(part, "") if isinstance(value, dict) else ""
        text = text.replace(f"<{name}>", str(value))
    return text


def _function_of(target_arn) -> str | None:
    """The logical id of the function an EventBridge target names (GetAtt <Function>.Arn), if any."""
    if isinstance(target_arn, dict) and "Fn::GetAtt" in target_arn:
        target = target_arn["Fn::GetAtt"]
        logical_id, attribute = target if isinstance(target, list) else target.split(".", 1)
        return logical_id if attribute == "Arn" else None
    return None


def _calling_execution() -> str | None:
    """The name of the execution whose interpreter thread is invoking the function."""
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        env = frame.f_locals.get("env")
        states = getattr(env, "states", None)
        if states is not None:
            return states.context_object.context_object_data["Execution"]["Name"]
        frame = frame.f_back
    return None


# botocore hooks: every client the project's code creates passes here --------------------------------
def _remember_params(params, context, **_):
    context["simulator_params"] = params


def _before_call(model, context, **_):
    if _active is None:
        return None
    service = model.service_model.service_name
    if service in ("lambda", "stepfunctions", "iam", "sts"):
        return None
    try:
        answer = _active.model.handle(service, model.name, context.get("simulator_params", {}))
    except AwsError as error:
        return error_response(error)
    return None if answer is None else ok_response(answer)


def _invoke(self, function_name, qualifier, body, headers, response_headers):
    assert _active is not None  # moto's Lambda invoke is patched only while a run goes on
    return _active.invoke(function_name, body, response_headers)


_real_client_for = moto_targets.LAMBDA_TASK_CLIENT.get()
_shared_clients: dict = {}


def _shared_client(region, service, state_credentials=None):
    """moto creates a boto3 client for every Lambda task (about 10 ms each) and never gives it the state's
    credentials: one client per region and service, for the whole run, makes the same calls."""
    key = (region, service)
    if key not in _shared_clients:
        _shared_clients[key] = _real_client_for(region, service, state_credentials)
    return _shared_clients[key]


_real_terminated = moto_targets.EXECUTION_TERMINATED.get()


def _terminated(self):
    """moto's interpreter ended an execution: its status changes now, and so goes its status-change event."""
    _real_terminated(self)
    if _active is not None:
        _active._execution_ended(self.execution)


_real_parse = moto_targets.ASL_PARSE.get()


@functools.lru_cache(maxsize=8)
def _parsed(definition: str) -> tuple[bytes, Any]:
    program, tree = _real_parse(definition)
    return pickle.dumps(program), tree


def _parse_once(definition: str):
    """moto parses the definition at CreateStateMachine and at every StartExecution (half a second each). The
    program is parsed once; each caller gets a copy of its own, so no two executions share a component."""
    program, tree = _parsed(definition)
    return pickle.loads(program), tree


_HOOKS: list[tuple[str, Callable[..., Any]]] = [
    ("before-parameter-build", _remember_params),
    ("before-call", _before_call),
]
# JSONPath objects are immutable, and so are moto's response classes while a run goes on
_PATCHES = [
    (moto_targets.LAMBDA_INVOKE, _invoke),
    (moto_targets.EXECUTION_TERMINATED, _terminated),
    (moto_targets.LAMBDA_TASK_CLIENT, _shared_client),
    (moto_targets.ASL_PARSE, _parse_once),
    (moto_targets.JSON_PATH_PARSE, functools.lru_cache(maxsize=None)(moto_targets.JSON_PATH_PARSE.get())),
    (moto_targets.RESULT_PATH_PARSE, functools.lru_cache(maxsize=None)(moto_targets.RESULT_PATH_PARSE.get())),
    (moto_targets.RESPONSE_METHOD_NAMES, functools.lru_cache(maxsize=None)(moto_targets.RESPONSE_METHOD_NAMES.get())),
]
_saved = [(target, target.get()) for target, _ in _PATCHES]


def _install_hooks():
    for hook in _HOOKS:
        if hook not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append(hook)
    boto3.setup_default_session(botocore_session=botocore_session())  # new clients pick the hooks up
    _shared_clients.clear()
    for target, value in _PATCHES:
        target.set(value)
    _reset_project_clients()


def _uninstall_hooks():
    for hook in _HOOKS:
        if hook in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.remove(hook)
    boto3.DEFAULT_SESSION = None
    _shared_clients.clear()
    for target, value in _saved:
        target.set(value)
    _reset_project_clients()


def _reset_project_clients():
    clients = sys.modules.get("autopatch.clients")
    if clients is not None:
        clients.client.cache_clear()
