"""Scenario files: the simulated fleet and the run's input (format in the README)."""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAULTS = (
    "patch_failed",  # AWS-RunPatchBaseline ends Failed
    "patch_timeout",  # the command never ends
    "agent_offline",  # SSM agent ConnectionLost: the command is never delivered
    "unhealthy_after_patch",  # the target stays unhealthy after ExitStandby
    "alarm_after_patch",  # the group's alarm goes to ALARM when this instance's patch finishes
    "throttled",  # the first AWS call of each kind naming this instance is throttled
    "stale_standby",  # starts in Standby, tagged InProgress by a run that died
    "unhealthy_before",  # its target is unhealthy when the run starts
    "paused_after_patch",  # the group's opt-in tag is set to "paused" when this instance's patch finishes
    "failed_patches",  # AWS-RunPatchBaseline Install succeeds, but the instance reports failed patches
    "bake_failed",  # an image (CreateImage) of this instance ends in state "failed"
    "bake_timeout",  # an image (CreateImage) of this instance stays "pending" for ever
    "event_lost",  # the status-change event of this instance's patch command is never delivered
    "event_delayed",  # that event is delivered 20 minutes late
    "event_duplicated",  # that event is delivered twice
    "drain_stuck",  # ECS: one task of its container instance never leaves when it is DRAINING
    "hook_failed",  # every hook run on it fails: a document ends Failed (ResponseCode 1), a hook function raises
    # a hook document run on it stays InProgress until cancelled; a hook function runs until its Lambda timeout
    "hook_timeout",
)
# How a group names what it launches from: a launch template followed at $Latest, at $Default or at a fixed
# version (a second version exists, the group stays on 1), a launch configuration, or a mixed instances policy
# with a launch template per instance type.
LAUNCH_SOURCES = ("$Latest", "$Default", "version", "launch_configuration", "mixed_instances")
SCALING_PROCESSES = (
    "Launch",
    "Terminate",
    "AddToLoadBalancer",
    "AlarmNotification",
    "AZRebalance",
    "HealthCheck",
    "InstanceRefresh",
    "ReplaceUnhealthy",
    "ScheduledActions",
)
# What CreateAutoScalingGroup accepts as AutoScalingGroupName (botocore's XmlStringMaxLen255): 1 to 255
# characters, none of them a control character other than tab, CR and LF, nor a lone surrogate.
GROUP_NAME_MAX = 255
MAX_AZS = 6  # us-east-1a to us-east-1f
# What each fleet event (top-level "events") takes besides "at", "group" and "do": required, then optional.
EVENT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "scale_out": (("count",), ()),
    "scale_in": (("count",), ("indexes",)),
    "terminate": (("index",), ()),
    "unhealthy": (("index",), ()),
    "set_size": ((), ("min_size", "max_size", "desired")),
    "start_instance_refresh": ((), ()),  # someone starts an instance refresh (StartInstanceRefresh)
    # another tool or a person puts the instance in Standby (EnterStandby, desired capacity minus one), or returns it
    "enter_standby": (("index",), ()),
    "exit_standby": (("index",), ()),
    "delete_hold": ((), ()),  # a person deletes the group's hold from the run ledger (to "unlock" it)
}
# What a warm pool keeps its instances as (PutWarmPool's PoolState).
POOL_STATES = ("Stopped", "Running", "Hibernated")
_GROUP_NAME_CHARACTERS = re.compile("[\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff\r\n\t]*")
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
    alarm: str | None = None
    alarm_delay_seconds: int = 0  # alarm_after_patch: the alarm goes off this long after the patch ends
    instance_refresh: bool = False
    suspended_processes: list[str] = field(default_factory=list)
    dead_run_lowered_min_size: bool = False
    dead_run_raised_max_size: bool = False  # by one, above max_size
    dead_run_suspended_az_rebalance: bool = False
    dead_run_added_instance: bool = False  # KeepCapacity's, one more than `instances`: the group's last
    compliant: list[int] = field(default_factory=list)  # instances with no missing patches; the others miss some
    faults: dict[int, set[str]] = field(default_factory=dict)  # instance index -> its faults
    launch: str = "$Latest"  # one of LAUNCH_SOURCES
    scale_out_after: int = 0  # instances the group launches once the run has ended
    previous_bakes: int = 0  # images an earlier run of the stack made of the group
    foreign_images: int = 0  # images of the group made by someone else (tagged AutoPatchGroup only)
    azs: int = 2  # Availability Zones, the instances spread evenly across them
    launch_hook_seconds: int = 0  # a launch lifecycle hook holds each new instance in Pending:Wait this long
    launches_unhealthy: bool = False  # what it launches during the run never passes its target groups' checks
    warm_pool: dict | None = None  # {"size": n, "state": one of POOL_STATES}: n instances Warmed:<state>
    # {"tasks_per_instance": n, "drain_seconds": s}: the group is the capacity of an ECS cluster whose service tasks
    # leave a DRAINING container instance s seconds after it was set DRAINING
    ecs: dict | None = None
    hook_seconds: int = 10  # what a hook run on one of its instances takes (a document, a hook function)
    tags: dict[str, str] = field(default_factory=dict)  # the group's own further tags, key -> value

    def __post_init__(self):
        if self.max_size is None:
            self.max_size = max(self.instances * 2, 1)


