"""The state machine's input: validation with named errors and the defaults a console `{}` gets."""

import datetime as dt
import time
from dataclasses import asdict, dataclass, replace

from . import NEWCOMER_PASSES, hooks
from .errors import InvalidInput
from .event import shown

OPERATIONS = ("Install", "Scan")
REBOOT_OPTIONS = ("RebootIfNeeded", "NoReboot")
GROUP_NAME_MAX = 255  # AutoScalingGroupName length limit
MAX_GROUPS = 100
MAX_INLINE_MAP_CONCURRENCY = 40  # Step Functions inline Map limit
MAX_KEEP_AMIS = 100
MAX_WINDOW_MINUTES = 1_440  # a day, as a maintenance window's Duration (1 to 24 hours)
MAX_SKIP_HOURS = 8_760  # a year
MAX_SOAK_SECONDS = 86_400  # a day: a soak is a Wait state, but a longer one holds the groups for days


@dataclass(frozen=True)
class RunSettings:
    AutoScalingGroupNames: list[str] | None = None
    Operation: str = "Install"
    RebootOption: str = "RebootIfNeeded"
    MaxErrors: int = 0
    GroupConcurrency: int = 1
    PollIntervalSeconds: int = 5
    CommandTimeoutSeconds: int = 3600
    StandbyTimeoutSeconds: int = 900
    DrainTimeoutSeconds: int = 900
    HealthTimeoutSeconds: int = 600
    LowerMinSize: bool = False
    KeepCapacity: bool = False
    OfflineInstances: str = "refuse"
    DryRun: bool = False
    AlarmNames: list[str] | None = None
    SkipCompliant: bool = False
    BakeAmi: bool = False
    KeepAmis: int = 3
    BakeTimeoutSeconds: int = 3600
    # The maintenance window (autopatch.window): WindowMinutes from the run's start, or EndBy. A new run's EndBy is
    # the time the window closes, whichever of the two gave it; WindowMinutes is 0 when EndBy was given.
    WindowMinutes: int = 0
    EndBy: str | None = None
    SkipPatchedWithinHours: int = 0
    SoakSeconds: int = 0
    CanarySoakSeconds: int = 0
    # {"BeforeStandby": hook, "AfterHealthy": hook}, as given (autopatch.hooks checks it); a group's tags override it
    Hooks: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


# field -> (lowest, highest) for the integer fields
_INT_RANGES = {
    "MaxErrors": (0, 10_000),
    "GroupConcurrency": (1, MAX_INLINE_MAP_CONCURRENCY),
    "PollIntervalSeconds": (1, 300),
    "CommandTimeoutSeconds": (60, 172_800),
    "StandbyTimeoutSeconds": (30, 7_200),
    "DrainTimeoutSeconds": (30, 7_200),
    "HealthTimeoutSeconds": (30, 7_200),
    "KeepAmis": (1, MAX_KEEP_AMIS),
    "BakeTimeoutSeconds": (600, 14_400),
    "WindowMinutes": (0, MAX_WINDOW_MINUTES),  # 0: no window
    "SkipPatchedWithinHours": (0, MAX_SKIP_HOURS),  # 0: patch every instance, however recently patched
    "SoakSeconds": (0, MAX_SOAK_SECONDS),
    "CanarySoakSeconds": (0, MAX_SOAK_SECONDS),
}
_CHOICES = {"Operation": OPERATIONS, "RebootOption": REBOOT_OPTIONS, "OfflineInstances": ("refuse", "skip")}
_BOOLEANS = ("LowerMinSize", "KeepCapacity", "DryRun", "SkipCompliant", "BakeAmi")
ALARM_NAME_MAX = 255
MAX_ALARMS = 100  # DescribeAlarms takes up to 100 names
FIELDS = tuple(RunSettings.__dataclass_fields__)


def parse_run_input(
    raw,
    bake_ami_default: bool = False,
    keep_capacity_default: bool = False,
    window_minutes_default: int = 0,
    skip_patched_default: int = 0,
    now: float | None = None,
) -> RunSettings:
    """Return the validated settings of a new run started at `now` (default: this moment), or raise InvalidInput
    naming the first bad field. What the input does not say is the stack's default: BakeAmi (for runs that install
    patches with a reboot), KeepCapacity, WindowMinutes (unless EndBy is given) and SkipPatchedWithinHours. The
    window is resolved to EndBy, the moment it closes."""
    settings = _parse(raw)
    raw = raw or {}
    if "WindowMinutes" in raw and "EndBy" in raw:
        raise InvalidInput("Give WindowMinutes or EndBy, not both: each says when the window closes.")
    if "KeepCapacity" not in raw:
        settings = replace(settings, KeepCapacity=keep_capacity_default)
    if "SkipPatchedWithinHours" not in raw:
        settings = replace(settings, SkipPatchedWithinHours=skip_patched_default)
    started = time.time() if now is None else now
    if "EndBy" in raw:
        ends = end_by_time(settings.EndBy)
        if not started < ends.timestamp() <= started + MAX_WINDOW_MINUTES * 60:
            raise InvalidInput(
                f"EndBy must be after the run's start ({utc_text(started)}) and at most {MAX_WINDOW_MINUTES} minutes"
                f" later; got {shown(raw['EndBy'])}."
            )
        settings = replace(settings, WindowMinutes=0)
    else:
        minutes = settings.WindowMinutes if "WindowMinutes" in raw else window_minutes_default
        closes = utc_text(started + minutes * 60) if minutes else None
        settings = replace(settings, WindowMinutes=minutes, EndBy=closes)
    if "BakeAmi" not in raw:
        return replace(settings, BakeAmi=bake_ami_default and _can_bake(settings))
    return settings


