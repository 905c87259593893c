"""record_results: the results of one execution kept in the report.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import json

import pytest

from tests.handlers.helpers import RUN_ID, mark_failed, record_event, result, twice


def test_record_results_keeps_the_execution_results_in_the_report(
    aws, ledger, report_bucket, load_handler, lambda_context
):
    # Given the Map's results of part 2 of a run: one list per group, the run going on
    results = [
        [result("i-00000001", "web", "Completed", "c-1"), result("i-00000002", "web", "Completed", "c-2")],
        [result("i-00000003", "api", "Completed", "c-3")],
    ]
    app = load_handler("record_results")
    # When they are recorded, twice
    outcomes = twice(app, record_event(2, results), lambda_context)
    # Then both count 3 and say the run goes on, and the report holds them once, flat, under the part's number
    assert outcomes == [{"Recorded": 3, "Stopped": False}] * 2
    listed = aws.client("s3").list_objects_v2(Bucket=report_bucket, Prefix=f"runs/{RUN_ID}/")["Contents"]
    assert [o["Key"] for o in listed] == [f"runs/{RUN_ID}/results-00002.json"]
    body = aws.client("s3").get_object(Bucket=report_bucket, Key=f"runs/{RUN_ID}/results-00002.json")["Body"]
    assert json.loads(body.read()) == results[0] + results[1]


@pytest.mark.parametrize("max_errors", [0, 1])
def test_record_results_says_when_the_run_has_stopped_on_its_failures(
    aws, fleet, ledger, report_bucket, load_handler, lambda_context, max_errors
):
    # Given a part in which one instance failed (marked Failed and counted in the ledger)
    mark_failed(load_handler, lambda_context, fleet.instance_ids[0])
    results = [[result(fleet.instance_ids[0], "web", "Failed", "c-1")]]
    app = load_handler("record_results")
    # When the part's results are recorded, with MaxErrors 0 or 1
    outcome = app.lambda_handler(record_event(1, results, max_errors), lambda_context)
    # Then the run has stopped only when its failures went past MaxErrors, so no next execution is started
    assert outcome == {"Recorded": 1, "Stopped": max_errors == 0}
