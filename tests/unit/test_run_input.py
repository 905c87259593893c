"""The run's input (run_input.parse_run_input) and a handler's event fields (event.field, event.instance_id)."""

import pytest

from autopatch.errors import InvalidInput
from autopatch.event import field, instance_id
from autopatch.run_input import FIELDS, RunSettings, parse_continuation, parse_run_input
from autopatch.runs import continuation_name

DEFAULTS = {
    "AutoScalingGroupNames": None,
    "Operation": "Install",
    "RebootOption": "RebootIfNeeded",
    "MaxErrors": 0,
    "GroupConcurrency": 1,
    "PollIntervalSeconds": 5,
    "CommandTimeoutSeconds": 3600,
    "StandbyTimeoutSeconds": 900,
    "DrainTimeoutSeconds": 900,
    "HealthTimeoutSeconds": 600,
    "LowerMinSize": False,
    "KeepCapacity": False,
    "OfflineInstances": "refuse",
    "DryRun": False,
    "AlarmNames": None,
    "SkipCompliant": False,
    "BakeAmi": False,
    "KeepAmis": 3,
    "BakeTimeoutSeconds": 3600,
    "WindowMinutes": 0,
    "EndBy": None,
    "SkipPatchedWithinHours": 0,
    "SoakSeconds": 0,
    "CanarySoakSeconds": 0,
    "Hooks": None,
}


# --- parse_run_input: what a console `{}` gets -------------------------------------------------------


@pytest.mark.parametrize("raw", [{}, None], ids=["empty object", "no input"])
def test_empty_input_gets_the_defaults(raw):
    # Given the console's empty input (or none at all)
    # When it is parsed
    settings = parse_run_input(raw)
    # Then every setting has its documented default, and the Map reads them from to_dict()
    assert settings == RunSettings()
    assert settings.to_dict() == DEFAULTS
    assert set(FIELDS) == set(DEFAULTS)


def test_every_field_set_within_its_range_is_kept():
    # Given an input that sets every field to an allowed value
    raw = {
        "AutoScalingGroupNames": ["web", "api"],
        "Operation": "Scan",
        "RebootOption": "NoReboot",
        "MaxErrors": 2,
        "GroupConcurrency": 40,
        "PollIntervalSeconds": 300,
        "CommandTimeoutSeconds": 172_800,
        "StandbyTimeoutSeconds": 30,
        "DrainTimeoutSeconds": 7_200,
        "HealthTimeoutSeconds": 7_200,
        "LowerMinSize": True,
        "KeepCapacity": True,
        "OfflineInstances": "skip",
        "DryRun": True,
        "AlarmNames": ["cpu-high", "5xx-rate"],
        "SkipCompliant": True,
        "BakeAmi": False,
        "KeepAmis": 100,
        "BakeTimeoutSeconds": 14_400,
        "WindowMinutes": 0,
        "SkipPatchedWithinHours": 8_760,
        "SoakSeconds": 86_400,
        "CanarySoakSeconds": 0,
        "Hooks": {
            "BeforeStandby": {"DocumentName": "MyApp-GracefulStop", "Parameters": {"seconds": ["30"]}},
            "AfterHealthy": {"FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:smoke-test:live"},
        },
    }
    # When it is parsed
    settings = parse_run_input(raw)
    # Then the settings are exactly the input, group order included (no window: no EndBy)
    assert settings.to_dict() == {**raw, "EndBy": None}


def test_parsing_twice_gives_equal_settings_and_leaves_the_input_alone():
    # Given an input
    raw = {"AutoScalingGroupNames": ["web"], "MaxErrors": 1}
    # When it is parsed twice
    first, second = parse_run_input(raw), parse_run_input(raw)
    # Then both results are equal and the input was not modified
    assert first == second
    assert raw == {"AutoScalingGroupNames": ["web"], "MaxErrors": 1}


