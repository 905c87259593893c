"""The IAM roles the stack deploys, read from the template as CloudFormation will see it: template.yaml decoded
by cfn-lint and transformed by aws-sam-translator, offline (no AWS call, parameters at their defaults).

`role_violations` reviews every AWS::IAM::Role of the transformed template against the rules below and returns
what it finds; the stack must have none. Every action a role is granted is either read-only (Describe/List/Get,
on the services whose reads cannot be scoped) or has a scoping rule here: a new action, a Resource widened to
"*" or to another resource, a dropped or loosened Condition, a shared role, an added managed policy or a
NotAction/NotResource is reported. `test_checker_catches_widening` shows each rule failing on a widened copy.
"""

import copy
import json
import pathlib
import re
from dataclasses import dataclass

import boto3
import pytest
from cfnlint.decode import decode
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from autopatch import PAUSED

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


# Mutating actions that may have Resource "*": (role, action) -> why. Each is commented in template.yaml too.
WILDCARD_EXCEPTIONS = {
    ("CancelPatchCommandFunctionRole", "ssm:cancelcommand"): "CancelCommand takes a command id, which has no ARN",
    ("CleanUpRunFunctionRole", "ssm:cancelcommand"): "CancelCommand takes a command id, which has no ARN",
    ("RunHookFunctionRole", "ssm:cancelcommand"): "CancelCommand takes a command id, which has no ARN",
    **{
        ("RollingPatchStateMachineRole", f"logs:{action}"): "vended log delivery (the state machine's log group) "
        "does not support resource-level permissions"
        for action in ("createlogdelivery", "updatelogdelivery", "deletelogdelivery", "putresourcepolicy")
    },
    # held to the launch template's own resources by its conditions: test_run_instances_only_from_opted_in_templates
    ("UseImageFunctionRole", "ec2:runinstances"): "Auto Scaling checks RunInstances on every resource the group's "
    "launch template names when the group is pointed at a new version",
}
# Describe/List actions of these services may have Resource "*" (most cannot be scoped to a resource). A Get can
# read data or secrets (ssm:GetParameter, ec2:GetPasswordData, secretsmanager:GetSecretValue, s3:GetObject), so
# on "*" only the listed ones; the others, and every read of DynamoDB, S3, KMS, Step Functions executions and
# Secrets Manager, need a scoping rule below.
UNSCOPED_READ_SERVICES = {"autoscaling", "ec2", "elasticloadbalancing", "ssm", "cloudwatch", "logs", "ecs"}
UNSCOPED_READ_PREFIXES = ("describe", "list")
# GetCommandInvocation has no resource type (a command id has no ARN): run_hook reads a hook's status and output
HARMLESS_GETS = {"logs:getlogdelivery", "ssm:getcommandinvocation"}
# The only managed policies a role may carry.
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
LOG_DELIVERY_ACTIONS = {
    "logs:createlogdelivery",
    "logs:getlogdelivery",
    "logs:updatelogdelivery",
    "logs:deletelogdelivery",
    "logs:listlogdeliveries",
    "logs:putresourcepolicy",
    "logs:describeresourcepolicies",
    "logs:describeloggroups",
}

ARN = "arn:${AWS::Partition}"
ASG_ARN = f"{ARN}:autoscaling:${{AWS::Region}}:${{AWS::AccountId}}:autoScalingGroup:*:autoScalingGroupName/*"
INSTANCE_ARN = f"{ARN}:ec2:${{AWS::Region}}:${{AWS::AccountId}}:instance/*"
PATCH_DOCUMENT_ARN = f"{ARN}:ssm:${{AWS::Region}}::document/AWS-RunPatchBaseline"
# The hooks' allow-lists (stack parameters, comma-separated): what a role may send or invoke is computed from them
HOOK_DOCUMENTS, HOOK_FUNCTIONS = "HookDocumentNames", "HookFunctionArns"
OPT_IN_TAG_KEY = "aws:resourcetag/autopatch"
OPT_IN_PARAMETER = "OptInTagValue"
PATCH_TAG_KEYS = {"AutoPatchInstanceInASG", "AutoPatchRunId"}
# Only the tag of a patched instance (Completed) also says when, and by which run, it was patched.
PATCHED_TAG_KEYS = PATCH_TAG_KEYS | {"AutoPatchPatched"}
IMAGE_ARN = f"{ARN}:ec2:${{AWS::Region}}::image/*"
SNAPSHOT_ARN = f"{ARN}:ec2:${{AWS::Region}}::snapshot/*"
LAUNCH_TEMPLATE_ARN = f"{ARN}:ec2:${{AWS::Region}}:${{AWS::AccountId}}:launch-template/*"
ROLE_ARN = f"{ARN}:iam::${{AWS::AccountId}}:role/*"
ECS_ARN = f"{ARN}:ecs:${{AWS::Region}}:${{AWS::AccountId}}"
CLUSTER_ARN, CONTAINER_INSTANCE_ARN, TASK_ARN = (
    f"{ECS_ARN}:{kind}" for kind in ("cluster/*", "container-instance/*/*", "task/*/*")
)
IN_A_CLUSTER = {"ArnLike": {"ecs:cluster": CLUSTER_ARN}}
# CreateImage: only of an Auto Scaling instance a run is patching (tagged InProgress until it is back in service)
BEING_PATCHED = {
    "StringLike": {"aws:resourcetag/aws:autoscaling:groupname": "*"},
    "StringEquals": {"aws:resourcetag/autopatchinstanceinasg": "InProgress"},
}
BAKED_BY = {"Ref": "AWS::StackName"}
# What gives a group back what a run took (the instance, a MinSize, a MaxSize, AZRebalance), and what takes it
# (KeepCapacity's added instance is given back by removing one: TerminateInstanceInAutoScalingGroup)
PUTTING_BACK = {
    "autoscaling:exitstandby",
    "autoscaling:resumeprocesses",
    "autoscaling:terminateinstanceinautoscalinggroup",
}
TAKING_OUT = {
    "autoscaling:enterstandby",
    "autoscaling:suspendprocesses",
}  # the value of AutoPatchBakedBy on the images (and snapshots) a stack bakes


