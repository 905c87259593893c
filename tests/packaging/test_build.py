"""sam build on this machine (no Docker, Python 3.11 only) and what it produces: each function is its app.py
alone, small; everything it imports is in the standard library, in what the Lambda runtime provides (boto3 and
its dependencies) or in the layer; every distribution in the layer has its dependencies there or in the
runtime. The layer is built for python3.13/arm64, whose binary wheels this Python cannot load, so imports are
resolved statically rather than executed. The state machine it deploys is the one statemachine/build.py writes."""

import ast
import email
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autopatch import VERSION
from statemachine import build as state_machine

pytestmark = pytest.mark.build

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# what the python3.13 Lambda runtime provides besides the standard library
RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "python_dateutil", "urllib3", "six"}
FUNCTION_LIMIT_BYTES = 50 * 1024
LAYER_LIMIT_BYTES = 50 * 1024 * 1024  # Lambda allows 250 MB unzipped for a function and its layers


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sam-build")
    subprocess.run(
        [str(BIN / "sam"), "build", "--build-dir", str(out), "--template-file", str(ROOT / "template.yaml")],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**__import__("os").environ, "SAM_CLI_TELEMETRY": "0"},
    )
    return out


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _imports(path: Path) -> set[str]:
    """Top-level modules imported by a file (absolute imports only)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _layer_modules(layer: Path) -> set[str]:
    return {p.name.removesuffix(".py") for p in layer.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}


def test_each_function_is_its_app_py_alone_and_small(build):
    functions = [p for p in build.iterdir() if p.is_dir() and p.name.endswith("Function")]
    assert len(functions) >= 20
    for function in functions:
        assert sorted(f.name for f in function.iterdir()) == ["app.py"], function.name
        assert _size(function) < FUNCTION_LIMIT_BYTES, function.name


def test_everything_imported_is_in_the_runtime_or_the_layer(build):
    layer = build / "SharedLayer" / "python"
    available = _layer_modules(layer) | RUNTIME | set(sys.stdlib_module_names)
    sources = [p / "app.py" for p in build.iterdir() if p.name.endswith("Function")]
    sources += list((layer / "autopatch").rglob("*.py"))
    missing = {f"{src.relative_to(build)}: {name}" for src in sources for name in _imports(src) - available}
    assert not missing, sorted(missing)


def test_every_layer_distribution_has_its_dependencies_and_boto3_is_not_vendored(build):
    layer = build / "SharedLayer" / "python"
    dists = {}
    for info in layer.glob("*.dist-info"):
        metadata = email.message_from_string((info / "METADATA").read_text())
        dists[_normal(metadata["Name"])] = metadata.get_all("Requires-Dist") or []
    assert {"aws-lambda-powertools", "aws-xray-sdk"} <= set(dists)
    assert not {"boto3", "botocore"} & set(dists), "the runtime provides boto3; the layer must not shadow it"
    runtime = {_normal(n) for n in RUNTIME} | {"python-dateutil"}
    unmet = []
    for name, requirements in dists.items():
        for requirement in requirements:
            if ";" in requirement and "extra ==" in requirement:
                continue  # optional extras
            needed = _normal(re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0])
            if needed not in dists and needed not in runtime:
                unmet.append(f"{name} needs {needed}")
    assert not unmet, unmet
    assert _size(layer) < LAYER_LIMIT_BYTES


def test_the_built_state_machine_is_the_one_the_builder_writes(build):
    template = yaml.safe_load((build / "template.yaml").read_text())
    [machine] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::StateMachine"]
    built = json.loads((build / machine["Properties"]["DefinitionUri"]).read_text())
    assert built == json.loads(state_machine.render()), "run `make statemachine`"


def test_the_built_template_still_finds_the_licence_and_the_readme_sam_package_uploads(build):
    # Given the template sam build writes elsewhere (sam package reads it, and uploads what its metadata names)
    template = yaml.safe_load((build / "template.yaml").read_text())
    application = template["Metadata"]["AWS::ServerlessRepo::Application"]
    # Then its LicenseUrl and ReadmeUrl, rewritten relative to it, are this repository's LICENSE and README.md
    for key, name in (("LicenseUrl", "LICENSE"), ("ReadmeUrl", "README.md")):
        assert (build / application[key]).resolve() == ROOT / name, key
    # and the version it would publish is the layer's
    assert application["SemanticVersion"] == VERSION


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
