"""Hooks as the input and the group tags give them (autopatch.hooks): resolved, checked, allowed or not."""

import json

import pytest

from autopatch import hooks
from autopatch.errors import InvalidInput
from autopatch.run_input import parse_run_input

SMOKE = "arn:aws:lambda:us-east-1:123456789012:function:smoke-test"
NONE = {"Kind": "None"}


@pytest.fixture
def allowed(monkeypatch):
    """The stack allows two documents and one function (its versions and aliases too)."""
    monkeypatch.setenv("HOOK_DOCUMENT_NAMES", "MyApp-GracefulStop,AWS-RunShellScript")
    monkeypatch.setenv("HOOK_FUNCTION_ARNS", SMOKE)


def tagged(**tags) -> dict:
    return {"AutoScalingGroupName": "web", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}


@pytest.mark.parametrize(
    ("given", "resolved"),
    [
        (
            {"BeforeStandby": {"DocumentName": "MyApp-GracefulStop"}},
            {
                "BeforeStandby": {
                    "Kind": "Document",
                    "Name": "MyApp-GracefulStop",
                    "TimeoutSeconds": 600,
                    "Parameters": {},
                },
                "AfterHealthy": NONE,
            },
        ),
        (
            {"AfterHealthy": {"FunctionArn": f"{SMOKE}:live", "TimeoutSeconds": 45}},
            {
                "BeforeStandby": NONE,
                "AfterHealthy": {"Kind": "Function", "Name": f"{SMOKE}:live", "TimeoutSeconds": 45},
            },
        ),
        (
            {
                "BeforeStandby": {"FunctionArn": SMOKE},
                "AfterHealthy": {
                    "DocumentName": "AWS-RunShellScript",
                    "Parameters": {"commands": ["curl -fsS localhost/health"]},
                    "TimeoutSeconds": 7200,
                },
            },
            {
                "BeforeStandby": {"Kind": "Function", "Name": SMOKE, "TimeoutSeconds": 300},
                "AfterHealthy": {
                    "Kind": "Document",
                    "Name": "AWS-RunShellScript",
                    "TimeoutSeconds": 7200,
                    "Parameters": {"commands": ["curl -fsS localhost/health"]},
                },
            },
        ),
        ({}, {"BeforeStandby": NONE, "AfterHealthy": NONE}),
    ],
)
def test_the_input_hooks_are_resolved_with_their_defaults(given, resolved):
    assert hooks.parse_input(given) == resolved
    # and the run's input keeps them as given
    assert parse_run_input({"Hooks": given}).Hooks == given


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ([], "Hooks must be an object"),
        ({"BeforePatch": {"DocumentName": "abc"}}, "unknown hook 'BeforePatch'"),
        ({"BeforeStandby": "MyApp-GracefulStop"}, "Hooks.BeforeStandby must be an object"),
        ({"BeforeStandby": {}}, "exactly one of DocumentName"),
        ({"BeforeStandby": {"DocumentName": "abc", "FunctionArn": SMOKE}}, "exactly one of DocumentName"),
        ({"BeforeStandby": {"DocumentName": "ab"}}, "Hooks.BeforeStandby.DocumentName must be an SSM document name"),
        ({"BeforeStandby": {"DocumentName": "a b c"}}, "DocumentName must be an SSM document name"),
        ({"AfterHealthy": {"FunctionArn": "arn:aws:sns:us-east-1:123456789012:x"}}, "FunctionArn must be a Lambda"),
        (
            {"AfterHealthy": {"FunctionArn": SMOKE, "TimeoutSeconds": 901}},
            "TimeoutSeconds must be an integer from 1 to 900",
        ),
        ({"AfterHealthy": {"FunctionArn": SMOKE, "TimeoutSeconds": 0}}, "from 1 to 900"),
        ({"AfterHealthy": {"DocumentName": "abc", "TimeoutSeconds": 29}}, "from 30 to 7200"),
        ({"AfterHealthy": {"DocumentName": "abc", "TimeoutSeconds": 7201}}, "from 30 to 7200"),
        ({"AfterHealthy": {"DocumentName": "abc", "TimeoutSeconds": True}}, "from 30 to 7200"),
        ({"AfterHealthy": {"DocumentName": "abc", "Parameters": {"commands": "ls"}}}, "list of strings"),
        ({"AfterHealthy": {"DocumentName": "abc", "Parameters": {"n": [1]}}}, "list of strings"),
        ({"AfterHealthy": {"DocumentName": "abc", "Parameters": {"c": ["x" * 5000]}}}, "at most 4096 characters"),
        ({"AfterHealthy": {"FunctionArn": SMOKE, "Parameters": {}}}, "unknown field 'Parameters'"),
    ],
)
def test_a_malformed_hook_is_refused_by_name(given, named):
    with pytest.raises(InvalidInput, match=named):
        parse_run_input({"Hooks": given})


