"""Named errors. Step Functions sees each class name as the error name, so Retry/Catch match on them."""


class AutoPatchError(Exception):
    """Base class of every error this project raises on purpose."""


class InvalidInput(AutoPatchError):
    """The run's input is malformed; the message names the field."""


class InstanceNotInGroup(AutoPatchError):
    """The instance is not a member of the group the run was given."""


class InstanceGone(InstanceNotInGroup):
    """The instance left its group, is leaving it, or EC2 terminated it (a Spot interruption, a person), while the run
    had it out of service: not a failure of the patch; the run gives the group back the capacity its standby took."""


class InstanceNotInService(AutoPatchError):
    """The instance cannot be taken out of service from its current lifecycle state."""


class InstanceNotReady(AutoPatchError):
    """The instance is between lifecycle states; retry later."""


class StandbyTimedOut(AutoPatchError):
    """The instance did not reach Standby before its deadline."""


class DrainTimedOut(AutoPatchError):
    """A service task still ran on the instance's ECS container instance when DrainTimeoutSeconds ran out: the
    instance is not patched (a reboot would kill the task) and goes the failure path, set ACTIVE again once healthy."""


class EcsClusterNotAllowed(AutoPatchError):
    """The instance is a container instance of an ECS cluster the stack's EcsClusterNames does not list: it is not
    drained, and not taken out of service (its tasks would die at the reboot)."""


class ContainerInstanceNotUpdated(AutoPatchError):
    """ECS refused to set the instance's container instance DRAINING or ACTIVE (UpdateContainerInstancesState's
    failures say why)."""


# PatchCommandFailed (the command ended Failed, TimedOut or Cancelled) and PatchTimedOut (it ran past
# CommandTimeoutSeconds and was cancelled) are error names the state machine sets itself, in Pass states.


# HookFailed (a hook failed or timed out: the instance goes the failure path) is an error name the state machine sets
# itself, in a Pass state, whatever the hook's own error: a function's, or one of these two of a document's.


class HookCommandFailed(AutoPatchError):
    """A hook's SSM document ended other than Success on the instance, or Systems Manager refused to send it; the
    message has its status, exit code and output."""


class HookTimedOut(AutoPatchError):
    """A hook's SSM document did not end within its TimeoutSeconds; it was cancelled."""


class HealthCheckTimedOut(AutoPatchError):
    """The instance was not InService and healthy in every target group before its deadline."""


class AddedInstanceNotHealthy(AutoPatchError):
    """KeepCapacity: the instance added to the group was not InService and healthy in every load balancer before
    its deadline; the group is refused and the instance removed."""


class PreflightFailed(AutoPatchError):
    """A group is not in a state where an instance can safely be taken out; the message lists every problem."""


class GroupLocked(AutoPatchError):
    """Another run that is still running holds a group of this run."""


class ContinuationNameTaken(AutoPatchError):
    """The name of the run's next execution is taken by an execution with another input: not the run's own."""


class AwsThrottled(AutoPatchError):
    """AWS throttled a call; the state machine retries with back-off and jitter."""


class ResourceContention(AutoPatchError):
    """Auto Scaling has a pending update on the group; the state machine retries with back-off and jitter."""


class SlackPostFailed(AutoPatchError):
    """Posting to Slack failed (the message says the HTTP status, never the URL); SNS retries the delivery."""


class PatchesFailed(AutoPatchError):
    """The patch command succeeded, yet the instance reports patches that failed to install."""


class NotBakeable(AutoPatchError):
    """The group's launch source cannot be given a new image (launch configuration, per-type templates, ...)."""


class ImageFailed(AutoPatchError):
    """The image of the patched instance could not be created, or ended in a state other than available."""


class BakeTimedOut(AutoPatchError):
    """The image was not available before BakeTimeoutSeconds ran out."""


class CleanUpUnfinished(AutoPatchError):
    """The clean-up after a run could not finish yet (a patch command has not ended, an instance is still entering
    Standby): Lambda runs it again."""
