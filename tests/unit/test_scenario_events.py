"""Scenario fields for a moving fleet: the top-level fleet events, a group's zones, launch hook and warm pool."""

import pytest

from simulator.scenario import FleetEvent, ScenarioError, parse_scenario


def scenario(events, **group):
    return parse_scenario(
        {"groups": [{"name": "web", "instances": 4, "max_size": 8, **group}, {"name": "api"}], "events": events}
    )


def test_events_are_kept_in_the_order_they_happen_those_at_one_moment_as_listed():
    # Given events listed out of time order, two at the same moment
    events = [
        {"at": 300, "group": "web", "do": "terminate", "index": 2},
        {"at": 0, "group": "api", "do": "scale_out", "count": 2},
        {"at": 300, "group": "web", "do": "unhealthy", "index": 1},
        {"at": 12.5, "group": "web", "do": "set_size", "min_size": 2, "desired": 5},
        {"at": 60, "group": "web", "do": "scale_in", "count": 2, "indexes": [3, 0]},
        {"at": 450, "group": "api", "do": "delete_hold"},
        {"at": 30, "group": "web", "do": "start_instance_refresh"},
        {"at": 370, "group": "web", "do": "exit_standby", "index": 2},
        {"at": 100, "group": "web", "do": "enter_standby", "index": 2},
    ]
    # When the scenario is parsed
    parsed = scenario(events).events
    # Then they are sorted by time, stably, with every field
    assert parsed == [
        FleetEvent(0, "api", "scale_out", count=2),
        FleetEvent(12.5, "web", "set_size", min_size=2, desired=5),
        FleetEvent(30, "web", "start_instance_refresh"),
        FleetEvent(60, "web", "scale_in", count=2, indexes=[3, 0]),
        FleetEvent(100, "web", "enter_standby", index=2),
        FleetEvent(300, "web", "terminate", index=2),
        FleetEvent(300, "web", "unhealthy", index=1),
        FleetEvent(370, "web", "exit_standby", index=2),
        FleetEvent(450, "api", "delete_hold"),
    ]


def test_a_group_has_two_zones_no_launch_hook_and_healthy_launches_unless_told():
    # Given groups with and without the fields
    # When parsed
    default = scenario([]).groups[0]
    told = scenario([], azs=3, launch_hook_seconds=90, launches_unhealthy=True).groups[0]
    # Then
    assert (default.azs, default.launch_hook_seconds, default.launches_unhealthy) == (2, 0, False)
    assert (told.azs, told.launch_hook_seconds, told.launches_unhealthy) == (3, 90, True)


@pytest.mark.parametrize(
    ("pool", "kept"),
    [
        (None, None),
        ({"size": 3}, {"size": 3}),
        ({"size": 0, "state": "Running"}, {"size": 0, "state": "Running"}),
        ({"size": 2, "state": "Hibernated"}, {"size": 2, "state": "Hibernated"}),
    ],
)
def test_a_group_has_a_warm_pool_only_when_told(pool, kept):
    # Given a group with or without a warm pool
    # When parsed
    parsed = scenario([], **({} if pool is None else {"warm_pool": pool})).groups[0]
    # Then the pool is kept as given (its state Stopped unless told, as PutWarmPool's PoolState)
    assert parsed.warm_pool == kept


