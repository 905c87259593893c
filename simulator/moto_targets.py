"""Everything in moto that the simulator patches, replaces or relies on, in one list.

clock.py and engine.py patch moto's Step Functions interpreter and its Lambda backend only through the targets
named here, and tests/unit/test_moto_patches.py checks every target against the installed moto: an upgrade that
removes, renames or changes the parameters of one fails there, naming the symbol and what the simulator does
with it. Nothing here imports moto until a target is resolved.
"""

import importlib
import inspect
from dataclasses import dataclass

_SFN = "moto.stepfunctions.parser.asl"


@dataclass(frozen=True)
class Target:
    module: str
    name: str  # an attribute of the module, or Class.attribute
    use: str  # what the simulator does with it
    params: tuple[str, ...] | None = None  # a function's parameters, as the simulator calls or replaces it
    same_as: str | None = None  # "module" or "module:attribute" the target must be (a global the simulator swaps)

    def __str__(self) -> str:
        return f"{self.module}.{self.name}"

    @property
    def attribute(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    def owner(self):
        """The module or class that holds the attribute."""
        owner = importlib.import_module(self.module)
        for part in self.name.split(".")[:-1]:
            owner = getattr(owner, part)
        return owner

    def get(self):
        return getattr(self.owner(), self.attribute)

    def set(self, value) -> None:
        setattr(self.owner(), self.attribute, value)

    def problem(self) -> str | None:
        """What no longer holds in the installed moto, or None."""
        try:
            value = self.get()
        except (ImportError, AttributeError) as error:
            return f"{self} is gone ({error}); the simulator {self.use}"
        if self.params is not None:
            found = tuple(inspect.signature(value).parameters)
            if found != self.params:
                return f"{self} now takes {found}, not {self.params}; the simulator {self.use}"
        if self.same_as is not None:
            module, _, attribute = self.same_as.partition(":")
            expected = importlib.import_module(module)
            if value is not (getattr(expected, attribute) if attribute else expected):
                return f"{self} is no longer {self.same_as.replace(':', '.')}; the simulator {self.use}"
        return None


# Patched by clock.py: virtual time -----------------------------------------------------------------------
_COUNTS_THREADS = "swaps it for a namespace whose Thread and Event are counted by the virtual clock"
THREADING_MODULES = [
    Target(f"{_SFN}.{module}", "threading", _COUNTS_THREADS, same_as="threading")
    for module in (
        "component.program.program",
        "component.state.exec.state_map.iteration.inline_iteration_component",
        "component.state.exec.state_map.iteration.itemprocessor.map_run_record",
        "component.state.exec.state_map.iteration.job",
        "component.state.exec.state_parallel.branch_worker",
        "component.state.exec.state_parallel.branches_decl",
        "component.state.exec.execute_state",
        "eval.environment",
    )
]
EXECUTE_STATE_THREAD = Target(
    f"{_SFN}.component.state.exec.execute_state",
    "Thread",
    "replaces it with a thread the virtual clock counts (a task's worker)",
    same_as="threading:Thread",
)
EXECUTION_WORKER_THREAD = Target(
    "moto.stepfunctions.parser.backend.execution_worker",
    "Thread",
    "replaces it with a thread the virtual clock counts (an execution)",
    same_as="threading:Thread",
)
CALLBACK_EVENT = Target(
    f"{_SFN}.eval.callback.callback",
    "Event",
    "replaces it with an event that waits on the virtual clock (waitForTaskToken)",
    same_as="threading:Event",
)
RETRIER_TIME = Target(
    f"{_SFN}.component.common.retry.retrier_decl",
    "time",
    "swaps it for a namespace whose sleep waits on the virtual clock (Retry back-off)",
    same_as="time",
)
WAIT_INTERVAL = Target(
    f"{_SFN}.component.state.wait.wait_function.wait_function",
    "WaitFunction._wait_interval",
    "replaces it: a Wait state waits on the virtual clock",
    params=("self", "env", "wait_seconds"),
)
SET_ERROR = Target(
    f"{_SFN}.eval.environment",
    "Environment.set_error",
    "wraps it: a stopped execution stays ABORTED",
    params=("self", "error"),
)
# Relied on by clock.py
PROGRAM_STOPPED = Target(f"{_SFN}.eval.program_state", "ProgramStopped", "tells a stopped execution by it")
IS_RUNNING = Target(
    f"{_SFN}.eval.environment", "Environment.is_running", "ends a Wait when the execution stops", ("self",)
)

# Patched by engine.py: the Lambda functions run the project's handlers -------------------------------------
LAMBDA_INVOKE = Target(
    "moto.awslambda_simple.models",
    "LambdaSimpleBackend.invoke",
    "replaces it: an invocation runs the project's handler",
    params=("self", "function_name", "qualifier", "body", "headers", "response_headers"),
)
EXECUTION_TERMINATED = Target(
    "moto.stepfunctions.parser.backend.execution",
    "BaseExecutionWorkerCommunication.terminated",
    "wraps it: an execution's status-change event goes out when the interpreter ends it",
    params=("self",),
)
EXECUTION_STATUS = Target(
    "moto.stepfunctions.parser.api", "ExecutionStatus", "ends a simulated crash's execution FAILED"
)

# Patched by engine.py: the interpreter's own overhead, which grows with the fleet (README, "Where a simulated run
# spends its time")
LAMBDA_TASK_CLIENT = Target(
    f"{_SFN}.component.state.exec.state_task.lambda_eval_utils",
    "boto_client_for",
    "shares one client per region and service: moto builds one for every Lambda task",
    params=("region", "service", "state_credentials"),
    same_as="moto.stepfunctions.parser.asl.utils.boto_client:boto_client_for",
)
JSON_PATH_PARSE = Target(
    f"{_SFN}.utils.json_path",
    "parse",
    "parses each JSONPath once: moto builds a new parser for every path it evaluates",
    same_as="jsonpath_ng.ext:parse",
)
RESULT_PATH_PARSE = Target(
    f"{_SFN}.component.common.path.result_path",
    "parse",
    "parses each ResultPath once: moto builds a new parser for every state's result",
    same_as="jsonpath_ng:parse",
)
ASL_PARSE = Target(
    f"{_SFN}.parse.asl_parser",
    "AmazonStateLanguageParser.parse",
    "parses each definition once (about half a second each) and gives every caller its own copy of the program:"
    " moto parses it at CreateStateMachine and again at every StartExecution",
    params=("definition",),
)
RESPONSE_METHOD_NAMES = Target(
    "moto.core.responses",
    "method_names_from_class",
    "lists each response class's methods once: moto lists them with inspect at every call it answers",
    same_as="moto.core.utils:method_names_from_class",
)

# Relied on by engine.py and aws/: the backends it reaches into, and what it calls there ---------------------
ACCOUNT = Target("moto.core", "DEFAULT_ACCOUNT_ID", "finds the backends in this account")
SFN_BACKENDS = Target(
    "moto.stepfunctions.parser.models",
    "stepfunctions_parser_backends",
    "reads each execution's history events for the report",
)
RELIED_ON = [
    ACCOUNT,
    Target("moto.core.exceptions", "ServiceException", "turns a backend's refusal into the AWS error"),
    Target("moto.autoscaling.models", "autoscaling_backends", "answers Auto Scaling calls on its groups"),
    Target("moto.cloudwatch.models", "cloudwatch_backends", "sets alarms after a patch"),
    SFN_BACKENDS,
    EXECUTION_STATUS,
    Target("moto.ec2.models", "ec2_backends", "answers EC2 image and launch template calls on its objects"),
    Target(
        "moto.autoscaling.models",
        "FakeAutoScalingGroup.replace_autoscaling_group_instances",
        "launches the instances of a scale-out",
        ("self", "count_needed", "propagated_tags"),
    ),
    Target("moto.autoscaling.models", "FakeAutoScalingGroup.get_propagated_tags", "tags a scale-out", ("self",)),
    Target(
        "moto.cloudwatch.models",
        "CloudWatchBackend.set_alarm_state",
        "sets an alarm after a patch (alarm_after_patch)",
        ("self", "alarm_name", "reason", "reason_data", "state_value"),
    ),
    Target(
        "moto.ec2.models",
        "EC2Backend.create_image",
        "makes the image CreateImage answers with",
        ("self", "instance_id", "name", "description", "tag_specifications"),
    ),
    Target(
        "moto.ec2.models",
        "EC2Backend.describe_images",
        "finds the image the fleet launches from",
        ("self", "ami_ids", "filters", "exec_users", "owners"),
    ),
    Target("moto.ec2.models", "EC2Backend.create_tags", "tags an image's snapshot", ("self", "resource_ids", "tags")),
    Target("moto.ec2.models", "EC2Backend.deregister_image", "answers DeregisterImage", ("self", "ami_id")),
    Target("moto.ec2.models", "EC2Backend.delete_snapshot", "answers DeleteSnapshot", ("self", "snapshot_id")),
    Target(
        "moto.ec2.models",
        "EC2Backend.create_launch_template",
        "creates the groups' launch templates",
        ("self", "name", "description", "template_data", "tag_spec"),
    ),
    Target(
        "moto.ec2.models",
        "EC2Backend.describe_launch_templates",
        "answers DescribeLaunchTemplates",
        ("self", "template_names", "template_ids", "filters"),
    ),
    Target("moto.ec2.models", "EC2Backend.get_launch_template", "finds a template by id", ("self", "template_id")),
    Target("moto.ec2.models", "EC2Backend.get_launch_template_by_name", "finds a template by name", ("self", "name")),
    Target(
        "moto.ec2.models.launch_templates",
        "LaunchTemplate.create_version",
        "answers CreateLaunchTemplateVersion",
        ("self", "data", "description"),
    ),
    Target("moto.ec2.models.launch_templates", "LaunchTemplate.default_version", "resolves $Default", ("self",)),
    Target(
        "moto.ec2.models.launch_templates", "LaunchTemplate.is_default", "shows DefaultVersion", ("self", "version")
    ),
    Target("moto.ec2.models.launch_templates", "LaunchTemplate.get_tags", "shows a template's tags", ("self",)),
]
# Attributes of the backends' objects, by backend: (backend, attributes it must have once created)
BACKEND_ATTRIBUTES = {
    "stepfunctions_parser_backends": ("get_execution_history",),
    "autoscaling_backends": ("autoscaling_groups",),
    "ec2_backends": ("amis", "launch_templates", "account_id"),
}

PATCHED = [
    *THREADING_MODULES,
    EXECUTE_STATE_THREAD,
    EXECUTION_WORKER_THREAD,
    CALLBACK_EVENT,
    RETRIER_TIME,
    WAIT_INTERVAL,
    SET_ERROR,
    LAMBDA_INVOKE,
    EXECUTION_TERMINATED,
    LAMBDA_TASK_CLIENT,
    JSON_PATH_PARSE,
    RESULT_PATH_PARSE,
    ASL_PARSE,
    RESPONSE_METHOD_NAMES,
]
ALL = [*PATCHED, PROGRAM_STOPPED, IS_RUNNING, *RELIED_ON]
