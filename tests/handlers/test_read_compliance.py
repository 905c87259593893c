"""read_compliance: the patch counts Systems Manager reports after a scan or an install.
Against a moto account; conftest.py says how and holds the shared fixtures."""

import pytest

from autopatch.errors import InvalidInput, PatchesFailed
from tests.handlers.helpers import calls_to, mutating


def report(unimplemented, instance, installed=12, missing=0, failed=0, pending_reboot=0, operation="Install"):
    """What the instance's agent last reported to Patch Manager, set on the fake that answers
    DescribeInstancePatchStates (moto does not implement the call)."""
    sim = unimplemented.instance(instance)
    sim.patches = {"installed": installed, "missing": missing, "failed": failed, "pending_reboot": pending_reboot}
    sim.last_operation = operation


def read_compliance(app, context, api_calls, instance, operation, times=1):
    """Invoke read_compliance `times` times; each asks DescribeInstancePatchStates for that instance alone."""
    outcomes = []
    for _ in range(times):
        try:
            outcomes.append(app.lambda_handler({"InstanceId": instance, "Operation": operation}, context))
        except PatchesFailed as error:
            outcomes.append(error)
    assert calls_to(api_calls, "DescribeInstancePatchStates") == [{"InstanceIds": [instance]}] * times
    return outcomes


def test_read_compliance_reports_the_counts_after_an_install(
    fleet, unimplemented, load_handler, lambda_context, api_calls
):
    # Given an instance whose Install left 12 patches installed, one of them waiting for a reboot
    instance = fleet.instance_ids[0]
    report(unimplemented, instance, installed=12, pending_reboot=1)
    app = load_handler("read_compliance")
    # When its compliance is read, twice
    outcomes = read_compliance(app, lambda_context, api_calls, instance, "Install", times=2)
    # Then both give the counts and say it is compliant, and nothing was changed
    expected = {"installed": 12, "missing": 0, "failed": 0, "pending_reboot": 1, "operation": "Install"}
    assert outcomes == [{"Compliance": expected, "Compliant": True}] * 2
    assert mutating(api_calls) == []


def test_read_compliance_fails_an_install_that_left_failed_patches(
    fleet, unimplemented, load_handler, lambda_context, api_calls
):
    # Given an Install whose command succeeded but which reports 2 failed and 1 missing patch
    instance = fleet.instance_ids[0]
    report(unimplemented, instance, installed=9, missing=1, failed=2)
    app = load_handler("read_compliance")
    # When its compliance is read, twice
    outcomes = read_compliance(app, lambda_context, api_calls, instance, "Install", times=2)
    # Then both raise PatchesFailed, saying how many failed, were missing and were installed
    assert [type(o) for o in outcomes] == [PatchesFailed, PatchesFailed]
    assert str(outcomes[0]) == (
        f"AWS-RunPatchBaseline succeeded on {instance} but 2 patch(es) failed to install (1 missing, 9 installed)."
    )


def test_read_compliance_after_a_scan_only_reports(fleet, unimplemented, load_handler, lambda_context, api_calls):
    # Given a Scan that found 3 missing and 1 failed patch
    instance = fleet.instance_ids[0]
    report(unimplemented, instance, missing=3, failed=1, operation="Scan")
    app = load_handler("read_compliance")
    # When its compliance is read
    [outcome] = read_compliance(app, lambda_context, api_calls, instance, "Scan")
    # Then it is reported as not compliant, without failing: a scan changes nothing
    assert outcome["Compliant"] is False
    assert (outcome["Compliance"]["missing"], outcome["Compliance"]["failed"]) == (3, 1)


def test_read_compliance_without_a_report_is_not_compliant(
    fleet, unimplemented, load_handler, lambda_context, api_calls
):
    # Given an instance for which Patch Manager has no state yet
    instance = fleet.instance_ids[0]
    unimplemented.instance(instance).last_operation = None
    app = load_handler("read_compliance")
    # When its compliance is read after an Install
    [outcome] = read_compliance(app, lambda_context, api_calls, instance, "Install")
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
