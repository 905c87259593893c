"""What the simulator needs from template.yaml: functions, their code and settings, and the state machine.

Everything is read from the template, so the simulation follows the template: a function renamed,
an environment variable added or a substitution changed there is what the simulator runs.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


@dataclass
class Function:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict  # values still as template expressions
    layers: list[str]
    timeout: int = 3  # seconds (Lambda's default)
    memory_mb: int = 128  # Lambda's default
    event_patterns: list = field(default_factory=list)  # EventBridge rules that target the function
    sns_topics: list = field(default_factory=list)  # topics (template expressions) the function subscribes to
    async_retries: int = 2  # EventInvokeConfig.MaximumRetryAttempts: Lambda's retries of an asynchronous invocation
    schedules: list[int] = field(default_factory=list)  # the periods (seconds) of the rate() rules that invoke it


@dataclass
class StateMachine:
    logical_id: str
    definition_path: Path
    substitutions: dict  # name -> template expression


@dataclass
class Stack:
    parameters: dict  # name -> default value
    functions: dict[str, Function]
    layers: dict[str, Path]
    state_machine: StateMachine
    resources: dict = field(repr=False, default_factory=dict)


def load_stack(path: Path = TEMPLATE, overrides: dict | None = None, undeclared_ok: tuple[str, ...] = ()) -> Stack:
    """The stack as deployed with these parameter values (defaults, then overrides): resources whose
    Condition is false are left out, as CloudFormation does. An override the template does not declare is refused,
    but for those named in undeclared_ok (which the simulator reads itself), left out."""
    template, errors = decode(str(path))
    if errors:
        raise ValueError(f"cannot read {path}: {errors[0]}")
    parameters = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}
    overrides = {k: v for k, v in (overrides or {}).items() if k in parameters or k not in undeclared_ok}
    unknown = set(overrides) - set(parameters)
    if unknown:
        raise ValueError(f"the template has no parameter {sorted(unknown)[0]!r}")
    parameters.update(overrides)
    conditions: dict[str, bool] = {}
    for name, expression in template.get("Conditions", {}).items():
        conditions[name] = _condition(expression, parameters, conditions)
    resources = {name: res for name, res in template["Resources"].items() if conditions.get(res.get("Condition"), True)}
    globals_fn = template.get("Globals", {}).get("Function", {})
    layers = {
        name: ROOT / res["Properties"]["ContentUri"] / "python"
        for name, res in resources.items()
        if res["Type"] == "AWS::Serverless::LayerVersion"
    }
    functions = {}
    for name, res in resources.items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        props = res["Properties"]
        environment = {
            **globals_fn.get("Environment", {}).get("Variables", {}),
            **props.get("Environment", {}).get("Variables", {}),
        }
        functions[name] = Function(
            logical_id=name,
            code_dir=ROOT / props["CodeUri"],
            handler=props.get("Handler", globals_fn.get("Handler")),
            environment=environment,
            layers=[_ref(layer) for layer in props.get("Layers", globals_fn.get("Layers", []))],
            timeout=int(props.get("Timeout", globals_fn.get("Timeout", 3))),
            memory_mb=int(props.get("MemorySize", globals_fn.get("MemorySize", 128))),
            event_patterns=[
                event["Properties"]["Pattern"]
                for event in props.get("Events", {}).values()
                if event["Type"] in ("EventBridgeRule", "CloudWatchEvent")
            ],
            sns_topics=[
                event["Properties"]["Topic"] for event in props.get("Events", {}).values() if event["Type"] == "SNS"
            ],
            async_retries=int(props.get("EventInvokeConfig", {}).get("MaximumRetryAttempts", 2)),
            schedules=[
                rate_seconds(event["Properties"]["Schedule"])
                for event in props.get("Events", {}).values()
                if event["Type"] == "Schedule"
            ],
        )
    (sm_name, sm), *others = [
        (name, res) for name, res in resources.items() if res["Type"] == "AWS::Serverless::StateMachine"
    ]
    if others:
        raise ValueError("the simulator runs one state machine; the template has more")
    machine = StateMachine(
        logical_id=sm_name,
        definition_path=ROOT / sm["Properties"]["DefinitionUri"],
        substitutions=dict(sm["Properties"].get("DefinitionSubstitutions", {})),
    )
    return Stack(parameters, functions, layers, machine, resources)


RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> int:
    """The period of an EventBridge rate expression, rate(value unit): 1 takes the singular unit, more the plural
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html)."""
    match = re.fullmatch(r"rate\((\d+) (\w+)\)", expression)
    value, unit = (int(match[1]), match[2]) if match else (0, "")
    if value < 1 or unit not in RATE_UNITS or (value == 1) != (not unit.endswith("s")):
        raise ValueError(f"the simulator runs rate(value unit) schedules only, not {expression!r}")
    return value * RATE_UNITS[unit]


def table_definition(properties: dict) -> dict:
    """CreateTable's arguments for an AWS::DynamoDB::Table's properties (its keys and indexes)."""
    keys = ("KeySchema", "AttributeDefinitions", "BillingMode", "GlobalSecondaryIndexes")
    return {key: properties[key] for key in keys if key in properties}


def _condition(expression, parameters: dict, conditions: dict) -> bool:
    """Fn::Equals / Fn::Not / Fn::And / Fn::Or over parameters and other conditions."""
    ((function, args),) = expression.items()
    if function == "Fn::Equals":
        left, right = (parameters[a["Ref"]] if isinstance(a, dict) else a for a in args)
        return str(left) == str(right)
    if function == "Fn::Not":
        return not _condition(args[0], parameters, conditions)
    if function in ("Fn::And", "Fn::Or"):
        values = [
            conditions[a["Condition"]] if "Condition" in a else _condition(a, parameters, conditions) for a in args
        ]
        return all(values) if function == "Fn::And" else any(values)
    if function == "Condition":
        return conditions[args]
    raise ValueError(f"the simulator cannot evaluate condition {function}")


def _ref(expression) -> str:
    if isinstance(expression, dict) and "Ref" in expression:
        return expression["Ref"]
    raise ValueError(f"unsupported layer reference {expression!r}")


def resolve(expression, refs: dict, attributes: dict):
    """Resolve a template value: a literal, {"Ref": X} or {"Fn::GetAtt": [X, Attr]}."""
    if isinstance(expression, (str, int, float, bool)):
        return expression
    if isinstance(expression, dict) and "Ref" in expression:
        return refs[expression["Ref"]]
    if isinstance(expression, dict) and "Fn::GetAtt" in expression:
        target = expression["Fn::GetAtt"]
        logical_id, attribute = target if isinstance(target, list) else target.split(".", 1)
        return attributes[(logical_id, attribute)]
    raise ValueError(f"the simulator cannot resolve {expression!r}")


def matches(pattern: dict, event: dict) -> bool:
    """EventBridge matching for the patterns this project uses: every key's value must be among those listed."""
    for key, expected in pattern.items():
        value = event.get(key)
        if isinstance(expected, dict):
            if not isinstance(value, dict) or not matches(expected, value):
                return False
        elif value not in expected:
            return False
    return True
