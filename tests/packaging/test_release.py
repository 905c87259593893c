"""What a release shows a user: a licence, a changelog, and one version everywhere it is written. The version's source
is autopatch.VERSION (the summary and the alerts read it); template.yaml (its Description, its Serverless Application
Repository metadata, the EventBridge alert's footer), CHANGELOG.md's latest release and pyproject.toml repeat it,
because CloudFormation and the packaging tools read no Python. `test_the_checker_catches_each_drift` shows each
check failing on altered copies.

The metadata's fields and limits: https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-template-publishing-applications-metadata-properties.html
"""

import re
import tomllib
from pathlib import Path

import cfnlint.decode
import pytest

from autopatch import PRODUCT, VERSION

ROOT = Path(__file__).resolve().parents[2]
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
RELEASE = re.compile(r"^## \[(?P<version>[^\]]+)\] - (?P<date>\d{4}-\d{2}-\d{2})$")
CHANGE_KINDS = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")
# The Apache License 2.0's nine sections, in order, and its frame (the full standard text, not a mention of it)
LICENSE_MARKS = (
    "Apache License",
    "Version 2.0, January 2004",
    "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
    "1. Definitions.",
    "2. Grant of Copyright License.",
    "3. Grant of Patent License.",
    "4. Redistribution.",
    "5. Submission of Contributions.",
    "6. Trademarks.",
    "7. Disclaimer of Warranty.",
    "8. Limitation of Liability.",
    "9. Accepting Warranty or Additional Liability.",
    "END OF TERMS AND CONDITIONS",
    "APPENDIX: How to apply the Apache License to your work.",
)


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def sources() -> dict[str, str]:
    return {name: read(name) for name in ("template.yaml", "CHANGELOG.md", "pyproject.toml", "LICENSE")}


def release_problems(texts: dict[str, str], version: str = VERSION) -> list[str]:
    """Each way the release files disagree with the version or are malformed, one message each (none: all agree)."""
    problems = [] if SEMVER.match(version) else [f"autopatch.VERSION {version!r} is not a semantic version"]
    problems += _template_problems(texts["template.yaml"], version)
    problems += _changelog_problems(texts["CHANGELOG.md"], version)
    project = tomllib.loads(texts["pyproject.toml"])["project"]
    if project.get("version", version) != version:
        problems.append(f"pyproject.toml: version {project['version']} is not {version}")
    missing = [mark for mark in LICENSE_MARKS if mark not in texts["LICENSE"]]
    if missing or [texts["LICENSE"].find(mark) for mark in LICENSE_MARKS] != sorted(
        texts["LICENSE"].find(mark) for mark in LICENSE_MARKS
    ):
        problems.append(f"LICENSE: not the Apache License 2.0's full text (missing or out of order: {missing})")
    if project.get("license", {}).get("text") != "Apache-2.0":
        problems.append("pyproject.toml: license is not Apache-2.0")
    return problems


def _template_problems(text: str, version: str) -> list[str]:
    template, matches = cfnlint.decode.decode_str(text)
    if template is None:
        return [f"template.yaml: not a template ({matches})"]
    problems = []
    if not str(template.get("Description", "")).startswith(f"{PRODUCT} {version}:"):
        problems.append(f"template.yaml: Description does not start with '{PRODUCT} {version}:'")
    # every mention of the product's version (the Description, the EventBridge alert's footer) is this one
    for found in sorted(set(re.findall(rf"{PRODUCT} v?(\d+\.\d+\.\d+\S*?)[\s\":]", text)) - {version}):
        problems.append(f"template.yaml: names {PRODUCT} {found}, not {version}")
    sar = template.get("Metadata", {}).get("AWS::ServerlessRepo::Application")
    if not isinstance(sar, dict):
        return [*problems, "template.yaml: no Metadata AWS::ServerlessRepo::Application"]
    for key, limit, pattern in (
        ("Name", 140, r"^[a-zA-Z0-9\-]+$"),
        ("Description", 256, r"."),
        ("Author", 127, r"^[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?$"),
    ):
        value = sar.get(key)
        if not isinstance(value, str) or not 1 <= len(value) <= limit or not re.search(pattern, value):
            problems.append(f"template.yaml: the application's {key} {value!r} is missing, too long or malformed")
    expected = {"SpdxLicenseId": "Apache-2.0", "LicenseUrl": "LICENSE", "ReadmeUrl": "README.md"}
    problems += [
        f"template.yaml: the application's {key} is {sar.get(key)!r}, not {value!r}"
        for key, value in {**expected, "SemanticVersion": version}.items()
        if sar.get(key) != value
    ]
    if not str(sar.get("SourceCodeUrl", "")).startswith("https://"):
        problems.append("template.yaml: the application has no SourceCodeUrl")
    labels = sar.get("Labels", [])
    if len(labels) > 10 or not all(re.match(r"^[a-zA-Z0-9+\-_:/@]{1,127}$", label) for label in labels):
        problems.append(f"template.yaml: the application's Labels {labels} break the limits (10, the pattern)")
    return problems


