"""Shared code of the rolling-patch functions: AWS calls, input validation and result shaping.

Lambda finds this package under /opt/python (the layer); tests and the simulator put
layers/autopatch/python on sys.path.
"""

PATCH_TAG_KEY = "AutoPatchInstanceInASG"
RUN_TAG_KEY = "AutoPatchRunId"
PATCH_DOCUMENT = "AWS-RunPatchBaseline"
OPT_IN_TAG_KEY = "AutoPatch"
ALARM_TAG_KEY = "AutoPatchAlarmNames"
PAUSED = "paused"