@dataclass
class FleetEvent:
    """Something that moves the fleet at a virtual moment: Auto Scaling, EC2 or a person (format in the README)."""

    at: float
    group: str
    do: str
    count: int = 0
    index: int = 0
    indexes: list[int] = field(default_factory=list)
    min_size: int | None = None
    max_size: int | None = None
    desired: int | None = None


@dataclass
class Scenario:
    groups: list[GroupSpec]
    input: dict
    name: str = "scenario"
    also_start: list[dict] = field(default_factory=list)
    parameters: dict = field(default_factory=dict)  # stack parameter values, e.g. SlackWebhookSecretName
    stop_at: float | None = None  # virtual seconds after the start at which the run is stopped by hand
    crash_at: float | None = None  # virtual seconds after the start at which the run crashes (an uncaught error)
    also_start_at: float | None = None  # virtual seconds after the start at which the also_start runs start
    events: list[FleetEvent] = field(default_factory=list)  # in the order they happen
    # runs started later, each at its virtual moment (after the runs before it have ended or not): {"at", "input"}
    later_runs: list[dict] = field(default_factory=list)


_GROUP_FIELDS: dict[str, type[Any]] = {
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
    "alarm": str,
    "alarm_delay_seconds": int,
    "instance_refresh": bool,
    "suspended_processes": list,
    "dead_run_lowered_min_size": bool,
    "dead_run_raised_max_size": bool,
    "dead_run_added_instance": bool,
    "dead_run_suspended_az_rebalance": bool,
    "compliant": list,
    "launch": str,
    "scale_out_after": int,
    "previous_bakes": int,
    "foreign_images": int,
    "azs": int,
    "launch_hook_seconds": int,
    "launches_unhealthy": bool,
    "warm_pool": dict,
    "ecs": dict,
    "hook_seconds": int,
    "tags": dict,
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
    unknown = set(raw) - {
        "groups",
        "input",
        "description",
        "also_start",
        "also_start_at",
        "parameters",
        "stop_at",
        "crash_at",
        "events",
        "later_runs",
    }
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
    also_start = raw.get("also_start", [])
    if not isinstance(also_start, list) or not all(isinstance(i, dict) for i in also_start):
        raise ScenarioError("also_start must be a list of inputs (objects)")
    parameters = raw.get("parameters", {})
    if not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values()):
        raise ScenarioError("parameters must map stack parameter names to string values")
    moments = {}
    for key in ("stop_at", "crash_at", "also_start_at"):
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise ScenarioError(f"{key} must be a number of virtual seconds")
        moments[key] = value
    if moments["also_start_at"] is not None and not also_start:
        raise ScenarioError("also_start_at needs also_start: the inputs to start then")
    events = _events(raw.get("events", []), {spec.name: spec for spec in specs})
    later_runs = _later_runs(raw.get("later_runs", []))
    return Scenario(specs, run_input, name, also_start, parameters, **moments, events=events, later_runs=later_runs)


def _later_runs(raw) -> list[dict]:
    """later_runs: [{"at": virtual seconds from the start, "input": the state machine's input}], in order of "at"."""
    if not isinstance(raw, list):
        raise ScenarioError("later_runs must be a list of {at, input} objects")
    for n, later in enumerate(raw):
        where = f"later_runs[{n}]"
        if not isinstance(later, dict) or set(later) - {"at", "input"}:
            raise ScenarioError(f"{where} must be an object with at and input only")
        at = later.get("at")
        if isinstance(at, bool) or not isinstance(at, (int, float)) or at < 0:
            raise ScenarioError(f"{where}.at must be a number of virtual seconds from the start (not negative)")
        if not isinstance(later.get("input", {}), dict):
            raise ScenarioError(f"{where}.input must be an object (the state machine's input)")
    return sorted(({"at": r["at"], "input": r.get("input", {})} for r in raw), key=lambda r: r["at"])