# --- the transformed template --------------------------------------------------------------------------------


def transformed_template(path: pathlib.Path = TEMPLATE) -> dict:
    """template.yaml as CloudFormation deploys it, after the SAM transform. Local CodeUri/ContentUri/DefinitionUri
    become s3:// placeholders (as `sam validate` does), and the region comes from a session that makes no call."""
    template, matches = decode(str(path))
    assert not matches, [str(m) for m in matches]
    template = json.loads(json.dumps(template))  # cfn-lint's nodes -> plain dicts and strings
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
                properties[key] = f"s3://local-build/{properties[key]}"
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name="us-east-1"))
    return translator.translate(template, parameter_values={}, get_managed_policy_map=lambda: {})


@pytest.fixture(scope="module")
def transformed() -> dict:
    return transformed_template()


# --- reading policies ----------------------------------------------------------------------------------------


def canonical(value) -> str:
    """One string per resource expression: Ref X -> ${X}, GetAtt X.Y -> ${X.Y}, Fn::Sub with its variables
    substituted the same way. A literal stays as it is."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (function, argument), *_ = value.items()
        if function == "Ref":
            return f"${{{argument}}}"
        if function == "Fn::GetAtt":
            return "${" + (".".join(argument) if isinstance(argument, list) else argument) + "}"
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            for name, variable in variables.items():
                text = text.replace(f"${{{name}}}", canonical(variable))
            return text
    return json.dumps(value, sort_keys=True)  # anything else never matches an allowed resource


def _branches(value):
    """Both sides of every Fn::If (either may be deployed); AWS::NoValue dropped."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _, when_true, when_false = value["Fn::If"]
        return [*_branches(when_true), *_branches(when_false)]
    if value == {"Ref": "AWS::NoValue"}:
        return []
    return [value]


def _as_list(value) -> list:
    return [item for v in (value if isinstance(value, list) else [value]) for item in _branches(v)]


@dataclass
class Statement:
    role: str
    policy: str
    raw: dict

    @property
    def actions(self) -> list[str]:
        return [a.lower() if isinstance(a, str) else canonical(a) for a in _as_list(self.raw.get("Action", []))]

    @property
    def resources(self) -> list[str]:
        return [canonical(r) for r in _as_list(self.raw.get("Resource", []))]

    @property
    def condition(self) -> dict:
        """Operator -> {condition key (lower case) -> value}."""
        return {op: {k.lower(): v for k, v in keys.items()} for op, keys in (self.raw.get("Condition") or {}).items()}

    def where(self) -> str:
        return f"{self.role}/{self.policy}: {json.dumps(self.raw, sort_keys=True)}"


def roles(template: dict) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}


def statements(template: dict) -> list[Statement]:
    """Every statement of every role's inline policies, and of AWS::IAM::Policy / ManagedPolicy resources
    attached to a role of the template."""
    found = []
    for name, role in roles(template).items():
        for policy in _as_list(role["Properties"].get("Policies", [])):
            for statement in _as_list(policy["PolicyDocument"].get("Statement", [])):
                found.append(Statement(name, policy.get("PolicyName", "?"), statement))
    for name, resource in template["Resources"].items():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            document = resource["Properties"]["PolicyDocument"]
            for role in _as_list(resource["Properties"].get("Roles", [])):
                for statement in _as_list(document.get("Statement", [])):
                    found.append(Statement(canonical(role).strip("${}"), name, statement))
    return found


def resources_of_type(template: dict, kind: str) -> list[str]:
    return sorted(name for name, r in template["Resources"].items() if r["Type"] == kind)


def role_of(resource: dict, key: str) -> str | None:
    """The logical id of the role a function (Role) or state machine (RoleArn) uses: GetAtt <Role>.Arn."""
    value = resource["Properties"].get(key)
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return (target if isinstance(target, list) else target.split("."))[0]
    return None


def _service_principals(role: dict) -> set[str]:
    principals = set()
    for statement in _as_list(role["Properties"]["AssumeRolePolicyDocument"]["Statement"]):
        principal = statement.get("Principal", {})
        if set(principal) != {"Service"}:
            principals.add(json.dumps(principal))
        else:
            principals.update(_as_list(principal["Service"]))
    return principals


# --- the rules -----------------------------------------------------------------------------------------------


@dataclass
class Scope:
    """Resources an action may name (every one of them must be in `allowed`), and the condition it needs."""

    allowed: set[str]
    condition: str | None = None  # a key of CONDITIONS
    why: str = ""


