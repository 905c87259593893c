"""What every test that runs a handler needs, whatever its fixtures: a safe environment, a fake Lambda context,
and the handler modules.

Imported by tests/conftest.py and by the test modules that set up an account of their own."""

import dataclasses
import functools
import importlib.util
import os
import pathlib
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
# A metric alarm's definition, for tests that need an alarm of a given name to exist
CPU_ALARM = {
    "MetricName": "CPUUtilization",
    "Namespace": "AWS/EC2",
    "Statistic": "Average",
    "Period": 60,
    "EvaluationPeriods": 1,
    "Threshold": 90,
    "ComparisonOperator": "GreaterThanThreshold",
}

# Set at import: Powertools reads its variables when a handler module creates its Logger, Tracer and Metrics,
# and boto3 must never find real credentials, whatever the developer's shell holds.
os.environ.update(
    AWS_DEFAULT_REGION=REGION,
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    POWERTOOLS_TRACE_DISABLED="1",
    POWERTOOLS_METRICS_DISABLED="1",
    POWERTOOLS_SERVICE_NAME="autopatch",
    POWERTOOLS_METRICS_NAMESPACE="AutoPatch",
)
os.environ.pop("AWS_PROFILE", None)


@dataclasses.dataclass
class FakeLambdaContext:
    """What Powertools and the handlers read from Lambda's context. The remaining time counts down from
    `timeout_seconds` by time.time() since the context was made, so handlers that poll inside one
    invocation see their time run out under a frozen clock moved forward by their sleeps."""

    timeout_seconds: int = 300
    function_name: str = "autopatch-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:autopatch-test"
    aws_request_id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/autopatch-test"
    log_stream_name: str = "2026/01/01/[$LATEST]0123456789abcdef"
    started: float = dataclasses.field(default_factory=time.time)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.time()) * 1000))


@functools.cache
def ledger_table_definition() -> dict:
    """CreateTable's arguments (but the name) for the template's run ledger table, its index included."""
    from simulator.stack import load_stack, table_definition

    return table_definition(load_stack().resources["RunLedgerTable"]["Properties"])


def handler_names() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))


_handlers: dict = {}


def load_handler(folder: str):
    """functions/<folder>/app.py as a module of its own (every handler file is called app.py), loaded once."""
    if folder not in _handlers:
        path = ROOT / "functions" / folder / "app.py"
        spec = importlib.util.spec_from_file_location(f"autopatch_tests_handler_{folder}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _handlers[folder] = module
    return _handlers[folder]