def _group(raw, n) -> GroupSpec:
    where = f"groups[{n}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ScenarioError(f"{where}.name is required")
    if len(raw["name"]) > GROUP_NAME_MAX:
        raise ScenarioError(f"{where}.name is longer than the {GROUP_NAME_MAX} characters AWS allows a group name")
    bad = next((c for c in raw["name"] if not _GROUP_NAME_CHARACTERS.fullmatch(c)), None)
    if bad is not None:
        raise ScenarioError(f"{where}.name has a character AWS does not allow in a group name: {bad!r}")
    for key, value in raw.items():
        kind = _GROUP_FIELDS.get(key)
        if kind is None:
            raise ScenarioError(f"{where}: unknown field {key!r}")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ScenarioError(f"{where}.{key} must be {kind.__name__}")
        if kind is int and value < 0:
            raise ScenarioError(f"{where}.{key} must not be negative")
    spec = GroupSpec(**{k: v for k, v in raw.items() if k != "faults"})
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < spec.instances for i in spec.compliant):
        raise ScenarioError(f"{where}.compliant must list indices of its instances")
    bad = [p for p in spec.suspended_processes if p not in SCALING_PROCESSES]
    if bad:
        raise ScenarioError(f"{where}.suspended_processes: unknown process {bad[0]!r}")
    if spec.instances < 1:
        raise ScenarioError(f"{where}.instances must be at least 1")
    if spec.dead_run_lowered_min_size and spec.min_size < 1:
        raise ScenarioError(f"{where}: dead_run_lowered_min_size needs min_size of at least 1")
    if spec.dead_run_suspended_az_rebalance and "AZRebalance" in spec.suspended_processes:
        raise ScenarioError(f"{where}: dead_run_suspended_az_rebalance, but its owner suspended AZRebalance")
    assert spec.max_size is not None  # GroupSpec.__post_init__ sets it
    if not spec.min_size <= spec.instances <= spec.max_size:
        raise ScenarioError(f"{where}: instances must lie between min_size and max_size")
    if spec.instances + spec.scale_out_after > spec.max_size:
        raise ScenarioError(f"{where}: instances + scale_out_after must not exceed max_size")
    if not 1 <= spec.azs <= MAX_AZS:
        raise ScenarioError(f"{where}.azs must be 1 to {MAX_AZS} Availability Zones")
    if spec.launch not in LAUNCH_SOURCES:
        raise ScenarioError(
            f"{where}.launch: unknown launch source {spec.launch!r}; known: {', '.join(LAUNCH_SOURCES)}"
        )
    if spec.launches_unhealthy and not spec.load_balanced:
        raise ScenarioError(f"{where}: launches_unhealthy needs a load-balanced group (its targets stay unhealthy)")
    if spec.warm_pool is not None:
        _check_warm_pool(spec.warm_pool, f"{where}.warm_pool")
    if spec.ecs is not None:
        _check_ecs(spec.ecs, f"{where}.ecs")
    _check_tags(spec.tags, f"{where}.tags")
    for index, faults in raw.get("faults", {}).items():
        if not str(index).isdigit() or int(index) >= spec.instances:
            raise ScenarioError(f"{where}.faults: {index!r} is not the index of one of its instances")
        faults = [faults] if isinstance(faults, str) else faults  # one fault, or a list of them
        if not isinstance(faults, list) or not faults:
            raise ScenarioError(f"{where}.faults[{index}] must be a fault or a non-empty list of faults")
        for fault in faults:
            if fault not in FAULTS:
                raise ScenarioError(f"{where}.faults[{index}]: unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        spec.faults[int(index)] = set(faults)
    return spec


def _check_ecs(ecs: dict, where: str) -> None:
    if set(ecs) != {"tasks_per_instance", "drain_seconds"}:
        raise ScenarioError(f"{where} takes tasks_per_instance and drain_seconds, both")
    for key, value in ecs.items():
        if not _is_int(value) or value < 0:
            raise ScenarioError(f"{where}.{key} must be a whole number, not negative")


def _check_warm_pool(pool: dict, where: str) -> None:
    unknown = sorted(set(pool) - {"size", "state"})
    if unknown:
        raise ScenarioError(f"{where}: unknown field {unknown[0]!r}")
    if not _is_int(pool.get("size")) or pool["size"] < 0:
        raise ScenarioError(f"{where}.size must be an integer of at least 0")
    if pool.get("state", "Stopped") not in POOL_STATES:
        raise ScenarioError(f"{where}.state: unknown pool state {pool['state']!r}; known: {', '.join(POOL_STATES)}")


# The tags the simulator gives a group itself (opted_in, alarm), and what Auto Scaling allows a group's tags: at most
# 50, keys of 1 to 128 characters not starting with "aws:", values of at most 256
# (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-tagging.html#tag-restrictions)
SIMULATOR_TAGS = ("AutoPatch", "AutoPatchAlarmNames")
TAGS_MAX, TAG_KEY_MAX, TAG_VALUE_MAX = 50, 128, 256


def _check_tags(tags: dict, where: str) -> None:
    if len(tags) > TAGS_MAX:
        raise ScenarioError(f"{where}: a group takes at most {TAGS_MAX} tags")
    for key, value in tags.items():
        if not 1 <= len(key) <= TAG_KEY_MAX or key.lower().startswith("aws:"):
            raise ScenarioError(
                f"{where}: {key!r} is not a tag key Auto Scaling accepts: 1 to 128 characters, not aws:"
            )
        if key in SIMULATOR_TAGS:
            raise ScenarioError(f"{where}: {key} is set by opted_in or alarm, not by tags")
        if not isinstance(value, str) or len(value) > TAG_VALUE_MAX:
            raise ScenarioError(f"{where}.{key} must be a string of at most {TAG_VALUE_MAX} characters")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _events(raw, groups: dict[str, GroupSpec]) -> list[FleetEvent]:
    """The fleet events, in the order they happen (by "at", then as listed)."""
    if not isinstance(raw, list):
        raise ScenarioError("events must be a list of fleet events (objects)")
    placed = sorted(
        enumerate(_event(item, f"events[{n}]", groups) for n, item in enumerate(raw)), key=lambda p: p[1].at
    )
    events = [event for _, event in placed]  # sorted stably: events at the same moment keep their order
    for k, (n, event) in enumerate(placed):
        _check_index(event, events[:k], groups[event.group], f"events[{n}]")
    return events


def _event(raw, where: str, groups: dict[str, GroupSpec]) -> FleetEvent:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where} must be an object")
    at = raw.get("at")
    if isinstance(at, bool) or not isinstance(at, (int, float)) or at < 0:
        raise ScenarioError(f"{where}.at must be a number of virtual seconds from the start (not negative)")
    if raw.get("group") not in groups:
        raise ScenarioError(f"{where}.group must name one of the scenario's groups")
    do = raw.get("do")
    if do not in EVENT_FIELDS:
        raise ScenarioError(f"{where}.do: unknown action {do!r}; known: {', '.join(EVENT_FIELDS)}")
    required, optional = EVENT_FIELDS[do]
    unknown = sorted(set(raw) - {"at", "group", "do", *required, *optional})
    if unknown:
        raise ScenarioError(f"{where}: unknown field {unknown[0]!r} for {do}")
    missing = [key for key in required if key not in raw]
    if missing or (do == "set_size" and not set(raw) & set(optional)):
        raise ScenarioError(f"{where}: {do} needs {missing[0] if missing else 'min_size, max_size or desired'}")
    for key in ("count", "index", "min_size", "max_size", "desired"):
        if key in raw and (not _is_int(raw[key]) or raw[key] < (1 if key == "count" else 0)):
            raise ScenarioError(f"{where}.{key} must be an integer of at least {1 if key == 'count' else 0}")
    event = FleetEvent(**raw)
    if "indexes" in raw:
        indexes = raw["indexes"]
        if not isinstance(indexes, list) or not all(_is_int(i) and i >= 0 for i in indexes):
            raise ScenarioError(f"{where}.indexes must list instance indexes")
        if len(set(indexes)) != len(indexes) or len(indexes) != event.count:
            raise ScenarioError(f"{where}.indexes must name count different instances")
    if do == "unhealthy" and not groups[event.group].load_balanced:
        raise ScenarioError(f"{where}: unhealthy needs a load-balanced group (its target turns unhealthy)")
    if do == "set_size":
        _check_sizes(event, where)
    return event