# --- parse_run_input: each bad input names its field -------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "named", "detail"),
    [
        ({"MaxError": 1}, "'MaxError'", "Unknown field"),
        ({"Groups": ["web"]}, "'Groups'", "the fields are: AutoScalingGroupNames"),
        ({"MaxErrors": True}, "MaxErrors", "must be an integer; got True"),
        ({"MaxErrors": "1"}, "MaxErrors", "must be an integer; got '1'"),
        ({"MaxErrors": 1.0}, "MaxErrors", "must be an integer; got 1.0"),
        ({"MaxErrors": None}, "MaxErrors", "must be an integer; got None"),
        ({"MaxErrors": -1}, "MaxErrors", "between 0 and 10000; got -1"),
        ({"GroupConcurrency": 0}, "GroupConcurrency", "between 1 and 40; got 0"),
        ({"GroupConcurrency": 41}, "GroupConcurrency", "between 1 and 40; got 41"),
        ({"PollIntervalSeconds": 0}, "PollIntervalSeconds", "between 1 and 300; got 0"),
        ({"PollIntervalSeconds": 301}, "PollIntervalSeconds", "between 1 and 300; got 301"),
        ({"CommandTimeoutSeconds": 59}, "CommandTimeoutSeconds", "between 60 and 172800"),
        ({"StandbyTimeoutSeconds": 7_201}, "StandbyTimeoutSeconds", "between 30 and 7200"),
        ({"DrainTimeoutSeconds": 29}, "DrainTimeoutSeconds", "between 30 and 7200"),
        ({"DrainTimeoutSeconds": 7_201}, "DrainTimeoutSeconds", "between 30 and 7200"),
        ({"HealthTimeoutSeconds": False}, "HealthTimeoutSeconds", "must be an integer"),
        ({"RebootOption": "Sometimes"}, "RebootOption", "one of RebootIfNeeded, NoReboot; got 'Sometimes'"),
        ({"Operation": "Patch"}, "Operation", "one of Install, Scan; got 'Patch'"),
        ({"Operation": "install"}, "Operation", "got 'install'"),
        ({"OfflineInstances": "ignore"}, "OfflineInstances", "one of refuse, skip; got 'ignore'"),
        ({"LowerMinSize": "yes"}, "LowerMinSize", "must be true or false; got 'yes'"),
        ({"DryRun": 1}, "DryRun", "must be true or false; got 1"),
        ({"SkipCompliant": "no"}, "SkipCompliant", "must be true or false; got 'no'"),
        ({"AutoScalingGroupNames": []}, "AutoScalingGroupNames", "non-empty list"),
        ({"AutoScalingGroupNames": "web"}, "AutoScalingGroupNames", "non-empty list of group names; got 'web'"),
        ({"AutoScalingGroupNames": ["web", "web"]}, "AutoScalingGroupNames", "more than once"),
        ({"AutoScalingGroupNames": ["web", ""]}, "AutoScalingGroupNames", "1 to 255 characters; got ''"),
        ({"AutoScalingGroupNames": ["web", 7]}, "AutoScalingGroupNames", "got 7"),
        ({"AutoScalingGroupNames": ["g" * 256]}, "AutoScalingGroupNames", "1 to 255 characters"),
        ({"AutoScalingGroupNames": [f"g{n}" for n in range(101)]}, "AutoScalingGroupNames", "at most 100"),
        ({"AlarmNames": []}, "AlarmNames", "non-empty list of alarm names; got []"),
        ({"AlarmNames": "cpu-high"}, "AlarmNames", "non-empty list of alarm names; got 'cpu-high'"),
        ({"AlarmNames": ["cpu-high", ""]}, "AlarmNames", "alarm names of 1 to 255 characters; got ''"),
        ({"AlarmNames": ["cpu-high", "cpu-high"]}, "AlarmNames", "names a alarm more than once"),
        ({"AlarmNames": [f"a{n}" for n in range(101)]}, "AlarmNames", "at most 100 alarms"),
        ({"BakeAmi": "true"}, "BakeAmi", "must be true or false; got 'true'"),
        ({"KeepAmis": 0}, "KeepAmis", "between 1 and 100; got 0"),
        ({"KeepAmis": 101}, "KeepAmis", "between 1 and 100; got 101"),
        ({"BakeTimeoutSeconds": 599}, "BakeTimeoutSeconds", "between 600 and 14400"),
        ({"SoakSeconds": -1}, "SoakSeconds", "between 0 and 86400; got -1"),
        ({"SoakSeconds": 86_401}, "SoakSeconds", "between 0 and 86400; got 86401"),
        ({"SoakSeconds": "600"}, "SoakSeconds", "must be an integer; got '600'"),
        ({"CanarySoakSeconds": True}, "CanarySoakSeconds", "must be an integer; got True"),
        ({"CanarySoakSeconds": 90_000}, "CanarySoakSeconds", "between 0 and 86400; got 90000"),
        ({"BakeAmi": True, "Operation": "Scan"}, "BakeAmi", "needs Operation Install and RebootOption"),
        ({"BakeAmi": True, "RebootOption": "NoReboot"}, "BakeAmi", "RebootOption RebootIfNeeded"),
    ],
)
def test_a_bad_field_raises_invalid_input_naming_it(raw, named, detail):
    # Given an input with one bad field
    # When it is parsed
    with pytest.raises(InvalidInput) as caught:
        parse_run_input(raw)
    # Then the error names the field and says what is wrong with it
    assert named in str(caught.value)
    assert detail in str(caught.value)


