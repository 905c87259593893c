"""Reading the alarms a run watches (autopatch.alarms): any number of names, every page, and a refusal that
names each alarm that does not exist. DescribeAlarms is faked as AWS documents it: at most 100 AlarmNames a
call, at most MaxRecords alarms a page (50 when not given) and a NextToken for the rest."""

import json

import pytest

from autopatch import alarms
from autopatch.errors import InvalidInput


class CloudWatch:
    def __init__(self, existing: dict[str, str], composite: tuple = ()):
        self.existing, self.composite, self.calls = existing, set(composite), []

    def describe_alarms(self, AlarmNames, AlarmTypes=("MetricAlarm",), MaxRecords=50, NextToken=None):
        if len(AlarmNames) > 100:
            raise AssertionError("ValidationError: AlarmNames has more than 100 members")
        self.calls.append(list(AlarmNames))
        matching = [n for n in sorted(self.existing) if n in AlarmNames]
        matching = [n for n in matching if ("CompositeAlarm" if n in self.composite else "MetricAlarm") in AlarmTypes]
        start = int(NextToken or 0)
        page = matching[start : start + MaxRecords]
        answer = {
            "MetricAlarms": [{"AlarmName": n, "StateValue": self.existing[n]} for n in page if n not in self.composite],
            "CompositeAlarms": [{"AlarmName": n, "StateValue": self.existing[n]} for n in page if n in self.composite],
        }
        if start + MaxRecords < len(matching):
            answer["NextToken"] = str(start + MaxRecords)
        return answer


@pytest.fixture
def cloudwatch(monkeypatch):
    def make(existing, composite=()):
        fake = CloudWatch(existing, composite)
        monkeypatch.setattr(alarms, "client", lambda service: fake)
        return fake

    return make


def group(name, tag=None):
    tags = [{"Key": "AutoPatchAlarmNames", "Value": tag}] if tag is not None else []
    return {"AutoScalingGroupName": name, "Tags": tags}


@pytest.mark.parametrize("count", [1, 50, 51, 100, 101, 250])
def test_every_named_alarm_is_read_whatever_their_number(cloudwatch, count):
    # Given `count` alarms, the last one in ALARM
    names = [f"alarm-{n:03d}" for n in range(count)]
    fake = cloudwatch({name: "OK" for name in names} | {names[-1]: "ALARM"})
    # When their states are read
    found = alarms.states(names)
    # Then every one is found, in calls of at most 100 names, and the one in ALARM is seen
    assert set(found) == set(names)
    assert max(len(call) for call in fake.calls) <= 100
    assert alarms.in_alarm(names) == [names[-1]]


def test_composite_alarms_are_read_too(cloudwatch):
    cloudwatch({"app-health": "ALARM", "cpu-high": "OK"}, composite=("app-health",))
    assert alarms.in_alarm(["app-health", "cpu-high"]) == ["app-health"]


def test_a_name_given_twice_is_read_once(cloudwatch):
    fake = cloudwatch({"cpu-high": "OK"})
    alarms.states(["cpu-high", "cpu-high"])
    assert fake.calls == [["cpu-high"]]


def test_names_that_all_exist_pass(cloudwatch):
    cloudwatch({"cpu-high": "OK", "web-5xx": "ALARM"})
    alarms.require_existing(["cpu-high"], [group("web", "web-5xx"), group("api")])


@pytest.mark.parametrize(
    ("input_names", "groups", "named"),
    [
        (["cpu-high", "cpu-hihg"], [], "'cpu-hihg' (in AlarmNames)"),
        ([], [group("web", "web-5xx, web-5xxx")], "'web-5xxx' (in the AutoPatchAlarmNames tag of group 'web')"),
        (["CPU-high"], [], "'CPU-high' (in AlarmNames)"),
    ],
    ids=["input-typo", "group-tag-typo", "case"],
)
def test_an_alarm_that_does_not_exist_is_refused_by_name(cloudwatch, input_names, groups, named):
    cloudwatch({"cpu-high": "OK", "web-5xx": "OK"})
    with pytest.raises(InvalidInput) as refused:
        alarms.require_existing(input_names, groups)
    message = str(refused.value)
    assert named in message and "Nothing was changed." in message
    assert "'cpu-high'" not in message and "'web-5xx'" not in message


def test_many_unknown_alarms_are_listed_up_to_ten(cloudwatch):
    cloudwatch({})
    with pytest.raises(InvalidInput, match=r"'x-09' \(in AlarmNames\) and 2 more\.") as refused:
        alarms.require_existing([f"x-{n:02d}" for n in range(12)], [])
    assert "'x-10'" not in str(refused.value)


def test_no_alarm_named_means_no_call(cloudwatch):
    fake = cloudwatch({})
    alarms.require_existing([], [group("web")])
    assert fake.calls == []
    assert json.dumps(alarms.states([])) == "{}"