def scopes(template: dict) -> dict[str, Scope]:
    """action (lower case) -> its Scope, from the resources this template defines."""
    tables = {f"${{{t}.Arn}}" for t in resources_of_type(template, "AWS::DynamoDB::Table")}
    buckets = resources_of_type(template, "AWS::S3::Bucket")
    report_objects = {f"${{{b}.Arn}}/runs/*" for b in buckets}
    report_buckets = {f"${{{b}.Arn}}" for b in buckets}
    topics = {
        form
        for t in resources_of_type(template, "AWS::SNS::Topic")
        for form in (f"${{{t}}}", f"{ARN}:sns:${{AWS::Region}}:${{AWS::AccountId}}:${{{t}.TopicName}}")
    }
    keys = {f"${{{k}.Arn}}" for k in resources_of_type(template, "AWS::KMS::Key")}
    machines = set()
    for name in resources_of_type(template, "AWS::StepFunctions::StateMachine"):
        machines.add(f"${{{name}}}")
        machine_name = template["Resources"][name]["Properties"].get("StateMachineName")
        if machine_name is not None:
            machines.add(f"{ARN}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{canonical(machine_name)}")
    executions = {m.replace(":stateMachine:", ":execution:") + ":*" for m in machines if m.startswith("arn:")}
    functions = {
        form
        for f in resources_of_type(template, "AWS::Lambda::Function")
        for form in (
            f"${{{f}.Arn}}",
            f"{ARN}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:${{{f}}}",
            f"{ARN}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:${{{f}}}*",  # SAM's LambdaInvokePolicy
        )
    }
    secrets = {
        f"{ARN}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:${{{p}}}-*"
        for p in template.get("Parameters", {})
    }
    queues = {f"${{{q}.Arn}}" for q in resources_of_type(template, "AWS::SQS::Queue")}
    opted_in = Scope({ASG_ARN}, "opt-in", "only groups tagged AutoPatch=<OptInTagValue>")
    ledger = Scope(tables, why="only the run ledger table")
    waiting_index = Scope({f"{t}/index/Waiting" for t in tables}, why="only the ledger's index of waiting tasks")
    return {
        "autoscaling:enterstandby": opted_in,
        "autoscaling:exitstandby": opted_in,
        "autoscaling:setdesiredcapacity": opted_in,  # the capacity of an instance that went while out, given back
        "autoscaling:updateautoscalinggroup": opted_in,
        "autoscaling:terminateinstanceinautoscalinggroup": opted_in,  # the instance KeepCapacity added, given back
        "autoscaling:suspendprocesses": opted_in,
        "autoscaling:resumeprocesses": opted_in,
        "ec2:createtags": Scope(
            {INSTANCE_ARN, IMAGE_ARN, SNAPSHOT_ARN},
            "tags",
            "only the patch tags on instances, and the tags of an image (and its snapshots) as it is created",
        ),
        "ec2:createimage": Scope(
            {INSTANCE_ARN, IMAGE_ARN, SNAPSHOT_ARN},
            "create-image",
            "only of Auto Scaling instances, and only images tagged AutoPatchBakedBy=<stack>",
        ),
        **{
            f"ec2:{a}": Scope({LAUNCH_TEMPLATE_ARN}, "opt-in", "only launch templates tagged AutoPatch=<OptInTagValue>")
            for a in ("createlaunchtemplateversion", "modifylaunchtemplate", "deletelaunchtemplateversions")
        },
        "ec2:runinstances": Scope({LAUNCH_TEMPLATE_ARN}, "opt-in", "only launch templates that opted in"),
        "ec2:deregisterimage": Scope({IMAGE_ARN}, "baked-by", "only images this stack baked"),
        "ec2:deletesnapshot": Scope({SNAPSHOT_ARN}, "baked-by", "only snapshots of images this stack baked"),
        "ecs:updatecontainerinstancesstate": Scope(
            {CONTAINER_INSTANCE_ARN},
            "allowed-cluster",
            "only container instances, of the clusters EcsClusterNames lists",
        ),
        "ecs:listtasks": Scope({CONTAINER_INSTANCE_ARN}, "ecs-cluster", "only the tasks of a container instance"),
        "ecs:describetasks": Scope({TASK_ARN}, "ecs-cluster", "only tasks of the account's clusters"),
        "ecs:describeclusters": Scope({CLUSTER_ARN}, why="only the account's clusters"),
        "ecs:listcontainerinstances": Scope({CLUSTER_ARN}, why="only the account's clusters"),
        "iam:passrole": Scope({ROLE_ARN}, "passed-to-ec2", "only roles passed to EC2 (a template's instance profile)"),
        "ssm:sendcommand": Scope({PATCH_DOCUMENT_ARN, INSTANCE_ARN}, why="only AWS-RunPatchBaseline, on instances"),
        "sns:publish": Scope(topics, why="only the stack's topic"),
        "kms:decrypt": Scope(keys, why="only the stack's key"),
        "kms:generatedatakey": Scope(keys, why="only the stack's key"),
        "states:startexecution": Scope(machines, why="only the stack's state machine"),
        "states:sendtasksuccess": Scope(machines, why="only the stack's state machine"),
        "states:describeexecution": Scope(executions, why="only the stack's executions"),
        "states:getexecutionhistory": Scope(executions, why="only the stack's executions"),
        "lambda:invokefunction": Scope(functions, why="only the stack's functions"),
        "s3:putobject": Scope(report_objects, why="only under the report bucket's runs/ prefix"),
        "s3:getobject": Scope(report_objects, why="only under the report bucket's runs/ prefix"),
        "s3:listbucket": Scope(report_buckets, why="only the report bucket"),
        "secretsmanager:getsecretvalue": Scope(secrets, why="only the secret a stack parameter names"),
        "sqs:sendmessage": Scope(queues, why="only the stack's queues (a function's dead-letter queue)"),
        **{f"dynamodb:{a}": ledger for a in ("getitem", "putitem", "updateitem", "deleteitem")},
        "dynamodb:query": waiting_index,
    }


def _is_read(action: str) -> bool:
    """A read that may be granted on Resource "*"."""
    service, _, name = action.partition(":")
    return (service in UNSCOPED_READ_SERVICES and name.startswith(UNSCOPED_READ_PREFIXES)) or action in HARMLESS_GETS