@pytest.mark.parametrize(
    ("events", "group", "named"),
    [
        ({"at": 0}, {}, "events must be a list"),
        (["scale_out"], {}, r"events\[0\] must be an object"),
        ([{"group": "web", "do": "scale_out", "count": 1}], {}, r"events\[0\]\.at"),
        ([{"at": -1, "group": "web", "do": "scale_out", "count": 1}], {}, r"events\[0\]\.at"),
        ([{"at": True, "group": "web", "do": "scale_out", "count": 1}], {}, r"events\[0\]\.at"),
        ([{"at": 0, "group": "db", "do": "scale_out", "count": 1}], {}, r"events\[0\]\.group"),
        ([{"at": 0, "group": "web", "do": "reboot", "index": 1}], {}, r"events\[0\]\.do: unknown action 'reboot'"),
        ([{"at": 0, "group": "web", "do": "scale_out"}], {}, r"events\[0\]: scale_out needs count"),
        ([{"at": 0, "group": "web", "do": "scale_out", "count": 0}], {}, r"events\[0\]\.count"),
        ([{"at": 0, "group": "web", "do": "scale_in", "count": -2}], {}, r"events\[0\]\.count"),
        ([{"at": 0, "group": "web", "do": "scale_out", "count": 1.5}], {}, r"events\[0\]\.count"),
        ([{"at": 0, "group": "web", "do": "scale_out", "count": 1, "index": 0}], {}, r"unknown field 'index'"),
        ([{"at": 0, "group": "web", "do": "terminate"}], {}, r"events\[0\]: terminate needs index"),
        ([{"at": 0, "group": "web", "do": "terminate", "index": -1}], {}, r"events\[0\]\.index"),
        ([{"at": 0, "group": "web", "do": "scale_in", "count": 2, "indexes": [1]}], {}, r"events\[0\]\.indexes"),
        ([{"at": 0, "group": "web", "do": "scale_in", "count": 2, "indexes": [1, 1]}], {}, r"events\[0\]\.indexes"),
        ([{"at": 0, "group": "web", "do": "scale_in", "count": 1, "indexes": ["1"]}], {}, r"events\[0\]\.indexes"),
        ([{"at": 0, "group": "web", "do": "set_size"}], {}, r"set_size needs min_size, max_size or desired"),
        ([{"at": 0, "group": "web", "do": "set_size", "min_size": 5, "max_size": 4}], {}, r"min_size <= desired"),
        ([{"at": 0, "group": "web", "do": "set_size", "desired": 9, "max_size": 8}], {}, r"min_size <= desired"),
        ([{"at": 0, "group": "web", "do": "set_size", "min_size": 3, "desired": 2}], {}, r"min_size <= desired"),
        ([{"at": 0, "group": "web", "do": "unhealthy", "index": 0}], {"load_balanced": False}, "load-balanced"),
        ([], {"azs": 0}, r"groups\[0\]\.azs"),
        ([], {"azs": 7}, r"groups\[0\]\.azs"),
        ([], {"launch_hook_seconds": -5}, r"groups\[0\]\.launch_hook_seconds"),
        ([], {"launches_unhealthy": 1}, r"groups\[0\]\.launches_unhealthy must be bool"),
        ([], {"launches_unhealthy": "yes"}, r"groups\[0\]\.launches_unhealthy must be bool"),
        ([], {"launches_unhealthy": True, "load_balanced": False}, r"launches_unhealthy needs a load-balanced"),
        ([{"at": 0, "group": "web", "do": "start_instance_refresh", "index": 1}], {}, r"unknown field 'index' for"),
        ([{"at": 0, "group": "db", "do": "start_instance_refresh"}], {}, r"events\[0\]\.group"),
        ([{"at": 0, "group": "web", "do": "delete_hold", "count": 1}], {}, r"unknown field 'count' for delete_hold"),
        ([{"at": 0, "group": "web", "do": "enter_standby"}], {}, r"events\[0\]: enter_standby needs index"),
        ([{"at": 0, "group": "web", "do": "exit_standby"}], {}, r"events\[0\]: exit_standby needs index"),
        ([{"at": 0, "group": "web", "do": "enter_standby", "index": 1.0}], {}, r"events\[0\]\.index"),
        ([{"at": 0, "group": "web", "do": "exit_standby", "index": -1}], {}, r"events\[0\]\.index"),
        ([{"at": 0, "group": "web", "do": "enter_standby", "index": 1, "count": 1}], {}, r"unknown field 'count'"),
        ([], {"warm_pool": 3}, r"groups\[0\]\.warm_pool must be dict"),
        ([], {"warm_pool": {}}, r"groups\[0\]\.warm_pool\.size must be an integer"),
        ([], {"warm_pool": {"size": -1}}, r"groups\[0\]\.warm_pool\.size must be an integer of at least 0"),
        ([], {"warm_pool": {"size": True}}, r"groups\[0\]\.warm_pool\.size"),
        ([], {"warm_pool": {"size": 2, "state": "Warmed:Stopped"}}, r"warm_pool\.state: unknown pool state"),
        ([], {"warm_pool": {"size": 2, "min": 1}}, r"groups\[0\]\.warm_pool: unknown field 'min'"),
    ],
)
def test_a_bad_event_or_field_is_refused_by_name(events, group, named):
    # Given a malformed event or group field
    # When the scenario is parsed
    # Then it is refused, naming the field
    with pytest.raises(ScenarioError, match=named):
        scenario(events, **group)


@pytest.mark.parametrize(
    ("earlier", "event", "refused"),
    [
        ([], {"do": "terminate", "index": 3}, False),
        ([], {"do": "terminate", "index": 4}, True),
        ([], {"do": "scale_in", "count": 2, "indexes": [0, 4]}, True),
        ([{"at": 10, "do": "scale_out", "count": 2}], {"do": "unhealthy", "index": 5}, False),
        ([{"at": 10, "do": "scale_out", "count": 2}], {"do": "unhealthy", "index": 6}, True),
        ([{"at": 500, "do": "scale_out", "count": 2}], {"do": "terminate", "index": 5}, True),  # later
        ([{"at": 10, "do": "terminate", "index": 0}], {"do": "terminate", "index": 4}, False),  # its replacement
        ([{"at": 10, "do": "set_size", "desired": 6}], {"do": "terminate", "index": 11}, False),
        ([], {"do": "enter_standby", "index": 3}, False),
        ([], {"do": "enter_standby", "index": 4}, True),
        ([{"at": 10, "do": "enter_standby", "index": 1}], {"do": "exit_standby", "index": 4}, True),  # no launch
        ([{"at": 10, "do": "scale_out", "count": 1}], {"do": "exit_standby", "index": 4}, False),
    ],
)
def test_an_index_the_group_cannot_have_launched_by_then_is_refused_when_that_is_known(earlier, event, refused):
    # Given a group of 4 in one zone (so it never rebalances) and earlier events of that group
    events = [{"group": "web", **e} for e in earlier] + [{"at": 100, "group": "web", **event}]
    # When parsed
    # Then an index beyond what the group can have launched by then is refused
    if refused:
        with pytest.raises(ScenarioError, match=r"events\[\d\]: index \d+ of web cannot have been launched by then"):
            scenario(events, azs=1)
    else:
        scenario(events, azs=1)


@pytest.mark.parametrize("group", [{"azs": 2}, {"azs": 3, "suspended_processes": ["Launch"]}])
def test_an_index_beyond_the_first_instances_is_left_to_the_run_when_the_group_can_rebalance(group):
    # Given a group that may rebalance its zones (launching instances no event asked for)
    # When an event names an index beyond its first instances
    # Then the scenario is accepted: whether it exists is known only during the run
    assert scenario([{"at": 100, "group": "web", "do": "terminate", "index": 9}], **group).events[0].index == 9
