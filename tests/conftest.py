"""Shared test fixtures: a moto account, fresh autopatch clients, a Lambda context, the handlers and a small fleet.

Test code talks to moto through its own boto3 session (the `aws` fixture); the handlers use autopatch.clients,
which goes through boto3's default session. Keeping them apart lets `api_calls` record exactly the AWS calls a
handler made, and nothing the test did to set the scene.
"""

import dataclasses

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT
from moto.ec2.models import ec2_backends

import autopatch.clients
import simulator.fleet
from simulator.aws.common import BASE_AMIS, botocore_session
from tests import support
from tests.support import REGION, FakeLambdaContext

OPT_IN = {**simulator.fleet.opt_in_tag("enabled"), "PropagateAtLaunch": True}


@pytest.fixture(autouse=True)
def handler_env(monkeypatch):
    """What the SAM template gives the functions; handlers read these from os.environ at call time."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("OPT_IN_TAG_VALUE", "enabled")
    monkeypatch.setenv("STACK_NAME", "autopatch")


@pytest.fixture
def lambda_context():
    return FakeLambdaContext()


@pytest.fixture
def make_lambda_context():
    """A factory: make_lambda_context(timeout_seconds=30) starts a new invocation's countdown now."""
    return FakeLambdaContext


@pytest.fixture
def load_handler():
    """load_handler("enter_standby") returns that function's app module (loaded once per test session)."""
    return support.load_handler


# --- moto --------------------------------------------------------------------------------------------


class Aws:
    """The test's own view of the moto account: one client per service, kept for the whole test session
    (moto answers whichever mock is active, so a client made in one test serves the next; making one takes
    about 25 ms). The handlers' clients, in autopatch.clients, are made afresh in every test."""

    def __init__(self):
        self.session = boto3.Session(botocore_session=botocore_session(), region_name=REGION)
        self._clients = {}

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]


_test_aws = Aws()


@pytest.fixture
def aws(monkeypatch):
    """A fresh moto account. Yields an Aws whose clients the test itself should use."""
    for name, value in BASE_AMIS.items():
        monkeypatch.setenv(name, value)
    autopatch.clients.client.cache_clear()
    with mock_aws():
        # autopatch's clients come from boto3's default session
        boto3.setup_default_session(botocore_session=botocore_session(), region_name=REGION)
        yield _test_aws
    boto3.DEFAULT_SESSION = None
    autopatch.clients.client.cache_clear()


@pytest.fixture
def api_calls(aws):
    """(service, operation, params) of every AWS call the handlers make through autopatch.clients.

    Recorded at parameter build, before botocore's Stubber or moto answer, so stubbed calls count too
    (calls to a method replaced with unittest.mock do not).
    """
    calls = []

    def record(params, model, **_):
        calls.append((model.service_model.service_name, model.name, dict(params)))

    boto3.DEFAULT_SESSION.events.register("before-parameter-build", record)
    return calls


@pytest.fixture
def ledger(aws, monkeypatch):
    """The run ledger table of the template (partition key Id, its index of waiting tasks), named in LEDGER_TABLE."""
    name = "autopatch-ledger"
    aws.client("dynamodb").create_table(TableName=name, **support.ledger_table_definition())
    monkeypatch.setenv("LEDGER_TABLE", name)
    return name


@pytest.fixture
def alert_topic(aws, monkeypatch):
    """The stack's alert topic, named in ALERT_TOPIC_ARN."""
    arn = aws.client("sns").create_topic(Name="autopatch-alerts")["TopicArn"]
    monkeypatch.setenv("ALERT_TOPIC_ARN", arn)
    return arn


@pytest.fixture
def report_bucket(aws, monkeypatch):
    """The bucket of the runs' plans, results and summaries, named in REPORT_BUCKET."""
    name = "autopatch-reports"
    aws.client("s3").create_bucket(Bucket=name)
    monkeypatch.setenv("REPORT_BUCKET", name)
    return name


# --- the fleet ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Fleet:
    group: str
    instance_ids: list[str]
    target_group_arn: str
    vpc_id: str
    subnet_ids: list[str]
    launch_template: str
    image_id: str


class FleetBuilder:
    """The simulator's fleet (simulator/fleet.py): a VPC with two subnets, one launch template for every group
    and, per group, a target group and an Auto Scaling group."""

    def __init__(self, aws: Aws):
        self.aws = aws
        ec2 = aws.client("ec2")
        network = simulator.fleet.create_network(ec2, REGION)
        self.vpc_id, self.subnet_ids = network.vpc_id, network.subnet_ids
        self.network = network
        # an Amazon Linux 2 image (moto's Amazon-owned list also holds Windows ones)
        images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-*"]}])
        self.image_id = images["Images"][0]["ImageId"]
        self.launch_template = "autopatch-test"
        simulator.fleet.create_launch_template(ec2_backends[ACCOUNT][REGION], self.launch_template, self.image_id, {})

    def group(
        self, name: str = "web", size: int = 3, tags: list[dict] | None = None, min_size: int = 1, max_size: int = 6
    ) -> Fleet:
        """An Auto Scaling group of `size` InService instances behind a target group of its own."""
        tags = [OPT_IN] if tags is None else tags
        target_group_arn = simulator.fleet.create_target_group(self.aws.client("elbv2"), name, self.vpc_id)
        group = simulator.fleet.create_group(
            self.aws.client("autoscaling"),
            name,
            self.network,
            {"LaunchTemplate": {"LaunchTemplateName": self.launch_template, "Version": "$Latest"}},
            min_size=min_size,
            max_size=max_size,
            desired=size,
            target_groups=[target_group_arn],
            tags=tags,
        )
        return Fleet(
            group=name,
            instance_ids=sorted(i["InstanceId"] for i in group["Instances"]),
            target_group_arn=target_group_arn,
            vpc_id=self.vpc_id,
            subnet_ids=self.subnet_ids,
            launch_template=self.launch_template,
            image_id=self.image_id,
        )


@pytest.fixture
def fleet_builder(aws):
    return FleetBuilder(aws)


@pytest.fixture
def fleet(fleet_builder) -> Fleet:
    """The group "web": 3 InService instances (MinSize 1, MaxSize 6) behind one target group, opted in."""
    return fleet_builder.group("web")