def _condition_problems(statement: Statement, kind: str, template: dict) -> list[str]:
    condition = statement.condition
    on_instances = INSTANCE_ARN in statement.resources
    if on_instances and len(statement.resources) > 1 and kind in ("tags", "create-image"):
        return ["names instances and images in one statement: each needs its own condition"]
    if kind == "tags":
        kind = "patch-tags" if on_instances else "create-action"
    if kind == "create-image":
        kind = "auto-scaling-instance" if on_instances else "request-baked-by"
    if kind == "create-action" and condition != {"StringEquals": {"ec2:createaction": "CreateImage"}}:
        return ["on images and snapshots needs exactly Condition StringEquals ec2:CreateAction = CreateImage"]
    if kind == "auto-scaling-instance" and condition != BEING_PATCHED:
        return [
            "on instances needs exactly: aws:autoscaling:groupName tag present, AutoPatchInstanceInASG = InProgress"
        ]
    if (
        kind == "request-baked-by"
        and condition.get("StringEquals", {}).get("aws:requesttag/autopatchbakedby") != BAKED_BY
    ):
        return ["needs Condition StringEquals aws:RequestTag/AutoPatchBakedBy = !Ref AWS::StackName"]
    if kind == "baked-by" and condition.get("StringEquals", {}).get("aws:resourcetag/autopatchbakedby") != BAKED_BY:
        return ["needs Condition StringEquals aws:ResourceTag/AutoPatchBakedBy = !Ref AWS::StackName"]
    in_cluster = {op: {k: canonical(v) for k, v in keys.items()} for op, keys in condition.items()}
    if kind == "ecs-cluster" and in_cluster != IN_A_CLUSTER:
        return ["needs exactly Condition ArnLike ecs:cluster = a cluster ARN of the account"]
    if kind == "allowed-cluster" and not _only_allowed_clusters(condition):
        return ["needs exactly Condition ArnLike ecs:cluster = the clusters EcsClusterNames lists (any with *)"]
    if kind == "passed-to-ec2" and condition != {"StringEquals": {"iam:passedtoservice": "ec2.amazonaws.com"}}:
        return ["needs exactly Condition StringEquals iam:PassedToService = ec2.amazonaws.com"]
    if kind == "opt-in":
        value = condition.get("StringEquals", {}).get(OPT_IN_TAG_KEY)
        # Putting back (ExitStandby, ResumeProcesses, with MinSize and MaxSize restored) may also act on a group
        # paused while a run had one of its instances out; taking out (EnterStandby, SuspendProcesses) never does.
        putting_back = bool(PUTTING_BACK & set(statement.actions)) and not TAKING_OUT & set(statement.actions)
        allowed = [{"Ref": OPT_IN_PARAMETER}] + ([[{"Ref": OPT_IN_PARAMETER}, PAUSED]] if putting_back else [])
        if value not in allowed or OPT_IN_PARAMETER not in template.get("Parameters", {}):
            also = " (or [that, paused] where it puts an instance back)" if putting_back else ""
            return [f"needs Condition StringEquals aws:ResourceTag/AutoPatch = !Ref OptInTagValue{also}"]
    if kind == "patch-tags":
        keys = condition.get("ForAllValues:StringEquals", {}).get("aws:tagkeys")
        keys = set(_as_list(keys)) if keys is not None else set()
        allowed = PATCHED_TAG_KEYS if statement.role == "TagInstanceFunctionRole" else PATCH_TAG_KEYS
        if not keys or not keys <= allowed:
            return [f"needs Condition ForAllValues:StringEquals aws:TagKeys within {sorted(allowed)}"]
    return []


def role_violations(template: dict) -> list[str]:
    """Everything in the template's roles that is wider than the rules allow (empty: none)."""
    problems = []
    rules = scopes(template)
    all_roles = roles(template)

    # every function has a role of its own, assumed by Lambda only; the state machine's by Step Functions only
    users: dict[str, list[str]] = {}
    for kind, key, service in (
        ("AWS::Lambda::Function", "Role", "lambda.amazonaws.com"),
        ("AWS::StepFunctions::StateMachine", "RoleArn", "states.amazonaws.com"),
    ):
        for name in resources_of_type(template, kind):
            role = role_of(template["Resources"][name], key)
            if role not in all_roles:
                problems.append(f"{name}: its role is not a role of this template ({role!r})")
                continue
            users.setdefault(role, []).append(name)
            if _service_principals(all_roles[role]) != {service}:
                problems.append(f"{role}: assumed by {sorted(_service_principals(all_roles[role]))}, not {service}")
    problems += [f"{role} is shared by {', '.join(names)}" for role, names in users.items() if len(names) > 1]
    machine_roles = {
        role_of(template["Resources"][m], "RoleArn")
        for m in resources_of_type(template, "AWS::StepFunctions::StateMachine")
    }

    for name, role in all_roles.items():
        extra = set(_as_list(role["Properties"].get("ManagedPolicyArns", []))) - ALLOWED_MANAGED_POLICIES
        problems += [f"{name}: managed policy {canonical(arn)} is not allowed" for arn in extra]
        if name not in users:
            # a role used by neither a function nor a state machine (SAM's schedule role): StartExecution only
            if _service_principals(role) != {"scheduler.amazonaws.com"}:
                problems.append(f"{name}: a role no function or state machine uses must be the scheduler's")
            for statement in statements(template):
                if statement.role == name and set(statement.actions) - {"states:startexecution"}:
                    problems.append(f"{statement.where()}: the scheduler's role may only start the state machine")

    for statement in statements(template):
        raw = statement.raw
        if raw.get("Effect") != "Allow":
            continue  # a Deny only narrows
        if "NotAction" in raw or "NotResource" in raw:
            problems.append(f"{statement.where()}: NotAction/NotResource grant everything else")
            continue
        if statement.role in machine_roles:
            others = set(statement.actions) - {"lambda:invokefunction"} - LOG_DELIVERY_ACTIONS
            if others:
                problems.append(
                    f"{statement.where()}: the state machine may only invoke functions, not {sorted(others)}"
                )
        for action in statement.actions:
            if "*" in action or "?" in action:
                problems.append(f"{statement.where()}: wildcard action {action}")
                continue
            if "*" in statement.resources:
                if (statement.role, action) in WILDCARD_EXCEPTIONS or _is_read(action):
                    continue
                problems.append(f'{statement.where()}: {action} on Resource "*"')
                continue
            if _hook_grant(statement, action, machine_roles):
                continue
            scope = rules.get(action)
            if scope is None:
                if not _is_read(action):
                    problems.append(
                        f"{statement.where()}: {action} has no scoping rule in {pathlib.Path(__file__).name}"
                    )
                continue
            outside = [r for r in statement.resources if r not in scope.allowed]
            if outside or not statement.resources:
                problems.append(f"{statement.where()}: {action} on {outside or 'nothing'}: {scope.why}")
            if scope.condition:
                problems += [
                    f"{statement.where()}: {action} {p}"
                    for p in _condition_problems(statement, scope.condition, template)
                ]
        other_documents = set(statement.resources) != rules["ssm:sendcommand"].allowed
        hook_documents = _hook_grant(statement, "ssm:sendcommand", machine_roles)
        if "ssm:sendcommand" in statement.actions and other_documents and not hook_documents:
            problems.append(
                f"{statement.where()}: SendCommand must name the AWS-RunPatchBaseline document (run_hook: the"
                f" {HOOK_DOCUMENTS} only)"
            )
    return problems


