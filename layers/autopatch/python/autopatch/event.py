"""Reading a handler's event: each field checked at the edge, a bad one named in an InvalidInput."""

from .errors import InvalidInput

_TYPES = {str: "a string", int: "an integer", bool: "a boolean", list: "a list", dict: "an object"}


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


def instance_id(event) -> str:
    value = field(event, "InstanceId", str)
    if not (value.startswith("i-") and 10 <= len(value) <= 19 and _is_hex(value[2:])):
        raise InvalidInput("InstanceId must be an EC2 instance id such as i-0123456789abcdef0.")
    return value


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