@pytest.mark.parametrize(
    ("value", "resolved"),
    [
        ("none", NONE),
        ("None", NONE),
        (
            " MyApp-GracefulStop ",
            {"Kind": "Document", "Name": "MyApp-GracefulStop", "TimeoutSeconds": 600, "Parameters": {}},
        ),
        (SMOKE, {"Kind": "Function", "Name": SMOKE, "TimeoutSeconds": 300}),
        (
            json.dumps(
                {
                    "DocumentName": "AWS-RunShellScript",
                    "Parameters": {"commands": ["./drain.sh"]},
                    "TimeoutSeconds": 120,
                }
            ),
            {
                "Kind": "Document",
                "Name": "AWS-RunShellScript",
                "TimeoutSeconds": 120,
                "Parameters": {"commands": ["./drain.sh"]},
            },
        ),
    ],
)
def test_a_group_tag_overrides_the_input_for_its_hook_only(value, resolved):
    # Given a run whose input has both hooks, and a group tagged for its BeforeStandby
    given = hooks.parse_input({"BeforeStandby": {"FunctionArn": SMOKE}, "AfterHealthy": {"DocumentName": "AppCheck"}})
    # Then the tag's hook replaces the input's BeforeStandby, and the input's AfterHealthy stays
    found = hooks.for_group(tagged(AutoPatchBeforeStandby=value), given)
    assert found == {"BeforeStandby": resolved, "AfterHealthy": given["AfterHealthy"]}


def test_a_group_without_hook_tags_has_the_input_hooks():
    given = hooks.parse_input({"AfterHealthy": {"DocumentName": "AppCheck"}})
    assert hooks.for_group(tagged(AutoPatch="enabled"), given) == given


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("", "is empty"),
        ("{not json", "is not valid JSON"),
        ('{"DocumentName": "ab"}', "DocumentName must be an SSM document name"),
        ("arn:aws:lambda:us-east-1:123:function:x", "FunctionArn must be a Lambda function ARN"),
    ],
)
def test_a_malformed_group_tag_is_refused_naming_the_tag_and_group(value, named):
    with pytest.raises(InvalidInput, match=named) as refused:
        hooks.for_group(tagged(AutoPatchAfterHealthy=value), hooks.parse_input({}))
    assert "the AutoPatchAfterHealthy tag of group 'web'" in str(refused.value)


def test_only_the_documents_and_functions_the_stack_lists_are_allowed(allowed):
    found = hooks.parse_input(
        {"BeforeStandby": {"DocumentName": "MyApp-GracefulStop"}, "AfterHealthy": {"FunctionArn": f"{SMOKE}:live"}}
    )
    # an alias of an allowed function is allowed
    assert hooks.not_allowed(found) == []
    other = hooks.parse_input(
        {
            "BeforeStandby": {"DocumentName": "AWS-ApplyPatchBaseline"},
            "AfterHealthy": {"FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:smoke-test-2"},
        }
    )
    assert hooks.not_allowed(other) == [
        "BeforeStandby document AWS-ApplyPatchBaseline is not in the stack's HookDocumentNames (allowed:"
        " MyApp-GracefulStop, AWS-RunShellScript)",
        "AfterHealthy function arn:aws:lambda:us-east-1:123456789012:function:smoke-test-2 is not in the stack's"
        f" HookFunctionArns (allowed: {SMOKE})",
    ]
    with pytest.raises(InvalidInput, match="Nothing was changed"):
        hooks.check_input(other)


def test_a_stack_that_lists_none_allows_no_hook(monkeypatch):
    monkeypatch.delenv("HOOK_DOCUMENT_NAMES", raising=False)
    monkeypatch.setenv("HOOK_FUNCTION_ARNS", "")
    found = hooks.parse_input(
        {"BeforeStandby": {"DocumentName": "AWS-RunShellScript"}, "AfterHealthy": {"FunctionArn": SMOKE}}
    )
    assert [line.endswith("(it allows none)") for line in hooks.not_allowed(found)] == [True, True]
    # and hooks the input does not give are nothing to allow
    assert hooks.not_allowed(hooks.parse_input({})) == []


@pytest.mark.parametrize(
    ("given", "events"),
    [
        ({}, 0),
        ({"AfterHealthy": {"FunctionArn": SMOKE}}, 7),
        ({"BeforeStandby": {"FunctionArn": SMOKE}, "AfterHealthy": {"FunctionArn": SMOKE}}, 14),
        # a document's Task and Choice every 55 s of its TimeoutSeconds, and once more
        ({"BeforeStandby": {"DocumentName": "abc", "TimeoutSeconds": 55}}, 14),
        ({"BeforeStandby": {"DocumentName": "abc", "TimeoutSeconds": 56}}, 21),
        ({"BeforeStandby": {"DocumentName": "abc", "TimeoutSeconds": 7200}}, 7 * (131 + 1)),
    ],
)
def test_the_history_events_hooks_add_grow_with_a_documents_timeout(given, events):
    assert hooks.events(hooks.parse_input(given)) == events


def test_a_resolved_document_hook_is_checked_again_when_it_comes_back():
    resolved = hooks.parse_input({"BeforeStandby": {"DocumentName": "abc"}})["BeforeStandby"]
    assert hooks.resolved_document(resolved, "Hook") == resolved
    for forged in (
        NONE,
        {**resolved, "Name": "a;b"},
        {**resolved, "TimeoutSeconds": None},
        {**resolved, "Kind": "Function"},
    ):
        with pytest.raises(InvalidInput):
            hooks.resolved_document(forged, "Hook")
