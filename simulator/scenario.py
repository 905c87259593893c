"""Scenario files: the simulated fleet and the run's input (format in the README)."""

import json
from dataclasses import dataclass, field
from pathlib import Path

FAULTS = (
    "patch_failed",  # AWS-RunPatchBaseline ends Failed
    "patch_timeout",  # the command never ends
    "agent_offline",  # SSM agent ConnectionLost: the command is never delivered
    "unhealthy_after_patch",  # the target stays unhealthy after ExitStandby
)
DEFAULT_SCENARIO = Path(__file__).parent / "scenarios" / "default.json"


class ScenarioError(ValueError):
    """The scenario file is malformed; the message names the field."""


@dataclass
class GroupSpec:
    name: str
    instances: int = 4
    min_size: int = 1
    max_size: int | None = None
    load_balanced: bool = True
    patch_seconds: int = 300
    opted_in: bool = True
    warmup_seconds: int = 60
    deregistration_delay: int = 30
    faults: dict[int, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.max_size is None:
            self.max_size = max(self.instances * 2, 1)


@dataclass
class Scenario:
    groups: list[GroupSpec]
    input: dict
    name: str = "scenario"


_GROUP_FIELDS = {
    "name": str,
    "instances": int,
    "min_size": int,
    "max_size": int,
    "load_balanced": bool,
    "patch_seconds": int,
    "opted_in": bool,
    "warmup_seconds": int,
    "deregistration_delay": int,
    "faults": dict,
}


def load_scenario(path: Path | str | None = None) -> Scenario:
    path = Path(path) if path else DEFAULT_SCENARIO
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ScenarioError(f"cannot read scenario {path}: {error}") from error
    return parse_scenario(raw, name=path.stem)


def parse_scenario(raw: dict, name: str = "scenario") -> Scenario:
    if not isinstance(raw, dict):
        raise ScenarioError("a scenario is a JSON object")
    unknown = set(raw) - {"groups", "input", "description"}
    if unknown:
        raise ScenarioError(f"unknown scenario field {sorted(unknown)[0]!r}")
    groups = raw.get("groups")
    if not isinstance(groups, list) or not groups:
        raise ScenarioError("groups must be a non-empty list")
    specs = [_group(g, n) for n, g in enumerate(groups)]
    if len({g.name for g in specs}) != len(specs):
        raise ScenarioError("group names must be unique")
    run_input = raw.get("input", {})
    if not isinstance(run_input, dict):
        raise ScenarioError("input must be an object (the state machine's input)")
    return Scenario(specs, run_input, name)


def _group(raw, n) -> GroupSpec:
    where = f"groups[{n}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ScenarioError(f"{where}.name is required")
    for key, value in raw.items():
        kind = _GROUP_FIELDS.get(key)
        if kind is None:
            raise ScenarioError(f"{where}: unknown field {key!r}")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ScenarioError(f"{where}.{key} must be {kind.__name__}")
        if kind is int and value < 0:
            raise ScenarioError(f"{where}.{key} must not be negative")
    spec = GroupSpec(**{k: v for k, v in raw.items() if k != "faults"})
    if spec.instances < 1:
        raise ScenarioError(f"{where}.instances must be at least 1")
    if not spec.min_size <= spec.instances <= spec.max_size:
        raise ScenarioError(f"{where}: instances must lie between min_size and max_size")
    for index, fault in raw.get("faults", {}).items():
        if not str(index).isdigit() or int(index) >= spec.instances:
            raise ScenarioError(f"{where}.faults: {index!r} is not the index of one of its instances")
        if fault not in FAULTS:
            raise ScenarioError(f"{where}.faults[{index}]: unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        spec.faults[int(index)] = fault
    return spec