def _can_bake(settings: RunSettings) -> bool:
    return settings.Operation == "Install" and settings.RebootOption == "RebootIfNeeded"


def _parse(raw) -> RunSettings:
    """Every field checked on its own (the rules between fields are the caller's)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput(f"The input must be a JSON object, not {_type_name(raw)}.")
    unknown = sorted(str(key) for key in raw if key not in FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown field {unknown[0]!r}; the fields are: {', '.join(FIELDS)}.")
    for field, allowed in _CHOICES.items():
        if field in raw and raw[field] not in allowed:
            raise InvalidInput(f"{field} must be one of {', '.join(allowed)}; got {shown(raw[field])}.")
    for field, (low, high) in _INT_RANGES.items():
        if field in raw:
            value = raw[field]
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInput(f"{field} must be an integer; got {shown(value)}.")
            if not low <= value <= high:
                raise InvalidInput(f"{field} must be between {low} and {high}; got {value}.")
    for field in _BOOLEANS:
        if field in raw and not isinstance(raw[field], bool):
            raise InvalidInput(f"{field} must be true or false; got {shown(raw[field])}.")
    if "AutoScalingGroupNames" in raw:
        _check_group_names(raw["AutoScalingGroupNames"])
    if "AlarmNames" in raw:
        _check_names("AlarmNames", raw["AlarmNames"], MAX_ALARMS, ALARM_NAME_MAX, "alarm")
    if "EndBy" in raw:
        end_by_time(raw["EndBy"])
    if "Hooks" in raw:
        hooks.parse_input(raw["Hooks"])
    settings = RunSettings(**raw)
    if settings.BakeAmi and not _can_bake(settings):
        raise InvalidInput(
            "BakeAmi needs Operation Install and RebootOption RebootIfNeeded: an image is taken of a patched "
            "instance, with a reboot."
        )
    return settings


def end_by_time(value) -> dt.datetime:
    """EndBy as a time: ISO 8601 with its zone (Z or an offset, as 2026-01-04T05:00:00+09:00), else InvalidInput."""
    try:
        found = dt.datetime.fromisoformat(value) if isinstance(value, str) and len(value) <= 40 else None
    except ValueError:
        found = None
    if found is None or found.tzinfo is None:
        raise InvalidInput(
            "EndBy must be an ISO 8601 time with its zone (Z or an offset such as +09:00), for example "
            f"2026-01-04T05:00:00Z; got {shown(value)}."
        )
    return found


def utc_text(seconds: float) -> str:
    """Epoch seconds as ISO 8601 in UTC, to the second: 2026-01-04T05:00:00Z."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_group_names(names) -> None:
    _check_names("AutoScalingGroupNames", names, MAX_GROUPS, GROUP_NAME_MAX, "group")


def _check_names(field: str, names, most: int, longest: int, what: str) -> None:
    if not isinstance(names, list) or not names:
        raise InvalidInput(f"{field} must be a non-empty list of {what} names; got {shown(names)}.")
    if len(names) > most:
        raise InvalidInput(f"{field} may name at most {most} {what}s; got {len(names)}.")
    for name in names:
        if not isinstance(name, str) or not 1 <= len(name) <= longest:
            raise InvalidInput(f"{field} entries must be {what} names of 1 to {longest} characters; got {shown(name)}.")
    if len(set(names)) != len(names):
        raise InvalidInput(f"{field} names a {what} more than once.")


def _type_name(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer"}.get(
        type(value), type(value).__name__
    )


def parse_continuation(raw) -> dict:
    """The input a run gives the next execution of itself ({"Continuation": {...}}), checked like any input."""
    if not isinstance(raw, dict):
        raise InvalidInput("Continuation must be an object.")
    expected = {
        "RunId": str,
        "Part": int,
        "Offset": int,
        "PreviousExecutionArn": str,
        "SnapshotId": str,
        "Settings": dict,
        "GroupNames": list,
        "Recovered": list,
    }
    optional = {"Pass": int}  # newcomer passes; a run's continuation from before them has none (pass 0)
    unknown = sorted(str(key) for key in raw if key not in expected and key not in optional)
    if unknown:
        raise InvalidInput(f"Continuation: unknown field {unknown[0]!r}.")
    for key, kind in expected.items():
        value = raw.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidInput(f"Continuation.{key} must be {_type_name(kind())}.")
    number = raw.get("Pass", 0)
    if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= NEWCOMER_PASSES:
        raise InvalidInput(f"Continuation.Pass must be an integer from 0 to {NEWCOMER_PASSES}.")
    if raw["Part"] < 2 or raw["Offset"] < (1 if number == 0 else 0):
        raise InvalidInput(
            "Continuation.Part must be at least 2 and Continuation.Offset at least 1 (0 to start a newcomer pass)."
        )
    settings = parse_continuation_settings(raw["Settings"])
    _check_group_names(raw["GroupNames"])
    return {**raw, "Settings": settings}


def parse_continuation_settings(settings: dict) -> dict:
    """Settings as the first execution normalized them (unset lists are None or []), checked again. A field
    the run's first execution did not know (it started before an upgrade) gets its default."""
    given = _parse({k: v for k, v in settings.items() if v is not None and v != []})
    return {**given.to_dict(), **settings}