def _changelog_problems(text: str, version: str) -> list[str]:
    lines = text.splitlines()
    headings = [line for line in lines if line.startswith("## ")]
    problems = [] if lines and lines[0] == "# Changelog" else ["CHANGELOG.md: does not start with '# Changelog'"]
    if not headings or headings[0] != "## [Unreleased]":
        problems.append("CHANGELOG.md: the first section is not '## [Unreleased]'")
    releases = [RELEASE.match(h) for h in headings[1:]]
    if not releases or not all(releases):
        return [*problems, f"CHANGELOG.md: a release heading is not '## [X.Y.Z] - YYYY-MM-DD': {headings[1:]}"]
    versions = [m["version"] for m in releases if m]
    if versions[0] != version:
        problems.append(f"CHANGELOG.md: the latest release is {versions[0]}, not {version}")
    dates = [m["date"] for m in releases if m]
    if dates != sorted(dates, reverse=True) or len(set(versions)) != len(versions):
        problems.append("CHANGELOG.md: releases are not newest first, each once")
    for name in ["Unreleased", *versions]:
        if not re.search(rf"^\[{re.escape(name)}\]: https://", text, re.MULTILINE):
            problems.append(f"CHANGELOG.md: no link for [{name}]")
    for number, heading in enumerate(headings[1:], 1):
        body = text.split(heading, 1)[1].split("\n## ", 1)[0]
        kinds = re.findall(r"^### (\w+)$", body, re.MULTILINE)
        if not kinds or set(kinds) - set(CHANGE_KINDS) or "\n- " not in body:
            problems.append(f"CHANGELOG.md: release {versions[number - 1]} lists no change under {CHANGE_KINDS}")
    return problems


def test_the_licence_the_changelog_and_every_version_agree():
    # Given the release files as they are in the repository
    # When they are checked against the layer's VERSION
    problems = release_problems(sources())
    # Then there is nothing to report: the licence is the full Apache-2.0 text, the changelog well formed, and the
    # template's Description, its application metadata, the changelog's latest release and pyproject all say VERSION
    assert problems == []
    assert (ROOT / "LICENSE").is_file() and (ROOT / "README.md").is_file()


def _bump(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("name", "old", "new", "complaint"),
    [
        ("template.yaml", f"{PRODUCT} {VERSION}:", f"{PRODUCT} 9.9.9:", "Description does not start"),
        ("template.yaml", f"SemanticVersion: {VERSION}", "SemanticVersion: 9.9.9", "SemanticVersion is '9.9.9'"),
        ("template.yaml", f'"Sent by {PRODUCT} {VERSION}"', f'"Sent by {PRODUCT} 0.9.0"', f"names {PRODUCT} 0.9.0"),
        ("template.yaml", "SpdxLicenseId: Apache-2.0", "SpdxLicenseId: MIT", "SpdxLicenseId is 'MIT'"),
        ("template.yaml", "LicenseUrl: LICENSE", "LicenseUrl: COPYING", "LicenseUrl is 'COPYING'"),
        ("template.yaml", "Author: asg-rolling-patch", "Author: Some Body", "Author 'Some Body'"),
        ("CHANGELOG.md", f"## [{VERSION}] -", "## [9.9.9] -", "latest release is 9.9.9"),
        ("CHANGELOG.md", "## [Unreleased]\n", "", "first section is not"),
        ("CHANGELOG.md", f"## [{VERSION}] - ", f"## [{VERSION}] on ", "is not '## [X.Y.Z] - YYYY-MM-DD'"),
        ("CHANGELOG.md", "### Added\n\n- Rolling", "### Things\n\n- Rolling", f"release {VERSION} lists no change"),
        ("CHANGELOG.md", f"[{VERSION}]: https://", f"[{VERSION}]: ftp://", f"no link for [{VERSION}]"),
        ("pyproject.toml", f'version = "{VERSION}"', 'version = "0.1.0"', "version 0.1.0 is not"),
        ("LICENSE", "7. Disclaimer of Warranty.", "", "not the Apache License 2.0's full text"),
    ],
)
def test_the_checker_catches_each_drift(name, old, new, complaint):
    # Given the release files with one of them altered
    texts = sources()
    texts[name] = _bump(texts[name], old, new)
    # When they are checked
    problems = release_problems(texts)
    # Then that difference is reported, naming that file only
    assert problems and all(p.startswith(f"{name}:") for p in problems), problems
    assert any(complaint in p for p in problems), problems


def test_a_version_that_is_not_semantic_is_reported_with_every_file_that_disagrees():
    # Given a VERSION that is not a semantic version
    # When the files, which say the real one, are checked against it
    problems = release_problems(sources(), version="1.0")
    # Then the version itself and each file are reported
    assert problems[0] == "autopatch.VERSION '1.0' is not a semantic version"
    assert {p.split(":", 1)[0] for p in problems[1:]} == {"template.yaml", "CHANGELOG.md", "pyproject.toml"}