def _check_sizes(event: FleetEvent, where: str) -> None:
    """What UpdateAutoScalingGroup refuses whatever the group's sizes: MinSize above MaxSize, a desired capacity
    outside the ones given."""
    low = event.min_size if event.min_size is not None else 0
    high = event.max_size if event.max_size is not None else float("inf")
    desired = event.desired if event.desired is not None else low
    if not low <= desired <= high or low > high:
        raise ScenarioError(f"{where}: set_size must keep min_size <= desired <= max_size, as AWS requires")


def _check_index(event: FleetEvent, earlier: list[FleetEvent], spec: GroupSpec, where: str) -> None:
    """An index the group cannot have launched by then is refused, where that is known: when the group cannot
    rebalance its zones (one zone, or AZRebalance suspended), only its earlier events launch instances."""
    indexes = event.indexes or ([event.index] if "index" in EVENT_FIELDS[event.do][0] else [])
    if not indexes or (spec.azs > 1 and "AZRebalance" not in spec.suspended_processes):
        return
    assert spec.max_size is not None  # GroupSpec.__post_init__ sets it
    launches = {"scale_out": lambda e: e.count, "terminate": lambda e: 1, "unhealthy": lambda e: 1}
    bound = spec.instances + sum(
        launches[e.do](e) if e.do in launches else spec.max_size if e.do == "set_size" else 0
        for e in earlier
        if e.group == spec.name
    )
    beyond = [i for i in indexes if i >= bound]
    if beyond:
        raise ScenarioError(f"{where}: index {beyond[0]} of {spec.name} cannot have been launched by then")
