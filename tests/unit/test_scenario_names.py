"""Group names: every name AWS accepts for an Auto Scaling group is simulated (the target group, launch template
and launch configuration names derived from it are valid and one per group); a name AWS refuses is refused by
the scenario file with a one-line error and exit code 2, never a traceback."""

import json
import re

import pytest

from simulator import cli, fleet
from simulator.engine import Simulation
from simulator.scenario import parse_scenario

UNICODE = "grüne Gruppe 日本"
SPACES = "web servers"
LONGEST = "g" * 255
SHARED_29 = ("p" * 29 + "-one", "p" * 29 + "-two")
SHARED_32 = ("q" * 32 + "a", "q" * 32 + "b")
NAMES = (UNICODE, SPACES, LONGEST, *SHARED_29, *SHARED_32, "web", "-dash", "internal-web")


@pytest.mark.parametrize("name", NAMES)
def test_a_derived_target_group_name_is_one_elb_accepts(name):
    derived = fleet.target_group_name(name)

    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}", derived) and not derived.endswith("-")
    assert not derived.startswith("internal-")


@pytest.mark.parametrize("name", NAMES)
def test_a_derived_launch_template_name_is_one_ec2_accepts(name):
    for suffix in ("", "-small"):
        assert re.fullmatch(r"[A-Za-z0-9().\-/_]{3,128}", fleet.template_name(name, suffix))
    assert len(fleet.launch_configuration_name(name)) <= 255


def test_each_group_has_its_own_derived_names():
    for derive in (fleet.target_group_name, fleet.template_name, fleet.launch_configuration_name):
        assert len({derive(name) for name in NAMES}) == len(NAMES), derive.__name__


def test_a_name_that_already_fits_keeps_its_plain_derived_names():
    assert fleet.target_group_name("web") == "web-tg"
    assert fleet.template_name("web") == "web-lt"
    assert fleet.launch_configuration_name("web") == "web-lc"


def run_cli(tmp_path, capsys, name: str) -> tuple[int, str]:
    path = tmp_path / "names.json"
    path.write_text(json.dumps({"groups": [{"name": name, "instances": 2}]}))
    code = cli.main(["run", "--scenario", str(path), "--quiet"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("g" * 256, "groups[0].name is longer than the 255 characters AWS allows a group name"),
        ("bad\x01name", "groups[0].name has a character AWS does not allow in a group name: '\\x01'"),
        ("bad\ud800name", "groups[0].name has a character AWS does not allow in a group name: '\\ud800'"),
        ("", "groups[0].name is required"),
    ],
    ids=["256-characters", "control-character", "lone-surrogate", "empty"],
)
def test_a_name_aws_refuses_is_refused_with_one_line_and_exit_2(tmp_path, capsys, name, problem):
    code, err = run_cli(tmp_path, capsys, name)

    assert code == 2
    assert err == f"error: {problem}\n"


@pytest.mark.simulation
@pytest.mark.parametrize(
    "names",
    [(UNICODE,), (SPACES,), (LONGEST,), SHARED_29, SHARED_32, ("tab\tand\nnewline",)],
    ids=["unicode", "spaces", "255-characters", "shared-29", "shared-32", "tab-and-newline"],
)
def test_a_name_aws_accepts_is_simulated(names):
    scenario = {"groups": [{"name": n, "instances": 2, "launch": "mixed_instances"} for n in names], "input": {}}

    report = Simulation(parse_scenario(scenario)).run()

    assert report["status"] == "SUCCEEDED", report["cause"]
    assert [g["name"] for g in report["groups"]] == list(names)
    assert {i["tag"] for i in report["instances"]} == {"Completed"}
