"""lock_groups and release_locks: a run's hold on its groups.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import pytest

from autopatch.errors import GroupLocked
from tests.handlers.helpers import EXECUTION_ARN, RUN_ID, ledger_item, raises_twice, twice


def lock_event(*names, execution_arn=EXECUTION_ARN, run_id=RUN_ID):
    return {"RunId": run_id, "ExecutionArn": execution_arn, "GroupNames": list(names)}


def test_lock_groups_holds_free_groups_for_this_run(aws, ledger, load_handler, lambda_context):
    # Given no run holds "web" or "api"
    app = load_handler("lock_groups")
    # When this run locks them, twice
    first, second = twice(app, lock_event("web", "api"), lambda_context)
    # Then both calls hold both groups, and the ledger names this execution as holder
    assert first == second == {"Locked": ["web", "api"], "TakenOver": []}
    for name in ("web", "api"):
        item = ledger_item(aws, ledger, f"lock#{name}")
        assert item["Holder"]["S"] == EXECUTION_ARN
        assert item["RunId"]["S"] == RUN_ID
        assert "ExpiresAt" in item


def test_lock_groups_refuses_a_group_a_live_run_holds_and_holds_nothing(
    aws, ledger, executions, load_handler, lambda_context
):
    # Given a running execution "run-other" holding "web"
    other = executions.start("run-other")
    app = load_handler("lock_groups")
    app.lambda_handler(lock_event("web", execution_arn=other, run_id="run-other"), lambda_context)
    # When this run asks for "api" and "web", twice
    errors = raises_twice(app, lock_event("api", "web"), lambda_context, GroupLocked)
    # Then GroupLocked names the group and the run holding it
    assert str(errors[0]) == "Another run is patching web (held by run-other). Nothing was touched."
    # and "web" is still the other run's, and "api" was let go again
    assert ledger_item(aws, ledger, "lock#web")["Holder"]["S"] == other
    assert ledger_item(aws, ledger, "lock#api") is None


@pytest.mark.parametrize("holder_state", ["stopped", "unknown"])
def test_lock_groups_takes_over_a_group_held_by_a_run_that_no_longer_runs(
    aws, ledger, executions, load_handler, lambda_context, holder_state
):
    # Given "web" held by an execution that was stopped (or that Step Functions does not know)
    app = load_handler("lock_groups")
    if holder_state == "stopped":
        dead = executions.start("run-dead")
        executions.stop(dead)
    else:
        dead = EXECUTION_ARN.replace(RUN_ID, "run-gone")
    app.lambda_handler(lock_event("web", execution_arn=dead, run_id="run-dead"), lambda_context)
    # When this run locks "web", twice
    first, second = twice(app, lock_event("web"), lambda_context)
    # Then the first call takes it over and says so; the retry finds it already held by this run
    assert first == {"Locked": ["web"], "TakenOver": ["web"]}
    assert second == {"Locked": ["web"], "TakenOver": []}
    assert ledger_item(aws, ledger, "lock#web")["Holder"]["S"] == EXECUTION_ARN


def test_release_locks_lets_go_of_this_runs_groups_only(aws, ledger, executions, load_handler, lambda_context):
    # Given this run holds "web", and a running "run-other" holds "api"
    other = executions.start("run-other")
    lock = load_handler("lock_groups")
    lock.lambda_handler(lock_event("web"), lambda_context)
    lock.lambda_handler(lock_event("api", execution_arn=other, run_id="run-other"), lambda_context)
    app = load_handler("release_locks")
    # When this run releases both, twice
    results = twice(app, lock_event("web", "api"), lambda_context)
    # Then both calls succeed, "web" is free, and "api" still belongs to the other run
    assert results == [{"Released": ["web", "api"]}] * 2
    assert ledger_item(aws, ledger, "lock#web") is None
    assert ledger_item(aws, ledger, "lock#api")["Holder"]["S"] == other


def test_lock_groups_hands_the_groups_over_to_the_run_next_execution(
    aws, ledger, executions, load_handler, lambda_context
):
    # Given part 1 of this run, still running, holding "web"
    part1 = executions.start(RUN_ID)
    app = load_handler("lock_groups")
    app.lambda_handler(lock_event("web", execution_arn=part1), lambda_context)
    part2 = part1 + "-part2"
    event = {**lock_event("web", execution_arn=part2), "PreviousExecutionArn": part1}
    # When part 2 holds the groups again, twice
    first, second = twice(app, event, lambda_context)
    # Then part 2 takes "web" over from part 1, and holds it
    assert first == {"Locked": ["web"], "TakenOver": ["web"]}
    assert second == {"Locked": ["web"], "TakenOver": []}
    assert ledger_item(aws, ledger, "lock#web")["Holder"]["S"] == part2


def test_lock_groups_hands_over_only_within_the_same_run(aws, ledger, executions, load_handler, lambda_context):
    # Given another run, still running, holding "web"
    other = executions.start("run-other")
    app = load_handler("lock_groups")
    app.lambda_handler(lock_event("web", execution_arn=other, run_id="run-other"), lambda_context)
    # When this run's execution claims to follow it
    event = {**lock_event("web", execution_arn=EXECUTION_ARN + "-part2"), "PreviousExecutionArn": other}
    # Then it is refused: a hand-over needs the same run id
    with pytest.raises(GroupLocked, match=r"^Another run is patching web \(held by run-other\)"):
        app.lambda_handler(event, lambda_context)
    assert ledger_item(aws, ledger, "lock#web")["Holder"]["S"] == other
