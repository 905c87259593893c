"""Every log line of a function says which run, group and instance it is about."""

import functools


def run_context(logger):
    """Decorator (under @logger.inject_lambda_context(clear_state=True)): append run_id, group and
    instance_id from the event to every line this invocation logs."""

    def decorate(handler):
        @functools.wraps(handler)
        def wrapper(event, context):
            logger.append_keys(**_keys(event))
            return handler(event, context)

        return wrapper

    return decorate


# the keys of a step's event that name its run, group and instance (and of an EventBridge event, detail.instance-id)
LOGGED_KEYS = ("RunId", "ExecutionName", "GroupName", "InstanceId")


def _keys(event) -> dict:
    if not isinstance(event, dict):
        return {}
    detail = event["detail"] if isinstance(event.get("detail"), dict) else {}
    found = {
        "run_id": event.get("RunId") or event.get("ExecutionName"),
        "group": event.get("GroupName"),
        "instance_id": event.get("InstanceId") or detail.get("instance-id"),
    }
    return {key: value for key, value in found.items() if isinstance(value, str)}