# --- the hooks' allow-lists: a Resource computed from a stack parameter -----------------------------------------

SAMPLE_DOCUMENTS = "MyApp-GracefulStop,AWS-RunShellScript"
SAMPLE_FUNCTIONS = ",".join(
    f"arn:aws:lambda:us-east-1:123456789012:function:{name}" for name in ("smoke-test", "drain:live")
)


def expand(value, parameters: dict):
    """A Resource built with Fn::Split / Fn::Join / Fn::Sub over string parameters, as CloudFormation computes it
    (pseudo parameters left as ${AWS::...})."""
    if isinstance(value, str):
        return value
    ((function, argument),) = value.items()
    if function == "Ref":
        return parameters.get(argument, f"${{{argument}}}")
    if function == "Fn::Split":
        return expand(argument[1], parameters).split(argument[0])
    if function == "Fn::Join":
        items = expand(argument[1], parameters)
        return argument[0].join(items if isinstance(items, list) else [items])
    if function == "Fn::Sub":
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        for name, variable in variables.items():
            text = text.replace(f"${{{name}}}", expand(variable, parameters))
        return text
    raise ValueError(f"cannot expand {function}")


def _granted(statement: dict, parameter: str, sample: str) -> list[str] | None:
    """The resources a statement grants for the sample allow-list; None if they do not come from that parameter."""

    def granted(value: str) -> list[str]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        found = [expand(resource, {parameter: value}) for resource in resources]
        return [arn for item in found for arn in (item if isinstance(item, list) else [item])]

    return granted(sample) if granted(sample) != granted("x") else None


SAMPLE_CLUSTERS = "web,batch"


def _only_allowed_clusters(condition: dict) -> bool:
    """UpdateContainerInstancesState: on any cluster of the account with EcsClusterNames "*" (the default), else on
    the listed ones only (any region and account of theirs: ECS has no cross-account access, the functions call one
    region)."""
    value = condition.get("ArnLike", {}).get("ecs:cluster")
    if set(condition) != {"ArnLike"} or set(condition["ArnLike"]) != {"ecs:cluster"} or not isinstance(value, dict):
        return False
    if set(value) != {"Fn::If"} or value["Fn::If"][0] != "AnyEcsCluster":
        return False
    _, any_cluster, listed = value["Fn::If"]
    expected = [f"arn:*:ecs:*:*:cluster/{name}" for name in SAMPLE_CLUSTERS.split(",")]
    return (
        canonical(any_cluster) == CLUSTER_ARN
        and _granted({"Resource": listed}, "EcsClusterNames", SAMPLE_CLUSTERS) == expected
    )


def _hook_grant(statement: Statement, action: str, machine_roles: set) -> bool:
    """A hook's grant, checked on its own: run_hook's SendCommand of the allowed documents, or the state machine's
    InvokeFunction of the allowed functions (test_the_state_machine_can_only_invoke_the_stacks_functions)."""
    if action == "ssm:sendcommand" and statement.role == "RunHookFunctionRole":
        return _sends_only_allowed_documents(statement.raw)
    if action == "lambda:invokefunction" and statement.role in machine_roles:
        listed = SAMPLE_FUNCTIONS.split(",")
        return _granted(statement.raw, HOOK_FUNCTIONS, SAMPLE_FUNCTIONS) == listed + [f"{arn}:*" for arn in listed]
    return False


def _sends_only_allowed_documents(statement: dict) -> bool:
    """run_hook's SendCommand: on instances, and on each document HookDocumentNames lists (the account's own or
    AWS's, in any region: CloudFormation cannot put the stack's region into each name), nothing else."""
    expected = [INSTANCE_ARN] + [f"arn:*:ssm:*:*:document/{name}" for name in SAMPLE_DOCUMENTS.split(",")]
    return _granted(statement, HOOK_DOCUMENTS, SAMPLE_DOCUMENTS) == expected


# --- the tests -----------------------------------------------------------------------------------------------


def test_the_transform_gives_every_function_and_the_state_machine_a_role(transformed):
    functions = resources_of_type(transformed, "AWS::Lambda::Function")
    assert len(functions) >= 18
    assert resources_of_type(transformed, "AWS::StepFunctions::StateMachine") == ["RollingPatchStateMachine"]
    assert all(role_of(transformed["Resources"][f], "Role") == f"{f}Role" for f in functions)


def test_no_role_is_wider_than_the_rules(transformed):
    assert role_violations(transformed) == []


def test_every_function_has_its_own_role(transformed):
    functions = resources_of_type(transformed, "AWS::Lambda::Function")
    used = [role_of(transformed["Resources"][f], "Role") for f in functions]
    assert len(set(used)) == len(used)


def test_wildcard_exceptions_are_the_documented_ones(transformed):
    """Mutating actions on Resource "*" are exactly the listed exceptions, each commented in template.yaml."""
    granted = {
        (s.role, a)
        for s in statements(transformed)
        if s.raw.get("Effect") == "Allow" and "*" in s.resources
        for a in s.actions
        if not _is_read(a)
    }
    assert granted == set(WILDCARD_EXCEPTIONS)
    text = TEMPLATE.read_text()
    for role, _ in WILDCARD_EXCEPTIONS:
        block = re.search(rf"^  {role.removesuffix('Role')}:\n(.*?)(?=^  \S)", text, re.M | re.S).group(1)
        assert re.search(r"^\s+# .*(ARN|resource-level)", block, re.M), f"{role}: the exception is not commented"


