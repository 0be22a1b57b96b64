"""Mismatches: a checkpoint restored into another model or optimizer, a workdir without
checkpoints. Clear errors before anything is loaded, never a silent partial load.

Elsewhere: unknown elements for a trained potential (test_fault_bad_input.py,
tests/test_evaluate.py::test_unknown_element_names_element_and_structures) and dataset files
with inconsistent array lengths (tests/data/test_dataset.py::test_inconsistent_lengths_are_named,
test_fault_bad_input.py::test_dataset_with_a_truncated_per_atom_array_is_refused_whole).
"""

import jax
import jax.numpy as jnp
import optax
import pytest
from faultkit import leaves_equal

from orbjax.training.checkpoint import Checkpointer, CheckpointMismatchError
from orbjax.training.state import TrainState

PARAMS = {"embed": {"kernel": jnp.arange(32.0).reshape(4, 8)}, "readout": {"bias": jnp.ones(3)}}


def _state(params, tx=None, step=0):
    state = TrainState.create(params, tx or optax.adam(1e-3), jax.random.PRNGKey(0))
    return state.replace(step=jnp.asarray(step, jnp.int32))


@pytest.fixture
def workdir(tmp_path):
    ckpt = Checkpointer(str(tmp_path))
    ckpt.save(_state(PARAMS, step=7), {"epoch": 0, "batch_in_epoch": 7})
    ckpt.close()
    return str(tmp_path)


def test_matching_state_restores_exactly(workdir):
    state, meta = Checkpointer(workdir).restore(_state(jax.tree.map(jnp.zeros_like, PARAMS)))
    assert (
        int(state.step) == 7 and meta["batch_in_epoch"] == 7 and leaves_equal(state.params, PARAMS)
    )


@pytest.mark.parametrize(
    "params, named",
    [
        (
            {"embed": {"kernel": jnp.zeros((4, 16))}, "readout": {"bias": jnp.ones(3)}},
            r"1 parameter shapes differ.*\['embed'\]\['kernel'\]: checkpoint \[4, 8\] vs "
            r"model \[4, 16\]",
        ),
        (
            {**PARAMS, "layer_1": {"kernel": jnp.zeros((8, 8))}},  # one layer more
            r"\['layer_1'\]\['kernel'\]: checkpoint absent vs model \[8, 8\]",
        ),
        (
            {"embed": PARAMS["embed"]},  # the readout is gone
            r"\['readout'\]\['bias'\]: checkpoint \[3\] vs model absent",
        ),
    ],
    ids=["wider", "deeper", "fewer-heads"],
)
def test_differently_shaped_model_is_refused_before_loading(workdir, params, named):
    with pytest.raises(CheckpointMismatchError, match=named):
        Checkpointer(workdir).restore(_state(params))


def test_changed_optimizer_is_refused_before_loading(workdir):
    # what training/factories.py builds
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))
    with pytest.raises(CheckpointMismatchError, match=r"checkpoint 7 .*optimizer"):
        Checkpointer(workdir).restore(_state(PARAMS, tx))


def test_workdir_without_checkpoints_is_named(tmp_path):
    from orbjax.potential import load_potential
    from orbjax.training.checkpoint import read_meta

    with pytest.raises(FileNotFoundError, match="no checkpoints/ directory"):
        load_potential(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no checkpoint in"):
        read_meta(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no best checkpoint"):
        Checkpointer(str(tmp_path)).restore(_state(PARAMS), which="best")
