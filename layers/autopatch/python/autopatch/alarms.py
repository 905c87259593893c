"""The CloudWatch alarms a run watches: the input's AlarmNames and each group's AutoPatchAlarmNames tag."""

from . import ALARM_TAG_KEY, groups
from .clients import client
from .errors import InvalidInput

BATCH = 100  # DescribeAlarms takes at most 100 AlarmNames
PAGE = 100  # and returns at most 100 alarms a page (MaxRecords; 50 when not given), with a NextToken for more
# without AlarmTypes, DescribeAlarms returns metric alarms only
TYPES = ["MetricAlarm", "CompositeAlarm"]
SHOWN = 10  # unknown names listed in a refusal


def states(names: list[str]) -> dict[str, str]:
    """name -> StateValue (OK, ALARM, INSUFFICIENT_DATA) of each of the named alarms that exists. Any number of
    names: read 100 names at a time, every page of each."""
    cloudwatch, found = client("cloudwatch"), {}
    unique = sorted(set(names))
    for start in range(0, len(unique), BATCH):
        request = {"AlarmNames": unique[start : start + BATCH], "AlarmTypes": TYPES, "MaxRecords": PAGE}
        while True:
            page = cloudwatch.describe_alarms(**request)
            for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                found[alarm["AlarmName"]] = alarm["StateValue"]
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
    return found


def in_alarm(names: list[str]) -> list[str]:
    """The named alarms in state ALARM, in name order."""
    return sorted(name for name, state in states(names).items() if state == "ALARM")


def require_existing(input_names: list[str], found_groups: list[dict]) -> None:
    """Raise InvalidInput naming every alarm, of the input or of a group's tag, that does not exist: a name
    with a typo would otherwise never be in ALARM, and the gate would watch nothing."""
    wanted = {name: "AlarmNames" for name in input_names}
    for group in found_groups:
        for name in groups.alarm_names(group):
            wanted.setdefault(name, f"the {ALARM_TAG_KEY} tag of group {group['AutoScalingGroupName']!r}")
    if not wanted:
        return
    known = states(list(wanted))
    unknown = [name for name in wanted if name not in known]
    if not unknown:
        return
    listed = ", ".join(f"{name!r} (in {wanted[name]})" for name in unknown[:SHOWN])
    more = f" and {len(unknown) - SHOWN} more" if len(unknown) > SHOWN else ""
    raise InvalidInput(
        f"No CloudWatch metric or composite alarm is named {listed}{more}. Check the spelling and the region: an "
        "alarm that does not exist is never in ALARM, so the run would not be stopped by it. Nothing was changed."
    )
