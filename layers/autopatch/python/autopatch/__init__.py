"""Shared code of the rolling-patch functions: AWS calls, input validation and result shaping.

Lambda finds this package under /opt/python (the layer); tests and the simulator put
layers/autopatch/python on sys.path.
"""

# The product's one version (Semantic Versioning): every run's summary and every alert carry it. template.yaml's
# Description and its Serverless Application Repository metadata, CHANGELOG.md's latest release and
# pyproject.toml repeat it, because CloudFormation and the packaging tools read no Python: a test
# (tests/packaging/test_release.py) fails when any of them differs from this one.
PRODUCT = "asg-rolling-patch"
VERSION = "1.0.0"
# The last line of every alert: which version sent it (an operator comparing two alerts across a deploy can tell
# whether the change was in effect).
FOOTER = f"Sent by {PRODUCT} {VERSION}"

PATCH_TAG_KEY = "AutoPatchInstanceInASG"
RUN_TAG_KEY = "AutoPatchRunId"
PATCHED_TAG_KEY = "AutoPatchPatched"  # "<time, ISO 8601 UTC> <run id>" of the run that last patched the instance
PATCH_DOCUMENT = "AWS-RunPatchBaseline"
OPT_IN_TAG_KEY = "AutoPatch"
ALARM_TAG_KEY = "AutoPatchAlarmNames"
PAUSED = "paused"
# At most this many newcomer passes after the plan (autopatch.newcomers). Each is bounded by the instances that
# joined during the pass before it, but a group that keeps growing (a scaling policy chasing load, replacements
# that keep failing) could otherwise hold the run, and every group's hold, for ever. What joins after the last
# pass is reported with why.
NEWCOMER_PASSES = 3
