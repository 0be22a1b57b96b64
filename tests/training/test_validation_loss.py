"""Model selection: the validation loss counts the reference targets a run trains, and a run
that trains none (pretraining on populations alone) is selected on what it does train."""

import pytest

from orbjax.training.validation import validation_loss

METRICS = {  # the training log's units: meV/atom, meV/Å, me
    "energy_rmse": 20.0,
    "forces_rmse": 100.0,
    "orbital_populations_rmse": 30.0,
}


def test_reference_targets_select_and_auxiliary_ones_do_not_count():
    weights = {"energy": 1.0, "forces": 10.0, "orbital_populations": 100.0}
    expected = 1.0 * 0.020**2 + 10.0 * 0.100**2
    assert validation_loss(METRICS, weights) == pytest.approx(expected)
    better_orbitals = {**METRICS, "orbital_populations_rmse": 1.0}
    assert validation_loss(better_orbitals, weights) == pytest.approx(expected)


def test_a_run_without_reference_targets_is_selected_on_its_auxiliary_target():
    weights = {"energy": 0.0, "forces": 0.0, "orbital_populations": 100.0}
    loss = validation_loss(METRICS, weights)
    assert loss == pytest.approx(100.0 * 0.030**2)
    assert validation_loss({**METRICS, "orbital_populations_rmse": 10.0}, weights) < loss


def test_forces_alone_select_when_energy_is_not_trained():
    """Denoising and forces-only runs: the trained reference target (forces) selects; the
    populations beside it still do not count."""
    weights = {"energy": 0.0, "forces": 10.0, "orbital_populations": 100.0}
    assert validation_loss(METRICS, weights) == pytest.approx(10.0 * 0.100**2)
