"""Reading a handler's event: each field checked at the edge, a bad one named in an InvalidInput."""

from .errors import InvalidInput

GROUP_NAME_MAX = 255  # AutoScalingGroupName length limit

_TYPES = {str: "a string", int: "an integer", bool: "a boolean", list: "a list", dict: "an object"}


def shown(value, most: int = 60) -> str:
    """A short rendering of a bad value for an error message: never echo a large hostile input in full."""
    text = repr(value)
    return text if len(text) <= most else text[: most - 3] + "..."


def field(event, name: str, kind: type, default=...):
    if not isinstance(event, dict):
        raise InvalidInput("The event must be a JSON object.")
    if name not in event or (event[name] is None and default is not ...):
        if default is ...:
            raise InvalidInput(f"{name} is required.")
        return default
    value = event[name]
    wrong_bool = kind is not bool and isinstance(value, bool)
    if not isinstance(value, kind) or wrong_bool or (kind is str and not value and default is ...):
        raise InvalidInput(f"{name} must be {_TYPES.get(kind, kind.__name__)}.")
    return value


def instance_id(event, name: str = "InstanceId", default=...) -> str:
    if default is not ... and isinstance(event, dict) and event.get(name) is None:
        return default
    value = field(event, name, str)
    if not (value.startswith("i-") and 10 <= len(value) <= 19 and _is_hex(value[2:])):
        raise InvalidInput(f"{name} must be an EC2 instance id such as i-0123456789abcdef0.")
    return value


def image_id(event, name: str = "ImageId", default=...) -> str:
    if default is not ... and isinstance(event, dict) and event.get(name) is None:
        return default
    value = field(event, name, str)
    if not (value.startswith("ami-") and len(value) in (12, 21) and _is_hex(value[4:])):
        raise InvalidInput(f"{name} must be an image id such as ami-0123456789abcdef0.")
    return value


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def group_name(event, name: str = "GroupName", default=...) -> str:
    value = field(event, name, str, default)
    if value is not None and len(value) > GROUP_NAME_MAX:
        raise InvalidInput(f"{name} must be a group name of at most {GROUP_NAME_MAX} characters.")
    return value


def group_names(event, name: str = "GroupNames") -> list[str]:
    values = names(event, name, GROUP_NAME_MAX)
    if not values:
        raise InvalidInput(f"{name} must be a non-empty list of names.")
    return values


def names(event, name: str, longest: int, default=...) -> list[str]:
    """A list of names (strings of 1 to `longest` characters)."""
    values = field(event, name, list, default)
    if not all(isinstance(v, str) and 1 <= len(v) <= longest for v in values):
        raise InvalidInput(f"{name} must be a list of names of 1 to {longest} characters.")
    return values


def arn(event, name: str, service: str, default=...) -> str:
    """An ARN of the given service, such as arn:aws:states:us-east-1:123456789012:execution:machine:name."""
    if default is not ... and isinstance(event, dict) and event.get(name) is None:
        return default
    value = field(event, name, str)
    parts = value.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != service:
        raise InvalidInput(f"{name} must be an {service} ARN.")
    return value


def objects(event, name: str, required: tuple[str, ...], default=...) -> list[dict]:
    """A list of objects, each with the required string fields."""
    values = field(event, name, list, default)
    for value in values:
        if not isinstance(value, dict) or not all(isinstance(value.get(key), str) for key in required):
            raise InvalidInput(f"{name} must be a list of objects with {', '.join(required)}.")
    return values