def test_standby_and_group_setting_changes_need_the_opt_in_tag(transformed):
    changing = {"autoscaling:setdesiredcapacity", "autoscaling:updateautoscalinggroup", "autoscaling:suspendprocesses"}
    found = [s for s in statements(transformed) if (PUTTING_BACK | TAKING_OUT | changing) & set(s.actions)]
    assert {s.role for s in found} >= {
        "EnterStandbyFunctionRole",
        "ExitStandbyFunctionRole",
        "RecoverGroupsFunctionRole",
        "CleanUpRunFunctionRole",
        "ReleaseLocksFunctionRole",
        "KeepCapacityFunctionRole",
    }
    # AZRebalance is suspended only where an instance is taken out, and resumed where one is put back or the run ends
    assert {s.role for s in found if "autoscaling:suspendprocesses" in s.actions} == {"EnterStandbyFunctionRole"}
    assert {s.role for s in found if "autoscaling:resumeprocesses" in s.actions} == {
        "ExitStandbyFunctionRole",
        "RecoverGroupsFunctionRole",
        "CleanUpRunFunctionRole",
        "ReleaseLocksFunctionRole",
    }
    for s in found:
        assert s.resources == [ASG_ARN]
        if PUTTING_BACK & set(s.actions):
            # a group paused mid-run still gets its instance back, and its MinSize, MaxSize and AZRebalance
            assert s.condition == {"StringEquals": {OPT_IN_TAG_KEY: [{"Ref": OPT_IN_PARAMETER}, PAUSED]}}
        else:
            assert s.condition == {"StringEquals": {OPT_IN_TAG_KEY: {"Ref": OPT_IN_PARAMETER}}}


def test_instances_get_only_the_patch_tags(transformed):
    found = [s for s in statements(transformed) if "ec2:createtags" in s.actions and INSTANCE_ARN in s.resources]
    assert {s.role for s in found} == {"TagInstanceFunctionRole", "RecoverGroupsFunctionRole", "CleanUpRunFunctionRole"}
    for s in found:
        assert s.resources == [INSTANCE_ARN]
        tagged = PATCHED_TAG_KEYS if s.role == "TagInstanceFunctionRole" else PATCH_TAG_KEYS
        assert set(s.condition["ForAllValues:StringEquals"]["aws:tagkeys"]) == tagged


def test_only_the_patch_baseline_and_the_allowed_hook_documents_can_be_sent(transformed):
    found = {s.role: s for s in statements(transformed) if "ssm:sendcommand" in s.actions}
    assert set(found) == {"SendPatchCommandFunctionRole", "RunHookFunctionRole"}
    assert sorted(found["SendPatchCommandFunctionRole"].resources) == sorted([PATCH_DOCUMENT_ARN, INSTANCE_ARN])
    assert _sends_only_allowed_documents(found["RunHookFunctionRole"].raw)


def test_publish_start_and_data_are_scoped_to_this_stack(transformed):
    by_action: dict[str, set[str]] = {}
    for s in statements(transformed):
        for action in s.actions:
            by_action.setdefault(action, set()).update(s.resources)
    topic = f"{ARN}:sns:${{AWS::Region}}:${{AWS::AccountId}}:${{AlertTopic.TopicName}}"
    machine = f"{ARN}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:${{AWS::StackName}}-rolling-patch"
    assert by_action["sns:publish"] == {topic}
    assert by_action["states:startexecution"] == {machine, "${RollingPatchStateMachine}"}  # ContinueRun, schedule
    assert by_action["states:sendtasksuccess"] == {machine}
    for action in ("dynamodb:getitem", "dynamodb:putitem", "dynamodb:updateitem", "dynamodb:deleteitem"):
        assert by_action[action] == {"${RunLedgerTable.Arn}"}, action
    assert by_action["dynamodb:query"] == {"${RunLedgerTable.Arn}/index/Waiting"}  # follow_commands
    assert by_action["s3:putobject"] == by_action["s3:getobject"] == {"${ReportBucket.Arn}/runs/*"}
    assert by_action["s3:listbucket"] == {"${ReportBucket.Arn}"}
    assert not {a for a in by_action if a.startswith(("dynamodb:", "s3:"))} - {
        "dynamodb:getitem",
        "dynamodb:putitem",
        "dynamodb:updateitem",
        "dynamodb:deleteitem",
        "dynamodb:query",
        "s3:putobject",
        "s3:getobject",
        "s3:listbucket",
    }


