"""The end-to-end check's driver without AWS: `make e2e-plan` prints what it would create and every call it would make,
with no credentials and no way to reach AWS (boto3 cannot even be imported); the checks it makes on the real fleet
catch what simulation_checks catches; a failure anywhere still runs every clean-up step; nothing starts unconfirmed.
The real run (`make e2e`) needs an AWS account and is never run by the tests."""

import json
import os
import re
import subprocess
from pathlib import Path

import cfnlint.decode
import pytest
import run_e2e

from autopatch import FOOTER, VERSION

ROOT = Path(__file__).resolve().parents[2]


def plan(tmp_path: Path, *make_args: str) -> str:
    """`make e2e-plan` as a user without AWS would run it: every AWS_* variable unset, the endpoint pointed at a port
    nothing listens on, no credentials or config files, and a boto3 that fails on import ahead of the real one."""
    blocker = tmp_path / "no-aws"
    for package in ("boto3", "botocore"):
        (blocker / package).mkdir(parents=True)
        (blocker / package / "__init__.py").write_text(f"raise ImportError('{package}: the plan makes no AWS call')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=str(blocker),
    )
    done = subprocess.run(
        ["make", "--no-print-directory", "-s", "e2e-plan", *make_args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    ("make_args", "stack", "region"),
    [
        ((), "autopatch-e2e", "us-east-1"),
        (("REGION=eu-west-1", "E2E_ARGS=--stack-name shop-e2e"), "shop-e2e", "eu-west-1"),
    ],
)
def test_make_e2e_plan_prints_offline_what_it_would_create_and_every_call_in_order(tmp_path, make_args, stack, region):
    # Given no AWS at all
    # When the plan is printed
    out = plan(tmp_path, *make_args)
    lines = out.splitlines()
    # Then it says it is a plan, for which stack, version and region, and its cost before anything else
    assert lines[0].startswith(f"End-to-end check of {stack} {VERSION} in {region} ") and "PLAN ONLY" in lines[0]
    assert re.search(r"^Estimated cost: about \$0\.\d\d for 2 hours", out, re.MULTILINE)
    # and every resource of the fleet's template, in the fleet's stack, then the patching stack's
    fleet, _ = cfnlint.decode.decode(str(ROOT / "tests" / "e2e" / "fleet.yaml"))
    for name, resource in fleet["Resources"].items():
        assert f"  {resource['Type']} {name}" in lines
    assert f"It would create, in stack {stack}-fleet (tests/e2e/fleet.yaml):" in lines
    assert f"in stack {stack} (template.yaml):" in lines and "  1 x AWS::Serverless::StateMachine" in lines
    # and the calls in order: the fleet, the stack, the DryRun, Scan and Install of the group, then, finally, deletes
    group = f"{stack}-fleet-group"
    starts = [json.loads(line.split("states:StartExecution ", 1)[1]) for line in lines if "StartExecution" in line]
    assert starts == [
        {"AutoScalingGroupNames": [group], "DryRun": True},
        {"AutoScalingGroupNames": [group], "Operation": "Scan"},
        {"AutoScalingGroupNames": [group], "Operation": "Install", "PollIntervalSeconds": 5},
    ]
    order = [
        "cloudformation:CreateStack (tests/e2e/fleet.yaml)",
        f"sam deploy --stack-name {stack} ",
        "sns:Subscribe",
        "ssm:DescribeInstanceInformation",
        '"DryRun": true',
        '"Operation": "Scan"',
        '"Operation": "Install"',
        "sqs:ReceiveMessage",
        "finally:",
        "sqs:DeleteQueue",
        f"cloudformation:ListStackResources {stack} (its functions)",
        f"cloudformation:DeleteStack {stack}",
        "logs:DeleteLogGroup /aws/lambda/<each of its functions>",
        f"cloudformation:DeleteStack {stack}-fleet",
    ]
    positions = [next(n for n, line in enumerate(lines) if text in line) for text in order]
    assert positions == sorted(positions), list(zip(order, positions, strict=True))
    # and each execution is named for the stack and one test id, as is the tag value that opts the group in
    test_id = re.search(r"\(test id ([0-9a-f]{8})\)", lines[0])[1]
    for run in ("dryrun", "scan", "install"):
        assert f"execution {stack}-{run}-{test_id} of group {group}" in out
    assert f"({run_e2e.OPT_IN_TAG_KEY}=e2e-{test_id})" in out


def test_two_plans_name_their_test_apart(tmp_path):
    # Given two plans (two people, or one twice)
    # When each is printed
    ids = {re.search(r"\(test id (\w+)\)", plan(tmp_path / str(n)).splitlines()[0])[1] for n in range(2)}
    # Then each test has its own id, so its tag value never opts in another test's group (or anyone's)
    assert len(ids) == 2


# --- the checks on the real fleet: what simulation_checks checks --------------------------------------------------

NAMES = run_e2e.Names(stack="autopatch-e2e", region="us-east-1", test_id="0badc0de")
IDS = ["i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa2"]
BEFORE = {
    "sizes": (1, 3, 2),
    "suspended": [],
    "states": dict.fromkeys(IDS, "InService"),
    "targets": dict.fromkeys(IDS, "healthy"),
}


def summary(result="Completed", **extra):
    instances = [{"InstanceId": i, "Result": result} for i in IDS]
    return {"status": "SUCCEEDED", "output": json.dumps({"Version": VERSION, "Instances": instances, **extra})}


def tagged(value):
    return {i: {run_e2e.PATCH_TAG_KEY: value, run_e2e.RUN_TAG_KEY: NAMES.execution("Install")} for i in IDS}


def test_a_clean_install_passes_every_check():
    # Given an Install that patched both instances and left the group as it was, each tagged Completed by the run
    # When it is checked
    problems = run_e2e.run_problems("Install", summary(), BEFORE, BEFORE, tagged("Completed"), NAMES)
    # Then nothing is reported
    assert problems == []


@pytest.mark.parametrize(
    ("run", "described", "after", "tags", "complaint"),
    [
        ("Install", {"status": "FAILED", "error": "PatchingFailed"}, BEFORE, {}, "ended FAILED: PatchingFailed"),
        ("Install", summary(), {**BEFORE, "states": {IDS[0]: "InService", IDS[1]: "Standby"}}, None, "Standby"),
        ("Install", summary(), {**BEFORE, "sizes": (1, 3, 1)}, None, "desired capacity (1, 3, 1)"),
        ("Install", summary(), {**BEFORE, "suspended": ["AZRebalance"]}, None, "suspended processes"),
        ("Install", summary(), {**BEFORE, "targets": {IDS[0]: "healthy", IDS[1]: "draining"}}, None, "not both"),
        ("Install", summary(), BEFORE, "InProgress", "expected"),
        ("Install", summary("Failed"), BEFORE, None, "not Completed for both"),
        ("Install", {"status": "SUCCEEDED", "output": json.dumps({"Instances": []})}, BEFORE, None, "version None"),
        ("Scan", summary(), BEFORE, "Completed", "expected no patch tag"),
        ("DryRun", {"status": "SUCCEEDED", "output": json.dumps({"Plan": {"Groups": []}})}, BEFORE, {}, "planned []"),
    ],
    ids=["failed", "left in Standby", "capacity", "processes", "unhealthy", "tag", "result", "version", "scan", "plan"],
)
def test_each_check_fails_on_what_a_user_would_notice(run, described, after, tags, complaint):
    # Given a run that left one thing wrong
    tags = tagged("Completed") if tags is None else tagged(tags) if isinstance(tags, str) else tags
    # When it is checked
    problems = run_e2e.run_problems(run, described, BEFORE, after, tags, NAMES)
    # Then that is reported
    assert any(complaint in p for p in problems), problems


def test_the_alert_check_wants_each_finished_alert_with_the_footer_and_nothing_else():
    expected = {f"Patch run {NAMES.execution(r)} finished: Succeeded" for r in ("Scan", "Install")}
    good = [{"Subject": s, "Message": f"Run: x\n\n{FOOTER}"} for s in sorted(expected)]
    # Given the two alerts as they should be, then one missing, one without the footer, one failure alert more
    assert run_e2e.alert_problems(good, expected) == []
    assert run_e2e.alert_problems(good[:1], expected) == [f"no alert '{sorted(expected)[1]}'"]
    unsigned = [good[0], {**good[1], "Message": "Run: x"}]
    assert run_e2e.alert_problems(unsigned, expected) == [f"alert '{good[1]['Subject']}' does not end with '{FOOTER}'"]
    failed = [*good, {"Subject": "Patching failed: i-1 in g, run r", "Message": FOOTER}]
    assert run_e2e.alert_problems(failed, expected) == ["unexpected alert 'Patching failed: i-1 in g, run r'"]


# --- a failure anywhere still deletes everything; nothing starts unconfirmed --------------------------------------


@pytest.mark.parametrize("failing", [0, 2, 4])
def test_a_failing_step_stops_the_test_and_every_clean_up_still_runs(monkeypatch, capsys, failing):
    # Given five steps of which one fails, and three clean-ups of which the first fails too
    ran = []

    def action(name, fails=False):
        def act(context):
            ran.append(name)
            if fails:
                raise RuntimeError(f"{name} broke")

        return act

    flow = [run_e2e.Step(f"step {n}", [], action(f"step {n}", n == failing)) for n in range(5)]
    flow += [run_e2e.Step(f"clean {n}", [], action(f"clean {n}", n == 0), cleanup=True) for n in range(3)]
    monkeypatch.setattr(run_e2e, "steps", lambda names: flow)
    # When the test runs
    code = run_e2e.run(NAMES)
    # Then the steps after the failing one did not run, every clean-up did, and both failures are reported
    assert ran == [f"step {n}" for n in range(failing + 1)] + ["clean 0", "clean 1", "clean 2"]
    assert code == 1
    err = capsys.readouterr().err
    assert f"RuntimeError: step {failing} broke" in err
    assert "clean-up 'clean 0' failed, delete by hand" in err


@pytest.mark.parametrize("answer", ["", "n", "no", "maybe"])
def test_without_yes_it_states_the_cost_and_creates_nothing_unless_confirmed(monkeypatch, capsys, answer):
    # Given a person who does not answer yes
    monkeypatch.setattr("builtins.input", lambda prompt: answer)
    monkeypatch.setattr(run_e2e, "run", lambda names: pytest.fail("it started without confirmation"))
    # When make e2e runs without --yes
    code = run_e2e.main(["--region", "eu-west-1"])
    # Then it said what it costs and what it creates, and stopped
    out = capsys.readouterr().out
    assert out.startswith("Estimated cost: about $")
    assert "autopatch-e2e-fleet and autopatch-e2e in eu-west-1" in out
    assert "Nothing was created." in out and code == 1


@pytest.mark.parametrize(("args", "answer"), [(["--yes"], None), ([], "y"), ([], "yes")])
def test_with_yes_or_a_yes_it_runs(monkeypatch, args, answer):
    started = []
    monkeypatch.setattr("builtins.input", lambda prompt: answer if answer else pytest.fail("asked despite --yes"))
    monkeypatch.setattr(run_e2e, "run", lambda names: started.append(names) or 0)
    assert run_e2e.main(args) == 0
    assert [n.stack for n in started] == ["autopatch-e2e"]
