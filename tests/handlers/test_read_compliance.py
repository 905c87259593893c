"""read_compliance: the patch counts Systems Manager reports after a scan or an install.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import pytest
from botocore.stub import Stubber

import autopatch.clients
from autopatch.errors import InvalidInput, PatchesFailed
from tests.handlers.helpers import mutating


def patch_state(instance, installed=12, missing=0, failed=0, pending_reboot=0, operation="Install"):
    """One DescribeInstancePatchStates entry (moto does not implement the call: the Stubber answers it)."""
    return {
        "InstanceId": instance,
        "PatchGroup": "web",
        "BaselineId": "pb-0123456789abcdef0",
        "OperationStartTime": "2026-11-25T12:00:00Z",
        "OperationEndTime": "2026-11-25T12:10:00Z",
        "Operation": operation,
        "InstalledCount": installed,
        "MissingCount": missing,
        "FailedCount": failed,
        "InstalledPendingRebootCount": pending_reboot,
    }


def read_compliance(app, context, instance, operation, *states):
    """Invoke read_compliance once per state given, each answered by DescribeInstancePatchStates."""
    outcomes = []
    with Stubber(autopatch.clients.client("ssm")) as stub:
        for state in states:
            stub.add_response(
                "describe_instance_patch_states",
                {"InstancePatchStates": [] if state is None else [state]},
                {"InstanceIds": [instance]},
            )
            try:
                outcomes.append(app.lambda_handler({"InstanceId": instance, "Operation": operation}, context))
            except PatchesFailed as error:
                outcomes.append(error)
        stub.assert_no_pending_responses()
    return outcomes


def test_read_compliance_reports_the_counts_after_an_install(aws, load_handler, lambda_context, api_calls):
    # Given an instance whose Install left 12 patches installed, one of them waiting for a reboot
    instance = "i-0123456789abcdef0"
    state = patch_state(instance, installed=12, pending_reboot=1)
    app = load_handler("read_compliance")
    # When its compliance is read, twice
    outcomes = read_compliance(app, lambda_context, instance, "Install", state, state)
    # Then both give the counts and say it is compliant, and nothing was changed
    expected = {"installed": 12, "missing": 0, "failed": 0, "pending_reboot": 1, "operation": "Install"}
    assert outcomes == [{"Compliance": expected, "Compliant": True}] * 2
    assert mutating(api_calls) == []


def test_read_compliance_fails_an_install_that_left_failed_patches(aws, load_handler, lambda_context):
    # Given an Install whose command succeeded but which reports 2 failed and 1 missing patch
    instance = "i-0123456789abcdef0"
    state = patch_state(instance, installed=9, missing=1, failed=2)
    app = load_handler("read_compliance")
    # When its compliance is read, twice
    outcomes = read_compliance(app, lambda_context, instance, "Install", state, state)
    # Then both raise PatchesFailed, saying how many failed, were missing and were installed
    assert [type(o) for o in outcomes] == [PatchesFailed, PatchesFailed]
    assert str(outcomes[0]) == (
        f"AWS-RunPatchBaseline succeeded on {instance} but 2 patch(es) failed to install (1 missing, 9 installed)."
    )


def test_read_compliance_after_a_scan_only_reports(aws, load_handler, lambda_context):
    # Given a Scan that found 3 missing and 1 failed patch
    instance = "i-0123456789abcdef0"
    app = load_handler("read_compliance")
    # When its compliance is read
    [outcome] = read_compliance(
        app, lambda_context, instance, "Scan", patch_state(instance, missing=3, failed=1, operation="Scan")
    )
    # Then it is reported as not compliant, without failing: a scan changes nothing
    assert outcome["Compliant"] is False
    assert (outcome["Compliance"]["missing"], outcome["Compliance"]["failed"]) == (3, 1)


def test_read_compliance_without_a_report_is_not_compliant(aws, load_handler, lambda_context):
    # Given an instance for which Patch Manager has no state yet
    instance = "i-0123456789abcdef0"
    app = load_handler("read_compliance")
    # When its compliance is read after an Install
    [outcome] = read_compliance(app, lambda_context, instance, "Install", None)
    # Then there are no counts, it does not count as compliant, and the Install is not failed for it
    assert outcome == {"Compliance": None, "Compliant": False}


def test_read_compliance_rejects_an_unknown_operation(aws, load_handler, lambda_context, api_calls):
    # Given an event whose Operation is neither Install nor Scan
    app = load_handler("read_compliance")
    # When compliance is to be read
    # Then InvalidInput, before any call
    with pytest.raises(InvalidInput, match=r"^Operation must be Install or Scan\.$"):
        app.lambda_handler({"InstanceId": "i-0123456789abcdef0", "Operation": "Patch"}, lambda_context)
    assert api_calls == []
