"""What the layer ships is what the tests run: every package pinned in layers/autopatch/requirements.txt is pinned
to the same version in requirements-dev.txt (names compared as PEP 503 normalises them: typing_extensions and
typing-extensions are one package). `test_checker_catches_drift` shows the check failing on altered copies."""

from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "autopatch" / "requirements.txt"
DEV = ROOT / "requirements-dev.txt"


def _pins(text: str, source: str) -> tuple[dict[str, str], list[str]]:
    """Normalised name -> exact version of each `name==version` line, and what is wrong with the other lines."""
    pins, problems = {}, []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            problems.append(f"{source}:{number}: cannot read {raw.strip()!r} ({error})")
            continue
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==" or "*" in specifiers[0].version:
            problems.append(f"{source}:{number}: {raw.strip()!r} is not pinned to one version (name==version)")
            continue
        pins[canonicalize_name(requirement.name)] = specifiers[0].version
    return pins, problems


def pin_drift(layer_text: str, dev_text: str) -> list[str]:
    """Each way the layer's pins differ from the development pins, one message each (none: they agree)."""
    layer, problems = _pins(layer_text, LAYER.relative_to(ROOT).as_posix())
    dev, dev_problems = _pins(dev_text, DEV.name)
    problems += dev_problems
    for name, version in sorted(layer.items()):
        if name not in dev:
            problems.append(
                f"{name}=={version} is in the layer but not pinned in {DEV.name}: the tests do not run the version "
                "the layer ships (add it to requirements-dev.in and run make lock)"
            )
        elif dev[name] != version:
            problems.append(
                f"{name}: the layer ships {version} but {DEV.name} pins {dev[name]}: the tests run another version "
                "than the one deployed (pin both to the same version)"
            )
    return problems


def test_layer_pins_are_the_development_pins():
    problems = pin_drift(LAYER.read_text(), DEV.read_text())
    assert not problems, "\n".join(problems)


def test_checker_catches_drift():
    layer, dev = LAYER.read_text(), DEV.read_text()
    assert "wrapt==" in layer and "wrapt==" in dev and "typing_extensions==" in layer

    # a different version in the development pins
    bumped = "\n".join("wrapt==0.0.1" if line.startswith("wrapt==") else line for line in dev.splitlines())
    assert pin_drift(layer, bumped) == [
        f"wrapt: the layer ships {_version(layer, 'wrapt')} but requirements-dev.txt pins 0.0.1: the tests run another "
        "version than the one deployed (pin both to the same version)"
    ]
    # a package the development pins do not have
    missing = pin_drift(layer, "\n".join(line for line in dev.splitlines() if not line.startswith("jmespath==")))
    assert len(missing) == 1 and missing[0].startswith("jmespath==")
    assert "not pinned in requirements-dev.txt" in missing[0]
    # a layer line that is not an exact pin
    loose = pin_drift(layer.replace("wrapt==", "wrapt>="), dev)
    assert len(loose) == 1 and "'wrapt>=" in loose[0] and "not pinned to one version" in loose[0]
    # spelling is not a difference (PEP 503): typing_extensions, Typing.Extensions and typing-extensions agree
    respelled = dev.replace("typing_extensions==", "Typing.Extensions==")
    assert pin_drift(layer.replace("typing_extensions==", "typing-extensions=="), respelled) == []


def _version(text: str, name: str) -> str:
    return next(line.split("==", 1)[1].strip() for line in text.splitlines() if line.startswith(f"{name}=="))