@pytest.mark.parametrize("raw", [[], "web", 3, True])
def test_input_that_is_not_an_object_is_rejected(raw):
    # Given an input that is not a JSON object
    # When it is parsed
    # Then it is refused, saying what it should be
    with pytest.raises(InvalidInput, match="must be a JSON object"):
        parse_run_input(raw)


def test_a_huge_bad_value_is_not_echoed_in_full():
    # Given a bad value thousands of characters long
    # When it is parsed
    with pytest.raises(InvalidInput) as caught:
        parse_run_input({"Operation": "x" * 5_000})
    # Then the message names the field but shows only the start of the value
    assert str(caught.value).startswith("Operation must be one of")
    assert len(str(caught.value)) < 200


# --- parse_continuation: the input a run gives its next execution -----------------------------------


def continuation(**overrides):
    """What continue_run passes on: the settings as the first execution normalized them."""
    settings = {**RunSettings(AutoScalingGroupNames=["web"]).to_dict(), "AlarmNames": []}
    return {
        "RunId": "run-1",
        "Part": 2,
        "Offset": 44,
        "PreviousExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:RollingPatch:run-1",
        "SnapshotId": "0b4e7c2a-1d9f-5a3e-8c71-2f6d9e0a4b13",
        "Settings": settings,
        "GroupNames": ["web"],
        "Recovered": [],
        **overrides,
    }


def test_a_continuation_is_accepted_as_it_was_given():
    # Given the continuation of part 1 (unset lists as None or [], as the first execution normalized them)
    raw = continuation()
    # When it is parsed
    # Then it comes back unchanged
    assert parse_continuation(raw) == continuation()


@pytest.mark.parametrize("number", [1, 2, 3])
def test_a_continuation_that_starts_a_newcomer_pass_is_accepted_at_offset_0(number):
    # Given the continuation of a run whose pass ended, to patch newcomer pass `number` from its start
    raw = continuation(Pass=number, Offset=0)
    # When it is parsed
    # Then it comes back unchanged
    assert parse_continuation(raw) == raw


