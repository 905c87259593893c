"""The moto symbols the simulator patches or relies on (simulator/moto_targets.py) are still there, as it uses them.

A moto upgrade that removes, renames or re-signs one fails here, naming the symbol and what the simulator does
with it, instead of somewhere inside a simulated run."""

import inspect

import pytest

from simulator import moto_targets

REGION = "us-east-1"


@pytest.mark.parametrize("target", moto_targets.ALL, ids=str)
def test_target_is_in_moto_as_the_simulator_uses_it(target):
    problem = target.problem()
    assert problem is None, f"moto changed: {problem}"


def _patches():
    """(target, replacement) for every patch the simulator installs."""
    from simulator import clock, engine

    return [*clock._PATCHES, *engine._PATCHES]


def test_every_patch_goes_through_the_list():
    patched = [target for target, _ in _patches()]
    assert sorted(map(str, patched)) == sorted(map(str, moto_targets.PATCHED))


@pytest.mark.parametrize("target", [t for t in moto_targets.PATCHED if t.params], ids=str)
def test_replacement_takes_what_moto_passes(target):
    replacement = next(value for patched, value in _patches() if patched == target)
    found = tuple(inspect.signature(replacement).parameters)
    assert found == target.params, f"the simulator's replacement for {target} takes {found}, moto's {target.params}"


@pytest.mark.parametrize("backend", moto_targets.BACKEND_ATTRIBUTES, ids=str)
def test_backend_objects_have_what_the_simulator_reads(aws, backend):
    backends = next(t for t in moto_targets.RELIED_ON if t.name == backend).get()
    instance = backends[moto_targets.ACCOUNT.get()][REGION]
    missing = [name for name in moto_targets.BACKEND_ATTRIBUTES[backend] if not hasattr(instance, name)]
    assert not missing, f"moto changed: {backend}[account][region] has no {missing}; the simulator reads them"
