"""The ready inputs in events/ are what the README tells people to paste: each must be a valid input."""

import json
from pathlib import Path

import pytest

from autopatch.run_input import parse_run_input

EVENTS = sorted((Path(__file__).parents[2] / "events").glob("*.json"))


def test_there_are_ready_inputs():
    assert len(EVENTS) >= 4


@pytest.mark.parametrize("path", EVENTS, ids=lambda p: p.name)
def test_every_ready_input_is_valid(path):
    parse_run_input(json.loads(path.read_text()))