OFFSET_RULE = "Continuation.Part must be at least 2 and Continuation.Offset at least 1 (0 to start a newcomer pass)."


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Part": 1}, OFFSET_RULE),
        ({"Offset": 0}, OFFSET_RULE),
        ({"Pass": 1, "Offset": -1}, OFFSET_RULE),
        ({"Pass": 4}, "Continuation.Pass must be an integer from 0 to 3."),
        ({"Pass": True}, "Continuation.Pass must be an integer from 0 to 3."),
        ({"Part": True}, "Continuation.Part must be an integer."),
        ({"SnapshotId": None}, "Continuation.SnapshotId must be a string."),
        ({"Recovered": {}}, "Continuation.Recovered must be a list."),
        ({"Extra": 1}, "Continuation: unknown field 'Extra'."),
        ({"GroupNames": []}, "AutoScalingGroupNames must be a non-empty list of group names; got []."),
    ],
)
def test_a_bad_continuation_is_refused_naming_the_field(overrides, message):
    # Given a continuation with one bad field
    # When it is parsed
    # Then InvalidInput names it
    with pytest.raises(InvalidInput) as caught:
        parse_continuation(continuation(**overrides))
    assert str(caught.value) == message


def test_a_continuation_settings_are_checked_like_a_run_input():
    # Given a continuation whose settings were tampered with
    raw = continuation()
    raw["Settings"]["MaxErrors"] = -1
    # When it is parsed
    # Then the setting is refused by name
    with pytest.raises(InvalidInput, match=r"^MaxErrors must be between 0 and 10000; got -1\.$"):
        parse_continuation(raw)


def test_a_continuation_is_named_after_the_run_and_part_within_80_characters():
    # Given a short run id and one of the longest execution names (80 characters)
    long_run = "r" * 80
    # When the next executions are named
    # Then the name is the run's plus the part, cut so the whole fits Step Functions' 80 characters
    assert continuation_name("run-1", 2) == "run-1-part2"
    assert continuation_name(long_run, 12) == "r" * 73 + "-part12"
    assert len(continuation_name(long_run, 12)) == 80


# --- event.field / event.instance_id: the edge of every handler --------------------------------------


def test_field_returns_a_present_value_and_the_default_for_a_missing_or_null_one():
    # Given an event with some fields present and one null
    event = {"RunId": "run-1", "MaxErrors": 0, "CommandId": None}
    # When fields are read
    # Then present ones come back, and a missing or null field with a default gets the default
    assert field(event, "RunId", str) == "run-1"
    assert field(event, "MaxErrors", int) == 0
    assert field(event, "CommandId", str, None) is None
    assert field(event, "Cause", str, "") == ""


@pytest.mark.parametrize(
    ("event", "name", "kind", "message"),
    [
        ({}, "RunId", str, "RunId is required."),
        ({"RunId": None}, "RunId", str, "RunId must be a string."),
        ({"RunId": ""}, "RunId", str, "RunId must be a string."),
        ({"RunId": 5}, "RunId", str, "RunId must be a string."),
        ({"MaxErrors": True}, "MaxErrors", int, "MaxErrors must be an integer."),
        ({"MaxErrors": "0"}, "MaxErrors", int, "MaxErrors must be an integer."),
        ({"Groups": {}}, "Groups", list, "Groups must be a list."),
        ({"ReturnedToService": "yes"}, "ReturnedToService", bool, "ReturnedToService must be a boolean."),
        ([], "RunId", str, "The event must be a JSON object."),
    ],
)
def test_field_raises_invalid_input_naming_the_field(event, name, kind, message):
    # Given an event whose field is missing or of the wrong type
    # When it is read
    # Then InvalidInput names the field
    with pytest.raises(InvalidInput) as caught:
        field(event, name, kind)
    assert str(caught.value) == message


@pytest.mark.parametrize("value", ["i-0123abcd", "i-0123456789abcdef0"])
def test_instance_id_accepts_short_and_long_ec2_ids(value):
    # Given an 8- or 17-digit instance id
    # When it is read
    # Then it comes back unchanged
    assert instance_id({"InstanceId": value}) == value