def test_the_state_machine_can_only_invoke_the_stacks_functions(transformed):
    functions = set(resources_of_type(transformed, "AWS::Lambda::Function"))
    machine_role = role_of(transformed["Resources"]["RollingPatchStateMachine"], "RoleArn")
    invoked, hook_calls = set(), False
    for s in statements(transformed):
        if s.role != machine_role:
            continue
        assert set(s.actions) <= {"lambda:invokefunction"} | LOG_DELIVERY_ACTIONS, s.where()
        if "lambda:invokefunction" in s.actions and _granted(s.raw, HOOK_FUNCTIONS, SAMPLE_FUNCTIONS) is not None:
            # the hook functions HookFunctionArns lists, each with its versions and aliases, and no other
            assert _hook_grant(s, "lambda:invokefunction", {machine_role}), s.where()
            hook_calls = True
            continue
        if "lambda:invokefunction" in s.actions:
            for resource in s.resources:
                match = re.fullmatch(
                    re.escape(f"{ARN}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:${{") + r"(\w+)\}\*",
                    resource,
                )
                assert match and match.group(1) in functions, resource
                invoked.add(match.group(1))
    # every function of the definition can be invoked
    substitutions = transformed["Resources"]["RollingPatchStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert invoked == {canonical(v).strip("${}").removesuffix(".Arn") for v in substitutions.values()}
    assert hook_calls


def test_images_and_launch_templates_only_of_opted_in_groups(transformed):
    """BakeAmi: images of Auto Scaling instances, created with the stack's AutoPatchBakedBy tag; only those are ever
    deregistered; launch templates changed only when they carry the opt-in tag, like their groups."""
    by_action: dict[str, list[Statement]] = {}
    for s in statements(transformed):
        for action in s.actions:
            by_action.setdefault(action, []).append(s)
    assert {s.role for s in by_action["ec2:createimage"]} == {"CreateImageFunctionRole"}
    assert {r for s in by_action["ec2:createimage"] for r in s.resources} == {INSTANCE_ARN, IMAGE_ARN, SNAPSHOT_ARN}
    image_tags = [s for s in by_action["ec2:createtags"] if IMAGE_ARN in s.resources]
    assert [s.role for s in image_tags] == ["CreateImageFunctionRole"]
    assert image_tags[0].condition == {"StringEquals": {"ec2:createaction": "CreateImage"}}
    for action in ("ec2:deregisterimage", "ec2:deletesnapshot"):
        assert [s.role for s in by_action[action]] == ["UseImageFunctionRole"], action
        assert by_action[action][0].condition == {"StringEquals": {"aws:resourcetag/autopatchbakedby": BAKED_BY}}
    for action in ("ec2:createlaunchtemplateversion", "ec2:modifylaunchtemplate", "ec2:deletelaunchtemplateversions"):
        assert [s.role for s in by_action[action]] == ["UseImageFunctionRole"], action
        assert by_action[action][0].resources == [LAUNCH_TEMPLATE_ARN]
        assert by_action[action][0].condition == {"StringEquals": {OPT_IN_TAG_KEY: {"Ref": OPT_IN_PARAMETER}}}


def test_run_instances_only_from_opted_in_templates(transformed):
    """RunInstances (checked by Auto Scaling when a group is pointed at a new version) is granted on opted-in
    launch templates, and on other resources only as far as an opted-in template names them."""
    found = [s for s in statements(transformed) if "ec2:runinstances" in s.actions]
    assert {s.role for s in found} == {"UseImageFunctionRole"}
    on_templates = [s for s in found if s.resources == [LAUNCH_TEMPLATE_ARN]]
    on_the_rest = [s for s in found if s.resources == ["*"]]
    assert len(on_templates) == len(on_the_rest) == 1 and len(found) == 2
    assert on_templates[0].condition == {"StringEquals": {OPT_IN_TAG_KEY: {"Ref": OPT_IN_PARAMETER}}}
    assert on_the_rest[0].condition == {
        "ArnLike": {"ec2:launchtemplate": {"Fn::Sub": LAUNCH_TEMPLATE_ARN}},
        "Bool": {"ec2:islaunchtemplateresource": "true"},
    }


# --- the checker fails on a widened role ---------------------------------------------------------------------


def _statement(template: dict, role: str, action: str) -> dict:
    for s in statements(template):
        if s.role == role and action in s.actions:
            return s.raw
    raise LookupError(f"{role} grants no {action}")


def _add_policy(template: dict, role: str, statement: dict) -> None:
    template["Resources"][role]["Properties"]["Policies"].append(
        {"PolicyName": "Widened", "PolicyDocument": {"Statement": [statement]}}
    )


def _set(role: str, action: str, key: str, value):
    def mutate(template):
        _statement(template, role, action)[key] = value

    return mutate


def _share_role(template):
    template["Resources"]["TagInstanceFunction"]["Properties"]["Role"] = {
        "Fn::GetAtt": ["EnterStandbyFunctionRole", "Arn"]
    }


def _cluster_condition(template: dict, role: str) -> dict:
    return _statement(template, role, "ecs:updatecontainerinstancesstate")["Condition"]["ArnLike"]


def _any_listed_cluster(template: dict) -> None:
    """The listed branch of the drainer's cluster condition widened to every cluster, anywhere."""
    _cluster_condition(template, "EnterStandbyFunctionRole")["ecs:cluster"]["Fn::If"][2] = "arn:*:ecs:*:*:cluster/*"


def _clusters_unconditionally(template: dict) -> None:
    """The drainer's cluster condition without its EcsClusterNames branch: any cluster of the account, always."""
    _cluster_condition(template, "EnterStandbyFunctionRole")["ecs:cluster"] = {"Fn::Sub": CLUSTER_ARN}


def _hook_document_wildcard(template: dict) -> None:
    """run_hook's SendCommand widened to any document."""
    statement = _statement(template, "RunHookFunctionRole", "ssm:sendcommand")
    statement["Resource"] = [{"Fn::Sub": INSTANCE_ARN}, "arn:*:ssm:*:*:document/*"]


WIDENINGS = {
    "drain any cluster, listed or not": _any_listed_cluster,
    "drain ignoring EcsClusterNames": _clusters_unconditionally,
    "run_hook sends any document": _hook_document_wildcard,
    "SendCommand on any resource": _set("SendPatchCommandFunctionRole", "ssm:sendcommand", "Resource", "*"),
    "SendCommand on any document": _set(
        "SendPatchCommandFunctionRole",
        "ssm:sendcommand",
        "Resource",
        [{"Fn::Sub": f"{ARN}:ssm:${{AWS::Region}}::document/*"}, {"Fn::Sub": INSTANCE_ARN}],
    ),
    "SendCommand on instances only (any document)": _set(
        "SendPatchCommandFunctionRole", "ssm:sendcommand", "Resource", [{"Fn::Sub": INSTANCE_ARN}]
    ),
    "EnterStandby on any resource": _set("EnterStandbyFunctionRole", "autoscaling:enterstandby", "Resource", "*"),
    "EnterStandby without the opt-in condition": lambda t: _statement(
        t, "EnterStandbyFunctionRole", "autoscaling:enterstandby"
    ).pop("Condition"),
    "EnterStandby on a paused group too": _set(
        "EnterStandbyFunctionRole",
        "autoscaling:enterstandby",
        "Condition",
        {"StringEquals": {"aws:ResourceTag/AutoPatch": [{"Ref": "OptInTagValue"}, "paused"]}},
    ),
    "SuspendProcesses on a paused group too": _set(
        "EnterStandbyFunctionRole",
        "autoscaling:suspendprocesses",
        "Condition",
        {"StringEquals": {"aws:ResourceTag/AutoPatch": [{"Ref": "OptInTagValue"}, "paused"]}},
    ),
    "ResumeProcesses on any resource": _set("ReleaseLocksFunctionRole", "autoscaling:resumeprocesses", "Resource", "*"),
    "ExitStandby on a group tagged with any other value": _set(
        "ExitStandbyFunctionRole",
        "autoscaling:exitstandby",
        "Condition",
        {"StringEquals": {"aws:ResourceTag/AutoPatch": [{"Ref": "OptInTagValue"}, "paused", "false"]}},
    ),
    "ExitStandby with a StringLike * condition": _set(
        "RecoverGroupsFunctionRole",
        "autoscaling:exitstandby",
        "Condition",
        {"StringLike": {"aws:ResourceTag/AutoPatch": "*"}},
    ),
    "UpdateAutoScalingGroup on a literal tag value": _set(
        "ExitStandbyFunctionRole",
        "autoscaling:updateautoscalinggroup",
        "Condition",
        {"StringEquals": {"aws:ResourceTag/AutoPatch": "enabled"}},
    ),
    "CreateTags of any key": _set(
        "TagInstanceFunctionRole",
        "ec2:createtags",
        "Condition",
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["AutoPatchInstanceInASG", "AutoPatchRunId", "Name"]}},
    ),
    "CreateTags on any EC2 resource": _set(
        "RecoverGroupsFunctionRole", "ec2:createtags", "Resource", {"Fn::Sub": f"{ARN}:ec2:*:*:*"}
    ),
    "Publish to any topic": _set("SendAlertFunctionRole", "sns:publish", "Resource", "*"),
    "Publish to another topic": _set(
        "SendAlertFunctionRole", "sns:publish", "Resource", {"Fn::Sub": f"{ARN}:sns:${{AWS::Region}}:*:other"}
    ),
    "StartExecution of any state machine": _set(
        "ContinueRunFunctionRole",
        "states:startexecution",
        "Resource",
        {"Fn::Sub": f"{ARN}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:*"},
    ),
    "SendTaskSuccess on any resource": _set("CommandFinishedFunctionRole", "states:sendtasksuccess", "Resource", "*"),
    "DynamoDB on any table": _set(
        "LockGroupsFunctionRole",
        "dynamodb:putitem",
        "Resource",
        {"Fn::Sub": f"{ARN}:dynamodb:${{AWS::Region}}:${{AWS::AccountId}}:table/*"},
    ),
    "S3 on the whole bucket": _set(
        "RecordResultsFunctionRole", "s3:putobject", "Resource", {"Fn::Sub": "${ReportBucket.Arn}/*"}
    ),
    "KMS on any key": _set("SendAlertFunctionRole", "kms:decrypt", "Resource", "*"),
    "the state machine invokes any function": _set(
        "RollingPatchStateMachineRole", "lambda:invokefunction", "Resource", "*"
    ),
    "the state machine gets another action": lambda t: _add_policy(
        t,
        "RollingPatchStateMachineRole",
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Ref": "AlertTopic"}},
    ),
    "CancelCommand on * in another role": lambda t: _add_policy(
        t, "SendPatchCommandFunctionRole", {"Effect": "Allow", "Action": "ssm:CancelCommand", "Resource": "*"}
    ),
    "a new mutating action, scoped": lambda t: _add_policy(
        t,
        "TagInstanceFunctionRole",
        {"Effect": "Allow", "Action": ["ec2:TerminateInstances"], "Resource": {"Fn::Sub": INSTANCE_ARN}},
    ),
    "a wildcard action": lambda t: _add_policy(
        t, "CheckHealthFunctionRole", {"Effect": "Allow", "Action": "autoscaling:*", "Resource": "*"}
    ),
    "NotResource": lambda t: _add_policy(
        t, "CheckHealthFunctionRole", {"Effect": "Allow", "Action": "sns:Publish", "NotResource": "arn:aws:sns:::x"}
    ),
    "a data read on *": lambda t: _add_policy(
        t, "PlanSliceFunctionRole", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    ),
    "an administrator managed policy": lambda t: t["Resources"]["ValidateInputFunctionRole"]["Properties"][
        "ManagedPolicyArns"
    ].append("arn:aws:iam::aws:policy/AdministratorAccess"),
    "two functions share a role": _share_role,
    "CreateImage without the stack's tag": lambda t: next(
        s.raw for s in statements(t) if "ec2:createimage" in s.actions and IMAGE_ARN in s.resources
    ).pop("Condition"),
    "CreateImage of any instance": lambda t: next(
        s.raw for s in statements(t) if "ec2:createimage" in s.actions and INSTANCE_ARN in s.resources
    ).pop("Condition"),
    "CreateImage of an instance no run is patching": lambda t: next(
        s.raw for s in statements(t) if "ec2:createimage" in s.actions and INSTANCE_ARN in s.resources
    )["Condition"].pop("StringEquals"),
    "image tags on any create action": lambda t: next(
        s.raw for s in statements(t) if "ec2:createtags" in s.actions and IMAGE_ARN in s.resources
    ).__setitem__("Condition", {"StringLike": {"ec2:CreateAction": "*"}}),
    "DeregisterImage of any image": _set(
        "UseImageFunctionRole",
        "ec2:deregisterimage",
        "Condition",
        {"StringLike": {"aws:ResourceTag/AutoPatchBakedBy": "*"}},
    ),
    "DeleteSnapshot without a condition": lambda t: _statement(t, "UseImageFunctionRole", "ec2:deletesnapshot").pop(
        "Condition"
    ),
    "CreateLaunchTemplateVersion of any template": lambda t: _statement(
        t, "UseImageFunctionRole", "ec2:createlaunchtemplateversion"
    ).pop("Condition"),
    "PassRole to any service": lambda t: _statement(t, "UseImageFunctionRole", "iam:passrole").pop("Condition"),
    "RunInstances from any template": lambda t: next(
        s.raw for s in statements(t) if "ec2:runinstances" in s.actions and s.resources == [LAUNCH_TEMPLATE_ARN]
    ).pop("Condition"),
    "a conditional statement": lambda t: _add_policy(
        t,
        "CheckStandbyFunctionRole",
        {"Fn::If": ["HasEmail", {"Effect": "Allow", "Action": "ec2:RebootInstances", "Resource": "*"}, {}]},
    ),
}


@pytest.mark.parametrize("widening", WIDENINGS)
def test_checker_catches_widening(transformed, widening):
    widened = copy.deepcopy(transformed)
    WIDENINGS[widening](widened)
    assert role_violations(widened), f"{widening} was not reported"