@pytest.mark.parametrize(
    "value", ["web-1", "i-0123abc", "i-0123456789abcdef01", "i-0123456789ABCDEF0", "i-0123456789abcdefg", "0123abcd01"]
)
def test_instance_id_rejects_anything_else(value):
    # Given something that is not an EC2 instance id
    # When it is read
    # Then InvalidInput names InstanceId and shows what one looks like
    with pytest.raises(InvalidInput, match=r"InstanceId must be an EC2 instance id such as i-0123456789abcdef0\."):
        instance_id({"InstanceId": value})


# --- BakeAmi: the stack's default (parameter BakeAmiDefault) --------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, True),
        ({"BakeAmi": False}, False),
        ({"Operation": "Scan"}, False),
        ({"RebootOption": "NoReboot"}, False),
    ],
    ids=["not given", "turned off by the input", "a scan", "no reboot"],
)
def test_the_stack_default_bakes_only_runs_that_install_with_a_reboot(raw, expected):
    # Given a stack whose BakeAmiDefault is true
    # When an input is parsed
    settings = parse_run_input(raw, bake_ami_default=True)
    # Then it bakes unless the input says otherwise or the run cannot bake (no install, or no reboot)
    assert settings.BakeAmi is expected


def test_the_stack_default_off_bakes_only_when_asked():
    # Given a stack whose BakeAmiDefault is false (its default)
    # Then a run bakes only when its input asks
    assert parse_run_input({}).BakeAmi is False
    assert parse_run_input({"BakeAmi": True}).BakeAmi is True


# --- KeepCapacity: the stack's default (parameter KeepCapacityDefault) ------------------------------------


@pytest.mark.parametrize(
    ("stack_default", "raw", "expected"),
    [
        (False, {}, False),
        (True, {}, True),
        (True, {"KeepCapacity": False}, False),
        (False, {"KeepCapacity": True}, True),
        (True, {"Operation": "Scan"}, True),
    ],
    ids=["off, not given", "on, not given", "on, turned off by the input", "off, asked by the input", "a scan"],
)
def test_keep_capacity_is_the_input_s_or_else_the_stack_default(stack_default, raw, expected):
    # Given a stack whose KeepCapacityDefault is stack_default
    # When an input is parsed
    settings = parse_run_input(raw, keep_capacity_default=stack_default)
    # Then KeepCapacity is the input's when it says, the stack's otherwise (a scan takes nothing out: it adds nothing)
    assert settings.KeepCapacity is expected


@pytest.mark.parametrize("value", ["true", 1, None, [], "yes"])
def test_keep_capacity_must_be_a_boolean(value):
    # Given an input whose KeepCapacity is not true or false
    # Then it is refused, naming the field
    with pytest.raises(InvalidInput, match=r"^KeepCapacity must be true or false; got "):
        parse_run_input({"KeepCapacity": value})


# --- the window: WindowMinutes or EndBy, and SkipPatchedWithinHours -------------------------------------------

START = 1_767_495_600  # 2026-01-04T03:00:00Z


@pytest.mark.parametrize(("minutes", "closes"), [(1, "03:01:00"), (90, "04:30:00"), (1_440, "2026-01-05T03:00:00")])
def test_window_minutes_close_the_window_that_long_after_the_start(minutes, closes):
    # When a run that starts at 03:00 UTC is given WindowMinutes
    settings = parse_run_input({"WindowMinutes": minutes}, now=START)
    # Then its window closes that long after, in UTC
    expected = closes if closes.startswith("2026") else f"2026-01-04T{closes}"
    assert (settings.WindowMinutes, settings.EndBy) == (minutes, f"{expected}Z")


@pytest.mark.parametrize(
    "end_by", ["2026-01-04T05:00:00Z", "2026-01-04T14:00:00+09:00", "2026-01-04T00:00:00-05:00", "2026-01-04T03:00:01Z"]
)
def test_end_by_is_kept_as_given_in_its_zone(end_by):
    settings = parse_run_input({"EndBy": end_by}, window_minutes_default=240, now=START)
    # the stack's default window does not apply: EndBy says when the window closes
    assert (settings.WindowMinutes, settings.EndBy) == (0, end_by)


@pytest.mark.parametrize(
    ("raw", "defaults", "expected"),
    [
        ({}, {}, (0, None, 0)),
        ({}, {"window_minutes_default": 240, "skip_patched_default": 72}, (240, "2026-01-04T07:00:00Z", 72)),
        ({"WindowMinutes": 0}, {"window_minutes_default": 240}, (0, None, 0)),
        ({"SkipPatchedWithinHours": 0}, {"skip_patched_default": 72}, (0, None, 0)),
        (
            {"WindowMinutes": 30, "SkipPatchedWithinHours": 1},
            {"window_minutes_default": 240},
            (30, "2026-01-04T03:30:00Z", 1),
        ),
    ],
    ids=["no defaults", "the stack's defaults", "no window asked", "no skip asked", "the input's own"],
)
def test_the_stack_defaults_apply_where_the_input_says_nothing(raw, defaults, expected):
    settings = parse_run_input(raw, **defaults, now=START)
    assert (settings.WindowMinutes, settings.EndBy, settings.SkipPatchedWithinHours) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"WindowMinutes": 1441}, "WindowMinutes must be between 0 and 1440; got 1441."),
        ({"WindowMinutes": -5}, "WindowMinutes must be between 0 and 1440; got -5."),
        ({"WindowMinutes": 2.5}, "WindowMinutes must be an integer; got 2.5."),
        ({"WindowMinutes": True}, "WindowMinutes must be an integer; got True."),
        ({"EndBy": "2026-01-04T03:00:00Z"}, "EndBy must be after the run's start (2026-01-04T03:00:00Z)"),
        ({"EndBy": "2026-01-03T21:00:00-05:00"}, "EndBy must be after the run's start"),  # 02:00 UTC
        ({"EndBy": "2026-01-05T03:00:01Z"}, "and at most 1440 minutes later"),
        ({"EndBy": "2026-01-04T05:00:00"}, "EndBy must be an ISO 8601 time with its zone"),
        ({"EndBy": "05:00"}, "EndBy must be an ISO 8601 time with its zone"),
        ({"EndBy": "Sunday 5am"}, "EndBy must be an ISO 8601 time with its zone"),
        ({"EndBy": 1767502800}, "EndBy must be an ISO 8601 time with its zone"),
        ({"EndBy": None}, "EndBy must be an ISO 8601 time with its zone"),
        ({"EndBy": "2026-01-04T05:00:00Z" + " " * 40}, "EndBy must be an ISO 8601 time with its zone"),
        ({"WindowMinutes": 60, "EndBy": "2026-01-04T05:00:00Z"}, "Give WindowMinutes or EndBy, not both"),
        ({"SkipPatchedWithinHours": 8761}, "SkipPatchedWithinHours must be between 0 and 8760; got 8761."),
        ({"SkipPatchedWithinHours": "24"}, "SkipPatchedWithinHours must be an integer; got '24'."),
    ],
)
def test_a_bad_window_raises_invalid_input_naming_the_field(raw, message):
    with pytest.raises(InvalidInput) as error:
        parse_run_input(raw, now=START)
    assert message in str(error.value)


def test_a_continuation_keeps_the_window_its_run_started_with_even_once_it_has_closed():
    # Given the settings of a run started with a 60-minute window, continued after the window closed
    settings = {**parse_run_input({"WindowMinutes": 60}, now=START).to_dict(), "AlarmNames": []}
    continuation = {
        "RunId": "run-1",
        "Part": 2,
        "Offset": 3,
        "PreviousExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:m:run-1",
        "SnapshotId": "s",
        "Settings": settings,
        "GroupNames": ["web"],
        "Recovered": [],
    }
    # Then its next execution keeps both, unchanged
    kept = parse_continuation(continuation)["Settings"]
    assert (kept["WindowMinutes"], kept["EndBy"]) == (60, "2026-01-04T04:00:00Z")
